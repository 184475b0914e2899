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
import math
import sys
import time
from pathlib import Path
from typing import Any

from dubengine._types import LANGUAGES
from dubengine.media.resample import resample
from dubengine.quality.metrics import character_error_rate
from dubengine.registry import create_backend
from dubengine.samples import SENTENCES

sys.path.insert(0, str(Path(__file__).parent))
from voice_sentences import VOICE_SENTENCES


def _sentences() -> list[tuple[str, str]]:
    return [(lang, text) for lang, texts in SENTENCES.items() for text in texts]


def heard_back(asr: Any, speech: Any, text: str, language: str) -> dict[str, object]:
    """CER of the transcript with the language given; the language heard among the ten
    dubengine speaks (as the pipeline's transcriber detects it), and Whisper's free guess."""
    audio = resample(speech, 16_000)
    forced = asr.transcribe(audio, language=language)
    heard = " ".join(s.text for s in forced.segments)
    ranked = asr.language_probabilities(audio)
    among = [(code, p) for code, p in ranked if code in LANGUAGES]
    return {
        "cer": round(character_error_rate(text, heard, language), 3),
        "among_ten": among[0][0],
        "probability": round(dict(ranked).get(language, 0.0) / sum(p for _, p in among), 3),
        "free_guess": ranked[0][0],
        "free_probability": round(ranked[0][1], 3),
        "heard": heard,
    }


def worst_decile(values: list[float], worst_high: bool = True) -> float:
    """The value a tenth of the sentences are worse than (rounded up to one sentence)."""
    ordered = sorted(values, reverse=worst_high)
    return ordered[max(0, math.ceil(len(ordered) / 10) - 1)]


def _voice_row(tts: Any, asr: Any, language: str, voice: str) -> dict[str, object]:
    texts = VOICE_SENTENCES.get(language, SENTENCES[language])
    heard = [
        heard_back(asr, tts.synthesize(text, language, voice=voice), text, language)
        for text in texts
    ]
    cers = [h["cer"] for h in heard]
    return {
        "language": language,
        "voice": voice,
        "sentences": len(texts),
        "cer": round(sum(cers) / len(cers), 3),
        "cer_worst_decile": worst_decile(cers),
        "heard_right": sum(h["among_ten"] == language for h in heard) / len(heard),
        "p_worst_decile": worst_decile([h["probability"] for h in heard], worst_high=False),
        "free_guess_right": sum(h["free_guess"] == language for h in heard) / len(heard),
        "per_sentence": [{"text": t, **h} for t, h in zip(texts, heard, strict=True)],
    }


def _voice_table(
    asr: Any, languages: list[str], gender: str | None, voices: list[str] | None, out: Path
) -> None:
    """Every voice (of ``gender``, or those named) on thirty varied sentences per language:
    one sentence's language probability swings from 0.05 to 0.98 with the same voice, so a
    voice is judged on its worst decile, not its mean."""
    from dubengine.backends.match_nearest_voice import voice_gender

    tts = create_backend("synthesizer", "kokoro", device="cpu")
    rows = []
    for language in languages:
        for voice in voices or tts.voices():
            if gender and voice_gender(voice) != gender:
                continue
            rows.append(_voice_row(tts, asr, language, voice))
            row = rows[-1]
            print(
                f"{language} {voice:14} CER mean {row['cer']:.3f} worst decile "
                f"{row['cer_worst_decile']:.2f}  heard as {language} {row['heard_right']:.0%} "
                f"(free guess {row['free_guess_right']:.0%}), p worst decile "
                f"{row['p_worst_decile']:.2f}",
                flush=True,
            )
    table = out.with_name("tts_voices.json")
    measured = {(r["language"], r["voice"]) for r in rows}
    if table.exists():  # runs for other languages or voices stay in the table
        rows += [
            r
            for r in json.loads(table.read_text())
            if "per_sentence" in r and (r["language"], r["voice"]) not in measured
        ]
    out.parent.mkdir(parents=True, exist_ok=True)
    table.write_text(json.dumps(rows, indent=1, ensure_ascii=False))
    out.with_name("tts_voices.md").write_text(voice_markdown(rows))


def voice_markdown(rows: list[dict[str, Any]]) -> str:
    """The table, best first per language, and the sentences it was measured on."""
    lines = [
        "# Kokoro voices heard back (benchmarks/tts_roundtrip.py --voices)",
        "",
        "Whisper base; CER with the language given; heard as = the likeliest of the ten "
        "languages; free guess = Whisper's own pick among all it knows.",
        "",
        "| language | voice | CER mean | CER worst decile | heard as the language | "
        "p worst decile | free guess right |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: (r["language"], r["cer_worst_decile"], r["cer"])):
        lines.append(
            f"| {row['language']} | {row['voice']} | {row['cer']:.3f} | "
            f"{row['cer_worst_decile']:.2f} | {row['heard_right']:.0%} | "
            f"{row['p_worst_decile']:.2f} | {row['free_guess_right']:.0%} |"
        )
    for language in sorted({r["language"] for r in rows}):
        lines += ["", f"## Sentences ({language})", ""]
        lines += [f"{i}. {t}" for i, t in enumerate(VOICE_SENTENCES.get(language, ()), 1)]
    return "\n".join(lines) + "\n"


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
    parser.add_argument("--only", nargs="+", metavar="VOICE", help="with --voices: these voices")
    args = parser.parse_args()
    asr = create_backend("transcriber", "faster-whisper", device="cpu")
    if args.voices is not None:
        _voice_table(asr, args.voices or ["de", "ru", "ko"], args.gender, args.only, args.out)
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
