"""End-to-end speed: dub real recordings of several lengths and time every stage.

    python benchmarks/pipeline.py                      # 10 s, 60 s and 5 min, on CPU (+ CUDA)
    python benchmarks/pipeline.py --lengths 10 60      # shorter run
    python benchmarks/pipeline.py --variants           # also compare settings on the 60 s input

Inputs are built by concatenating the real recordings in ../shared/data/speech (two speakers
in conversation, JFK) to each length. Prints, per device and length, each stage's wall time,
model load time, time inside model calls, and peak RSS; the real-time factor; and the share
of time spent outside model inference and loading (decode, resample, fit, mix, encode, I/O).
Writes the same as JSON and a plot of time per stage against input length.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT.parent / "shared" / "data" / "speech"
PIECES = ("two_speakers_en.wav", "jfk_en.flac")
VARIANTS = {
    "default": {},
    "whisper beam 1": {"backend_options": {("transcriber", "faster-whisper"): {"beam_size": 1}}},
    "translator batch 16": {"backend_options": {("translator", "qwen-ct2"): {"batch_size": 16}}},
    "stretch only (no TTS speed)": {"align": {"tts_max_speed": 1.0}},
}


def build_input(seconds: float, folder: Path) -> Path:
    """Real speech, concatenated with half-second pauses, cut to ``seconds``."""
    from dubengine.media import Audio, decode_audio, probe, write_output

    path = folder / f"speech_{round(seconds)}s.wav"
    if path.exists():
        return path
    pieces = [decode_audio(SPEECH / name, 16_000).samples[0] for name in PIECES]
    pause = np.zeros(8_000, dtype=np.float32)
    parts, total, i = [], 0, 0
    while total < seconds * 16_000:
        parts += [pieces[i % len(pieces)], pause]
        total += len(pieces[i % len(pieces)]) + len(pause)
        i += 1
    audio = Audio(np.concatenate(parts)[None, :], 16_000).with_duration(seconds)
    folder.mkdir(parents=True, exist_ok=True)
    return write_output(audio, probe(SPEECH / "two_speakers_en.wav"), path)


def run_one(path: Path, device: str, target: str, overrides: dict) -> dict:
    from dubengine import PipelineConfig, dub
    from dubengine._measure import measured
    from dubengine._types import timing_summary
    from dubengine.pipeline.align import AlignOptions

    config = PipelineConfig(device=device)
    if "backend_options" in overrides:
        config = replace(config, backend_options=overrides["backend_options"])
    if "align" in overrides:
        config = replace(config, align=AlignOptions(**overrides["align"]))
    out = path.with_name(f"{path.stem}.{device}.{target}.wav")
    _reset_gpu_peak(device)
    with measured() as m:
        result = dub(path, target, out=out, config=config)
    stages = [asdict(s) for s in result.stages]
    total = sum(s["seconds"] for s in stages)
    load = sum(s["load_seconds"] for s in stages)
    inference = sum(s["inference_seconds"] for s in stages)
    return {
        "input": path.name,
        "input_sec": result.input_duration,
        "device": device,
        "lines": len(result.fits),
        "wall_sec": round(m.seconds, 2),
        "stages_sec": round(total, 2),
        "rtf": round(total / result.input_duration, 3),
        "rtf_without_loading": round((total - load) / result.input_duration, 3),
        "load_sec": round(load, 2),
        "inference_sec": round(inference, 2),
        "outside_sec": round(total - load - inference, 2),
        "outside_share": round((total - load - inference) / max(total - load, 1e-9), 4),
        "peak_rss_mb": max(s["peak_rss_mb"] for s in stages),
        "gpu_peak_mb": _gpu_peak(device),
        "max_speed": max((f.speed for f in result.fits), default=1.0),
        # how the lines were fitted: a faster variant must not buy its time with worse timing
        "fit_methods": dict(Counter(f.method for f in result.fits)),
        "overflow_sec": round(sum(f.overflow for f in result.fits), 2),
        # the timing report: speech overlap of dubbed and source lines, lines overflowing
        **{
            k: v for k, v in timing_summary(result.fits).items() if k in ("mean_iou", "overflowing")
        },
        "stages": stages,
    }


def _reset_gpu_peak(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats()


def _gpu_peak(device: str) -> float | None:
    """Peak GPU memory from NVML, which sees every library's allocations (torch's counter
    sees only torch's)."""
    if not device.startswith("cuda"):
        return None
    try:
        import subprocess

        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            check=True,
        )
        return float(out.stdout.split()[0])
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
        return None


def print_row(row: dict) -> None:
    print(
        f"\n{row['device']} {row['input']} ({row['input_sec']:.0f} s, {row['lines']} lines): "
        f"{row['stages_sec']:.1f} s, RTF {row['rtf']:.2f} ({row['rtf_without_loading']:.2f} "
        f"without model loading), outside inference {100 * row['outside_share']:.1f}%, "
        f"peak RSS {row['peak_rss_mb']:.0f} MB"
        + (f", GPU {row['gpu_peak_mb']:.0f} MB" if row["gpu_peak_mb"] else "")
    )
    methods = ", ".join(f"{n} {m}" for m, n in sorted(row["fit_methods"].items()))
    print(
        f"  lines fitted: {methods}; overflow {row['overflow_sec']:.2f} s in all; "
        f"{row['overflowing']} of {row['lines']} lines over by > 50 ms; "
        f"mean IoU {row['mean_iou']:.3f}"
    )
    print(f"  {'stage':16} {'wall s':>8} {'load s':>8} {'infer s':>8} {'RTF':>7} {'peak MB':>8}")
    for s in row["stages"]:
        print(
            f"  {s['name']:16} {s['seconds']:8.2f} {s['load_seconds']:8.2f} "
            f"{s['inference_seconds']:8.2f} {s['seconds'] / row['input_sec']:7.3f} "
            f"{s['peak_rss_mb']:8.0f}"
        )


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    for device in sorted({r["device"] for r in rows}):
        mine = sorted(
            (r for r in rows if r["device"] == device and r["variant"] == "default"),
            key=lambda r: r["input_sec"],
        )
        lengths = [r["input_sec"] for r in mine]
        for name in [s["name"] for s in mine[0]["stages"]] if mine else []:
            seconds = [next(s["seconds"] for s in r["stages"] if s["name"] == name) for r in mine]
            ax.plot(lengths, seconds, marker="o", label=f"{device}: {name}")
        ax.plot(
            lengths, [r["stages_sec"] for r in mine], "k--", marker="s", label=f"{device}: total"
        )
    ax.plot(
        [0, max(r["input_sec"] for r in rows)],
        [0, max(r["input_sec"] for r in rows)],
        ":",
        color="grey",
        label="real time",
    )
    ax.set_xlabel("input length (s)")
    ax.set_ylabel("wall time (s)")
    ax.set_title("dubengine: time per stage against input length")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=float, nargs="+", default=[10, 60, 300])
    parser.add_argument("--devices", nargs="+", default=None, help="default: cpu, and cuda if seen")
    parser.add_argument("--target", default="es")
    parser.add_argument("--variants", action="store_true", help="compare settings on 60 s")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    devices = args.devices or ["cpu", *(["cuda"] if _cuda() else [])]
    inputs = {length: build_input(length, args.out_dir / "inputs") for length in args.lengths}
    rows = []
    for device in devices:
        for path in inputs.values():
            row = run_one(path, device, args.target, {}) | {"variant": "default"}
            rows.append(row)
            print_row(row)
        if args.variants:
            path = build_input(60, args.out_dir / "inputs")
            for name, overrides in list(VARIANTS.items())[1:]:
                row = run_one(path, device, args.target, overrides) | {"variant": name}
                rows.append(row)
                print(f"\nvariant {name!r}:", end="")
                print_row(row)
    print("\nhow total time grows with length (default settings):")
    for device in devices:
        for r in (r for r in rows if r["device"] == device and r["variant"] == "default"):
            print(
                f"  {device:5} {r['input_sec']:6.0f} s -> {r['stages_sec']:7.1f} s "
                f"({r['stages_sec'] / r['input_sec']:.2f} s per input second)"
            )
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.out_dir / f"pipeline-{stamp}.json").write_text(json.dumps(rows, indent=1))
    plot(rows, args.out_dir / f"pipeline-{stamp}.png")
    print(f"\nwrote {args.out_dir}/pipeline-{stamp}.json and .png", file=sys.stderr)


def _cuda() -> bool:
    try:
        import ctranslate2

        return ctranslate2.get_cuda_device_count() > 0
    except ImportError:
        return False


if __name__ == "__main__":
    main()
