"""Load time, speed and peak memory of each speech backend, each in its own process.

    python benchmarks/speech_backends.py [--device cpu|cuda] [--out FILE]

Transcriber: real-time factor on the real recordings. Translator: ms per line over a batch of
real lines into Spanish. Synthesizers: real-time factor over the sample sentences. Peak memory
is the process's maximum resident set (each backend runs in a fresh process, so it is that
backend's own), plus GPU memory when on CUDA.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT.parent / "shared" / "data" / "speech"
CASES = ["transcriber:faster-whisper", "translator:qwen-ct2", "synthesizer:kokoro",
         "synthesizer:espeak-ng"]  # fmt: skip
LINES = [
    "And so, my fellow Americans, ask not what your country can do for you.",
    "Ask what you can do for your country.",
    "I didn't know you were there.",
    "I'm originally from Chicago also.",
    "Well, there is not much difference.",
    "At least, you know, they all call me a Yankee down here.",
    "I'm in New Jersey now, though.",
    "This is Diane in New Jersey.",
]


def measure(case: str, device: str) -> dict[str, object]:
    from dubengine._registry import create_backend

    stage, name = case.split(":")
    started = time.perf_counter()
    backend = create_backend(stage, name, device=device)
    load = time.perf_counter() - started
    row: dict[str, object] = {"backend": case, "device": device, "load_s": round(load, 2)}
    started = time.perf_counter()
    if stage == "transcriber":
        from dubengine.media import decode_audio

        audio_seconds = 0.0
        for name in ("jfk_en.flac", "two_speakers_en.wav"):
            audio = decode_audio(SPEECH / name, 16_000)
            backend.transcribe(audio)
            audio_seconds += audio.duration
        row["rtf"] = round((time.perf_counter() - started) / audio_seconds, 3)
    elif stage == "translator":
        backend.translate_texts(LINES, "en", "es")
        row["ms_per_line"] = round(1000 * (time.perf_counter() - started) / len(LINES))
    else:
        from dubengine.samples import SENTENCES

        spoken = 0.0
        for language, texts in SENTENCES.items():
            spoken += backend.synthesize(texts[0], language).duration
        row["rtf"] = round((time.perf_counter() - started) / spoken, 3)
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if device.startswith("cuda"):
        row["gpu_peak_mb"] = _gpu_peak_mb()
    return row


def _gpu_peak_mb() -> int | None:
    try:
        import torch

        return round(torch.cuda.max_memory_allocated() / 2**20)
    except Exception:  # torch sees only its own allocations; others report through nvidia-smi
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/speech.json")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.device)))
        return
    rows = []
    for case in CASES:
        result = subprocess.run(
            [sys.executable, __file__, "--one", case, "--device", args.device],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
        print(_format(rows[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))


def _format(row: dict[str, object]) -> str:
    speed = f"RTF {row['rtf']}" if "rtf" in row else f"{row['ms_per_line']} ms/line"
    return (
        f"{row['backend']:28} {row['device']:5} load {row['load_s']:6.2f} s  {speed:16}"
        f"peak RSS {row['peak_rss_mb']} MB"
    )


if __name__ == "__main__":
    main()
