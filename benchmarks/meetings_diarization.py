"""Who speaks when on real meetings: DER per file and pooled, speakers found, RTF.

    python benchmarks/meetings_diarization.py [--variant NAME:key=value,... ...] [--out FILE]

The nine AMI excerpts in shared/data/meetings (four-person meetings, headset mix, reference
turns in ami_train.rttm) and mixes built from the shared recordings (the meetings back to
back, the two-speaker conversation alone and over music), diarized with the count estimated.
DER by pyannote.metrics, no collar, overlap scored; pooled = the parts summed over
the files, over the summed reference speech. With ``--lines``, each meeting is also
transcribed once (faster-whisper) and its lines given speakers as a dub gives them
(``assign_speakers``): a line is right when its speaker, mapped onto the reference speakers as
DER maps them, is the reference speaker who talks most within it. Each variant sets the
diarizer's options (``seg3-campp``'s arguments) on the one loaded model, so variants compare
in one run.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
MEETINGS = DATA / "meetings"
PARTS = ("missed", "false_alarm", "confusion", "total")


def meetings() -> list[tuple[str, Any, list[tuple[float, float, str]]]]:
    from dubengine.media import decode_audio
    from dubengine.quality.metrics import read_rttm

    rttm = MEETINGS / "ami_train.rttm"
    return [
        (path.stem, decode_audio(path, 16_000, 1), read_rttm(rttm, uri=path.stem.split("_")[-1]))
        for path in sorted(MEETINGS.glob("ami_trn*.wav"))
    ]


def back_to_back(files: list) -> tuple[str, Any, list[tuple[float, float, str]]]:
    """The meetings one after another: a 4.5 min recording whose people recur (AMI names each
    participant once across meetings), to see the count hold on a longer file."""
    import numpy as np

    from dubengine.media import Audio

    samples, reference, at = [], [], 0.0
    for _, audio, turns in files:
        samples.append(audio.samples)
        reference += [(a + at, b + at, who) for a, b, who in turns]
        at += audio.duration
    return "meetings_back_to_back", Audio(np.concatenate(samples, axis=1), 16_000), reference


def built_mixes() -> list[tuple[str, Any, list[tuple[float, float, str]]]]:
    """The shared two-speaker conversation alone and over Big Buck Bunny's soundtrack."""
    from dubengine.media import Audio, decode_audio
    from dubengine.quality.metrics import read_rttm
    from dubengine.samples import under_speech

    speech = decode_audio(DATA / "speech/two_speakers_en.wav", 16_000, 1)
    music = decode_audio(DATA / "video/bbb_vp8_vorbis_30s.webm", 16_000, 1).samples
    music = under_speech(speech.samples, music[:, : speech.samples.shape[1]], 6.0)
    reference = read_rttm(DATA / "speech/two_speakers_en.rttm")
    over = Audio(speech.samples + music, 16_000)
    return [("two_speakers", speech, reference), ("two_speakers+music", over, reference)]


def transcripts(files: list) -> dict[str, Any]:
    from dubengine.registry import create_backend

    transcriber = create_backend("transcriber", "faster-whisper", device="cpu")
    heard = {name: transcriber.transcribe(audio, language="en") for name, audio, _ in files}
    transcriber.close()
    return heard


def lines_right(transcript: Any, turns: list, reference: list) -> tuple[int, int]:
    """(lines whose speaker is right, lines), the way a dub assigns them."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    from dubengine.quality.metrics import annotation
    from dubengine.toolkit.lines import assign_diarized

    segments = assign_diarized(transcript.segments, turns)
    heard = [(t.start, t.end, t.speaker) for t in turns]
    mapping = DiarizationErrorRate().optimal_mapping(annotation(reference), annotation(heard))
    right = 0
    for segment in segments:
        talk = {}
        for a, b, who in reference:
            talk[who] = talk.get(who, 0.0) + max(0.0, min(b, segment.end) - max(a, segment.start))
        truth = max(talk, key=talk.get) if talk and max(talk.values()) > 0 else None
        right += truth is not None and mapping.get(segment.speaker) == truth
    return right, len(segments)


def run_variant(
    diarizer: Any, options: dict[str, float], files: list, heard: dict[str, Any]
) -> dict[str, Any]:
    from dubengine.quality.metrics import diarization_error_rate

    for key, value in options.items():
        setattr(diarizer, key, value)
    rows, seconds, audio_seconds = [], 0.0, 0.0
    for name, audio, reference in files:
        started = time.perf_counter()
        turns = diarizer.diarize(audio)
        seconds += time.perf_counter() - started
        audio_seconds += audio.duration
        hypothesis = [(t.start, t.end, t.speaker) for t in turns]
        score = diarization_error_rate(reference, hypothesis)
        rows.append({"file": name, "turns": len(turns), **score})
        if name in heard:
            rows[-1]["lines_right"], rows[-1]["lines"] = lines_right(heard[name], turns, reference)
    pooled = {part: sum(r[part] for r in rows if r["file"].startswith("ami")) for part in PARTS}
    errors = pooled["missed"] + pooled["false_alarm"] + pooled["confusion"]
    ami = [r for r in rows if r["file"].startswith("ami")]
    return {
        "options": options,
        "files": rows,
        "pooled_der": errors / max(pooled["total"], 1e-9),
        "mean_der": sum(r["der"] for r in ami) / max(len(ami), 1),
        "pooled": pooled,
        "rtf": seconds / audio_seconds,
    }


def parse_variant(text: str) -> tuple[str, dict[str, float]]:
    name, _, settings = text.partition(":")
    options = {}
    for pair in filter(None, settings.split(",")):
        key, _, value = pair.partition("=")
        options[key] = float(value)
    return name, options


def show(name: str, result: dict[str, Any]) -> None:
    print(f"\n== {name} {result['options']}")
    print(f"{'file':20} {'DER':>6} {'miss':>6} {'FA':>6} {'conf':>6} {'ref s':>6} found/true turns")
    for r in result["files"]:
        print(
            f"{r['file']:20} {r['der']:6.3f} {r['missed']:6.2f} {r['false_alarm']:6.2f} "
            f"{r['confusion']:6.2f} {r['total']:6.2f} "
            f"{r['speakers_hypothesis']}/{r['speakers_reference']} {r['turns']}"
        )
    p = result["pooled"]
    print(
        f"meetings: pooled DER {result['pooled_der']:.3f} (missed {p['missed']:.1f} s, false "
        f"alarm {p['false_alarm']:.1f} s, confusion {p['confusion']:.1f} s of {p['total']:.1f} s)"
        f", mean per file {result['mean_der']:.3f}; RTF {result['rtf']:.3f}"
    )
    lines = [(r["lines_right"], r["lines"]) for r in result["files"] if "lines" in r]
    if lines:
        right, total = map(sum, zip(*lines, strict=True))
        print(f"meeting lines with the right speaker: {right} of {total} ({right / total:.0%})")


def main() -> None:
    from dubengine.registry import create_backend

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", nargs="*", default=["default:"], help="NAME:key=value,...")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/meetings.json")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--lines", action="store_true", help="also score the dub's lines")
    args = parser.parse_args()
    if not MEETINGS.exists():
        sys.exit(f"the meeting recordings are not at {MEETINGS}")
    files = meetings()
    files += [back_to_back(files), *built_mixes()]
    heard = transcripts([f for f in files if f[0].startswith("ami")]) if args.lines else {}
    started = time.perf_counter()
    diarizer = create_backend("diarizer", "seg3-campp", device=args.device)
    print(f"diarizer seg3-campp loaded in {time.perf_counter() - started:.1f} s")
    defaults = {key: getattr(diarizer, key) for key in vars(diarizer) if not key.startswith("_")}
    results = {}
    for text in args.variant:
        name, options = parse_variant(text)
        for key, value in defaults.items():  # each variant starts from the defaults
            setattr(diarizer, key, value)
        results[name] = run_variant(diarizer, options, files, heard)
        show(name, results[name])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {peak:.0f} MB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
