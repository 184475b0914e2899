"""Which synthesizer is intelligible in which language: speak a sentence, transcribe it back.

    python benchmarks/tts_roundtrip.py [--out benchmarks/results/tts_roundtrip.json]

For every language and every embedded synthesizer, prints the character error rate of
Whisper base's transcript (language forced) against the text, the language Whisper detects
on its own, and the synthesis real-time factor. The table behind dubengine's per-language
synthesizer choice (dubengine/_synthesis.py) comes from this.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from dubengine.media.resample import resample
from dubengine.quality.metrics import character_error_rate
from dubengine.registry import create_backend
from dubengine.samples import SENTENCES


def _sentences() -> list[tuple[str, str]]:
    return [(lang, text) for lang, texts in SENTENCES.items() for text in texts]


def heard_back(asr: Any, speech: Any, text: str, language: str) -> dict[str, object]:
    """CER of the transcript with the language forced; the language heard unforced."""
    audio = resample(speech, 16_000)
    forced = asr.transcribe(audio, language=language)
    heard = " ".join(s.text for s in forced.segments)
    detected = asr.transcribe(audio)
    return {
        "cer": round(character_error_rate(text, heard, language), 3),
        "detected": detected.language,
        "probability": detected.language_probability,
        "heard": heard,
    }


def _voice_table(asr: Any, languages: list[str], gender: str | None, out: Path) -> None:
    """Every voice (of ``gender``) on every sample sentence of each language: one sentence's
    language probability swings from 0.05 to 0.98 with the same voice, so a voice passes on
    its worst sentence."""
    from dubengine.backends.match_nearest_voice import voice_gender

    tts = create_backend("synthesizer", "kokoro", device="cpu")
    rows = []
    for language in languages:
        for voice in tts.voices():
            if gender and voice_gender(voice) != gender:
                continue
            heard = [
                heard_back(asr, tts.synthesize(text, language, voice=voice), text, language)
                for text in SENTENCES[language]
            ]
            row = {
                "language": language,
                "voice": voice,
                "cer": round(sum(h["cer"] for h in heard) / len(heard), 3),
                "min_probability": min(
                    h["probability"] if h["detected"] == language else 0.0 for h in heard
                ),
                "heard": [h["heard"] for h in heard],
            }
            rows.append(row)
            print(
                f"{language} {voice:14} mean CER {row['cer']:.3f}  "
                f"worst p({language}) {row['min_probability']:.2f}",
                flush=True,
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_name("tts_voices.json").write_text(json.dumps(rows, indent=1, ensure_ascii=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/tts_roundtrip.json"))
    parser.add_argument("--engines", nargs="+", default=["kokoro", "espeak-ng"])
    parser.add_argument(
        "--voices",
        nargs="*",
        metavar="LANG",
        help="instead: every Kokoro voice in these languages (default de ru ko), "
        "the table behind each language's voice candidates",
    )
    parser.add_argument("--gender", choices=["f", "m"], help="with --voices: only these voices")
    args = parser.parse_args()
    asr = create_backend("transcriber", "faster-whisper", device="cpu")
    if args.voices is not None:
        _voice_table(asr, args.voices or ["de", "ru", "ko"], args.gender, args.out)
        return
    rows = []
    for engine in args.engines:
        tts = create_backend("synthesizer", engine, device="cpu")
        for language, text in _sentences():
            started = time.perf_counter()
            speech = tts.synthesize(text, language)
            seconds = time.perf_counter() - started
            audio = resample(speech, 16_000)
            forced = asr.transcribe(audio, language=language)
            heard = " ".join(s.text for s in forced.segments)
            detected = asr.transcribe(audio).language
            rows.append(
                {
                    "engine": engine,
                    "language": language,
                    "cer": round(character_error_rate(text, heard, language), 3),
                    "detected": detected,
                    "rtf": round(seconds / max(speech.duration, 1e-6), 3),
                    "heard": heard,
                }
            )
            print(
                f"{engine:10} {language}  CER {rows[-1]['cer']:.3f}  detected {detected}  "
                f"RTF {rows[-1]['rtf']:.2f}  {heard}",
                flush=True,
            )
        tts.close()
    print("\nmean CER per language and engine")
    for engine in args.engines:
        for language in SENTENCES:
            cers = [r["cer"] for r in rows if r["engine"] == engine and r["language"] == language]
            print(f"{engine:10} {language}  {sum(cers) / len(cers):.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
