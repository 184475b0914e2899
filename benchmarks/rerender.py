"""What fixing one line costs: the 60 s benchmark input dubbed as a job, then one line's
translation edited and rendered, against the full dub's time.

    python benchmarks/rerender.py                 # 60 s input, es, on CPU
    python benchmarks/rerender.py --length 300

Prints the full job's wall time and per-stage times, then per render variant (a new
translation with the synthesizer still to load, the same warm, a moved line whose clips are
cached, a voice changed for a whole speaker) its wall time, share of the full dub, lines spoken
again, synthesizer calls, seconds of output mixed again and peak RSS. Writes the same as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from pipeline import build_input  # noqa: E402

TRANSLATIONS = (
    "Esta es una frase corregida a mano por una persona.",
    "Y esta es otra, un poco más corta.",
)


def timed_render(engine: Any, job_id: str, name: str, full_sec: float) -> dict:
    from dubengine._measure import measured

    with measured() as m:
        status = engine.render(job_id, wait=True)
    assert status["state"] == "done", status
    done = engine.get_report(job_id)["render"]
    return {
        "variant": name,
        "wall_sec": round(m.seconds, 2),
        "share_of_full_dub": round(m.seconds / full_sec, 4),
        "spoken": len(done["spoken"]),
        "synthesized": done["synthesized"],
        "remixed_sec": round(sum(b - a for a, b in done["changed"]), 2),
        "peak_rss_mb": m.peak_rss_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=float, default=60)
    parser.add_argument("--target", default="es")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    from dubengine import Engine, PipelineConfig
    from dubengine._measure import measured

    path = build_input(args.length, args.out_dir / "inputs")
    with (
        tempfile.TemporaryDirectory() as data,
        Engine(data, workers=1, config=PipelineConfig(device="cpu")) as engine,
    ):
        with measured() as m:
            job = engine.create_job(str(path), args.target)
            assert engine.wait(job.job_id, timeout=3600).status.value == "completed"
        stages = engine.get_report(job.job_id)["stages"]
        full = {
            "wall_sec": round(m.seconds, 2),
            "peak_rss_mb": m.peak_rss_mb,
            "stages": {s["stage"]: s["seconds"] for s in stages},
        }
        lines = engine.segments(job.job_id)["segments"]
        print(
            f"full dub of {args.length:.0f} s ({len(lines)} lines): {full['wall_sec']} s, "
            f"peak RSS {full['peak_rss_mb']:.0f} MB; stages {full['stages']}"
        )
        middle = len(lines) // 2
        rows = []
        engine.edit_segment(job.job_id, middle, translation=TRANSLATIONS[0])
        rows.append(timed_render(engine, job.job_id, "one translation (cold)", full["wall_sec"]))
        engine.edit_segment(job.job_id, middle + 1, translation=TRANSLATIONS[1])
        rows.append(timed_render(engine, job.job_id, "one translation (warm)", full["wall_sec"]))
        line = engine.segments(job.job_id)["segments"][middle]
        engine.edit_segment(job.job_id, middle, end=round(line["end"] - 0.3, 3))
        rows.append(timed_render(engine, job.job_id, "one line's end moved", full["wall_sec"]))
        speaker = line["speaker"]
        voice = next(
            v
            for v in engine.segments(job.job_id)["voices_available"]
            if v != engine.segments(job.job_id)["speakers"][speaker]["voice"]
        )
        engine.set_voice(job.job_id, speaker, voice)
        rows.append(timed_render(engine, job.job_id, f"{speaker} -> {voice}", full["wall_sec"]))
    for row in rows:
        print(
            f"  {row['variant']:<26} {row['wall_sec']:6.2f} s = {row['share_of_full_dub']:6.1%}"
            f" of the full dub; {row['spoken']} lines spoken, {row['synthesized']} "
            f"synthesized, {row['remixed_sec']:.2f} s re-mixed, "
            f"peak RSS {row['peak_rss_mb']:.0f} MB"
        )
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"rerender-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"length": args.length, "full": full, "renders": rows}, indent=1))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
