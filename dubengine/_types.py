"""The transcript: the one data model every stage reads and writes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

LANGUAGES: dict[str, str] = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
    "ru": "Russian",
    "ja": "Japanese",
    "ko": "Korean",
    "zh": "Chinese",
}

# espeak-ng's voice for each language: the espeak-ng synthesizer speaks with it, and Kokoro's
# front end phonemizes with it (Japanese and Chinese go through their own front ends there).
ESPEAK_VOICES: dict[str, str] = {
    "en": "en-us",
    "es": "es",
    "fr": "fr-fr",
    "de": "de",
    "it": "it",
    "pt": "pt-br",
    "ru": "ru",
    "ja": "ja",
    "ko": "ko",
    "zh": "cmn",
}


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word; times in seconds on the source timeline."""

    start: float
    end: float
    text: str
    probability: float = 1.0


@dataclass(frozen=True, slots=True)
class Segment:
    """One line a dubber would speak.

    Attributes:
        id: position in the transcript, from 0.
        start: seconds on the source timeline.
        end: seconds on the source timeline.
        text: what was said, in the source language.
        speaker: speaker label ("SPEAKER_00"), None until diarization.
        translation: the line in the target language, None until translation.
        words: word timings from the transcriber.
    """

    id: int
    start: float
    end: float
    text: str
    speaker: str | None = None
    translation: str | None = None
    words: tuple[Word, ...] = ()

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Transcript:
    """What was said, line by line, with the detected language and its probability."""

    language: str
    segments: tuple[Segment, ...] = ()
    language_probability: float = 1.0
    target_language: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        segments = tuple(
            Segment(**{**s, "words": tuple(Word(**w) for w in s.get("words", ()))})
            for s in data.get("segments", ())
        )
        return cls(**{**data, "segments": segments})
