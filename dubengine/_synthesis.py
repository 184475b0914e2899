"""Which synthesizer speaks which target language, and in which voice by default.

Chosen by measurement (benchmarks/tts_roundtrip.py: speak three sentences per language, have
Whisper base transcribe them back, character error rate against the text). On 2026-11-25,
mean CER per language, Kokoro (jm_kumo) / espeak-ng:

    en 0.02 / 0.09   es 0.00 / 0.13   fr 0.21 / 0.55   de 0.03 / 0.32   it 0.03 / 0.21
    pt 0.01 / 0.26   ru 0.13 / 0.61   ja 0.08 / 0.85   ko 0.28 / 3.92   zh 0.00 / 4.51

Kokoro wins in every language (French and German included, once espeak's language-switch
markers are stripped from its phonemes), so it is the default everywhere; espeak-ng stays
available as the fast, robotic alternative (RTF 0.01 against Kokoro's 0.5-1.0 on 2 cores).
"""

from __future__ import annotations

from ._types import LANGUAGES

SYNTHESIZER_FOR_LANGUAGE: dict[str, str] = dict.fromkeys(LANGUAGES, "kokoro")


def synthesizer_for(language: str) -> str:
    return SYNTHESIZER_FOR_LANGUAGE[language]
