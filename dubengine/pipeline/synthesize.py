"""Stage 5, Synthesizing: every line spoken at its voice's natural pace.

Which synthesizer speaks which target language was chosen by measurement
(benchmarks/tts_roundtrip.py: speak three sentences per language, have Whisper base
transcribe them back, character error rate against the text). On 2026-11-25, mean CER per
language, Kokoro (jm_kumo) / espeak-ng:

    en 0.02 / 0.09   es 0.00 / 0.13   fr 0.21 / 0.55   de 0.03 / 0.32   it 0.03 / 0.21
    pt 0.01 / 0.26   ru 0.13 / 0.61   ja 0.08 / 0.85   ko 0.28 / 3.92   zh 0.00 / 4.51

Kokoro wins in every language (French and German included, once espeak's language-switch
markers are stripped from its phonemes), so it is the default everywhere; espeak-ng stays
available as the fast, robotic alternative (RTF 0.01 against Kokoro's 0.5-1.0 on 2 cores).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._progress import Progress, ProgressEvent
from .._types import LANGUAGES, Segment, Speak, Transcript, Voice
from .._voicing import speak_as
from ..media.decode import Audio
from .voices import DEFAULT_SPEAKER

SYNTHESIZER_FOR_LANGUAGE: dict[str, str] = dict.fromkeys(LANGUAGES, "kokoro")


def synthesizer_for(language: str) -> str:
    return SYNTHESIZER_FOR_LANGUAGE[language]


def speaker_of(
    synthesizer: Any, language: str, voices: Mapping[str, Voice]
) -> Callable[[Segment], Speak]:
    """segment → how its speaker's voice says a text at a speed."""

    def for_segment(segment: Segment) -> Speak:
        voice = voices[segment.speaker or DEFAULT_SPEAKER]

        def speak(text: str, speed: float) -> Audio:
            if voice.reference is not None:
                return synthesizer.synthesize_like(text, language, voice.reference, speed)
            return speak_as(synthesizer, text, language, voice, speed)

        return speak

    return for_segment


def synthesize(
    transcript: Transcript, speak_for: Callable[[Segment], Speak], progress: Progress
) -> dict[int, Audio]:
    """Each line's translation at speed 1.0, by segment id."""
    clips: dict[int, Audio] = {}
    total = len(transcript.segments)
    for done, segment in enumerate(transcript.segments, 1):
        clips[segment.id] = speak_for(segment)(segment.translation or "", 1.0)
        progress(ProgressEvent("synthesizing", done, total))
    return clips
