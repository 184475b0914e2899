"""Load time, speed and peak memory of each speech backend, each in its own process.

    python benchmarks/speech_backends.py [--device cpu|cuda] [--out FILE] [--cases ...]

Transcriber: real-time factor on the real recordings. Translator: ms per line over a batch of
real lines into Spanish. Synthesizers: real-time factor over the sample sentences. Separator
and diarizer: real-time factor on two_speakers_en.wav over Big Buck Bunny's soundtrack, 30 s
and the same repeated to 5 or 10 min ("@300", "@600"), to show memory does not grow with
length (the diarizers also print how many speakers they found). "synthesizer:xtts" (not run
unless named) conditions on JFK, then speaks the sample sentences in all ten languages; without
`--xtts-model` it builds an XTTS-v2 of the real shape (30 layers × 1024) with random weights
once, under the cache: random weights never say stop, so each line runs to the adapter's length
bound and the RTF is the cost per second of speech, not a quality figure. Peak memory
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT.parent / "shared" / "data" / "speech"
CASES = [
    "transcriber:faster-whisper",
    "translator:qwen-ct2",
    "synthesizer:kokoro",
    "synthesizer:espeak-ng",
    "separator:spleeter",
    "separator:spleeter@300",
    "diarizer:seg3-campp",
    "diarizer:seg3-campp@300",
    "diarizer:seg3-campp@600",
    "diarizer:resemblyzer",
    "diarizer:resemblyzer@300",
]
OPTIONAL = ["synthesizer:xtts"]
VIDEO = SPEECH.parent / "video"
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


def measure(case: str, device: str, xtts_model: Path | None = None) -> dict[str, object]:
    from dubengine.registry import create_backend

    stage, _, name = case.partition(":")
    name, _, length = name.partition("@")
    options: dict[str, object] = {"device": device}
    if name == "xtts":
        options["model"] = str(xtts_model or _random_xtts())
    started = time.perf_counter()
    backend = create_backend(stage, name, **options)
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
    elif stage in {"separator", "diarizer"}:
        audio = _conversation(float(length or 30))
        started = time.perf_counter()
        if stage == "separator":
            backend.separate(audio)
        else:
            row["speakers"] = len({t.speaker for t in backend.diarize(audio)})
        row["input_s"] = round(audio.duration)
        row["rtf"] = round((time.perf_counter() - started) / audio.duration, 3)
    elif name == "xtts":
        row.update(_cloned_speech(backend))
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


def _cloned_speech(backend: Any) -> dict[str, object]:
    from dubengine.media import decode_audio
    from dubengine.samples import SENTENCES

    reference = decode_audio(SPEECH / "jfk_en.flac", 16_000)
    started = time.perf_counter()
    conditioning = backend.condition(reference)
    row: dict[str, object] = {"condition_s": round(time.perf_counter() - started, 2)}
    started = time.perf_counter()
    spoken = 0.0
    for language, texts in SENTENCES.items():
        clip = backend.synthesize_like(texts[0], language, reference, conditioning=conditioning)
        spoken += clip.duration
    row["rtf"] = round((time.perf_counter() - started) / spoken, 3)
    row["spoken_s"] = round(spoken, 1)
    return row


def _random_xtts() -> Path:
    """A full-size XTTS-v2 folder with random weights, built once under the cache."""
    from dubengine.weights import cache_dir

    folder = cache_dir() / "benchmarks" / "xtts-random-30x1024"
    if not (folder / "model.pth").exists():
        sys.path.insert(0, str(ROOT / "tests"))
        from tiny_models import build_tiny_xtts

        build_tiny_xtts(folder, layers=30, dim=1024, heads=16)
    return folder


def _conversation(seconds: float):
    """Two people over Big Buck Bunny's soundtrack (6 dB under), repeated to ``seconds``."""
    import numpy as np

    from dubengine.media import Audio, decode_audio
    from dubengine.samples import under_speech

    speech = decode_audio(SPEECH / "two_speakers_en.wav", 44_100, 2).samples
    background = decode_audio(VIDEO / "bbb_vp8_vorbis_30s.webm", 44_100, 2).samples
    background = background[:, : speech.shape[1]]
    background = under_speech(speech, background, 6.0)
    once = speech + background
    repeats = int(np.ceil(seconds * 44_100 / once.shape[1]))
    samples = np.tile(once, repeats)[:, : int(seconds * 44_100)].astype(np.float32)
    return Audio(samples, 44_100)


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
    parser.add_argument(
        "--cases", nargs="*", default=CASES, help=f"stage:name[@seconds] ... (also {OPTIONAL})"
    )
    parser.add_argument("--xtts-model", type=Path, help="an XTTS-v2 folder (default: random)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.device, args.xtts_model)))
        return
    rows = []
    for case in args.cases:
        result = subprocess.run(
            [sys.executable, __file__, "--one", case, "--device", args.device]
            + (["--xtts-model", str(args.xtts_model)] if args.xtts_model else []),
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
        print(_format(rows[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))


def _format(row: dict[str, object]) -> str:
    speed = f"RTF {row['rtf']}" if "rtf" in row else f"{row['ms_per_line']} ms/line"
    return (
        f"{row['backend']:28} {row['device']:5} {row.get('input_s', ''):>4} "
        f"load {row['load_s']:6.2f} s  {speed:16}"
        f"peak RSS {row['peak_rss_mb']} MB"
        + (f"  {row['speakers']} speakers" if "speakers" in row else "")
        + (f"  conditioning {row['condition_s']} s" if "condition_s" in row else "")
    )


if __name__ == "__main__":
    main()
