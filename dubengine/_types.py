"""The data that flows through the stages: the transcript of segments (the one data model
every stage reads and writes), and the typed results each stage hands on.

Numpy and the media layer are named only for type checkers, so importing this module (and
``dubengine``) stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from .media.decode import Audio

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

DEFAULT_SPEAKER = "SPEAKER_00"  # the speaker of every line when there is no diarization
CLONED = "cloned:"  # a cloned voice is named for the speaker it imitates: "cloned:SPEAKER_00"

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


Speak = Callable[[str, float], "Audio"]  # (text, speed) → speech in one speaker's voice


@dataclass(frozen=True, slots=True)
class Turn:
    """One stretch of one speaker, seconds on the source timeline."""

    start: float
    end: float
    speaker: str


@dataclass(frozen=True, slots=True)
class Stems:
    """A separator's output: the two stems, same rate and length as each other."""

    speech: Audio
    background: Audio


@dataclass(frozen=True, slots=True)
class Voice:
    """How one speaker is spoken in the dub.

    Attributes:
        name: the synthesizer's voice, or a blend written "a*0.7+b*0.3".
        style: the blended style vector, when ``name`` is a blend (Kokoro).
        pitch_ratio: F0 scale applied after synthesis (1.0 = unchanged).
        formant_ratio: spectral-envelope warp applied after synthesis (1.0 = unchanged).
        similarity: speaker-embedding cosine between the speaker and this voice as adjusted.
        reference: the speaker's clean speech, for synthesizers that clone.
        reference_spans: where ``reference`` was taken from, (start, end) seconds.
        conditioning: what the cloning synthesizer made of ``reference`` (e.g. XTTS's latents),
            kept so the speaker is not conditioned again for every line or re-render.
        similarity_before: the same cosine for the matcher's stock voice as it is, before its
            timbre search and pitch/formant moves (so the result shows what they gained).
    """

    name: str
    style: np.ndarray | None = None
    pitch_ratio: float = 1.0
    formant_ratio: float = 1.0
    similarity: float | None = None
    reference: Audio | None = None
    reference_spans: tuple[tuple[float, float], ...] = ()
    conditioning: Mapping[str, np.ndarray] | None = None
    similarity_before: float | None = None


@dataclass(frozen=True, slots=True)
class VoiceReport:
    """Which voice a speaker got, as the result reports it."""

    voice: str
    pitch_semitones: float
    formant_ratio: float
    similarity: float | None
    reference_spans: tuple[tuple[float, float], ...] = ()  # a cloned voice's source speech
    similarity_before: float | None = None  # the stock voice's, before search and moves

    @classmethod
    def of(cls, voice: Voice) -> VoiceReport:
        import math

        return cls(
            voice=voice.name,
            pitch_semitones=round(12 * math.log2(voice.pitch_ratio), 2),
            formant_ratio=round(voice.formant_ratio, 3),
            similarity=_rounded(voice.similarity),
            reference_spans=tuple((round(a, 2), round(b, 2)) for a, b in voice.reference_spans),
            similarity_before=_rounded(voice.similarity_before),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class LineFit:
    """How one line was fitted. Times in seconds on the output timeline."""

    id: int
    source_start: float
    source_end: float
    start: float  # where the dubbed line begins: source_start + lag + slipped
    end: float  # where it ends
    text: str  # what is spoken (the translation, or its shortened form)
    speed: float  # total speed-up against the voice's natural pace (1.0 = none)
    tts_speed: float  # of which the synthesizer's own speed control
    stretch: float  # of which the time-stretcher
    borrowed: float  # seconds taken from the silence after the original line
    overflow: float  # seconds past what was available (overlaps the next line, or cut)
    shortened: int  # times the translation was shortened
    method: str  # natural | tts-speed | stretched | borrowed | shortened | overflow
    slipped: float = 0.0  # seconds it starts late for the line before it (< 0: early)

    @property
    def offset(self) -> float:
        """Start error against the source line (0 by construction, lag aside)."""
        return self.start - self.source_start

    @property
    def iou(self) -> float:
        """Overlap of the dubbed line with the source line: intersection over union of the
        two time spans (1.0 = the same span; human dubbing averages about 0.66)."""
        inter = max(0.0, min(self.end, self.source_end) - max(self.start, self.source_start))
        union = max(self.end, self.source_end) - min(self.start, self.source_start)
        return round(inter / union, 4) if union > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"iou": self.iou}


OVERFLOW_SEC = 0.05  # a line overflows when it runs this far past what was available


def timing_summary(fits: Sequence[LineFit]) -> dict[str, float | int]:
    """The timing report over a dub: mean speech overlap (IoU), lines overflowing."""
    overflowing = sum(f.overflow > OVERFLOW_SEC for f in fits)
    return {
        "lines": len(fits),
        "mean_iou": round(sum(f.iou for f in fits) / len(fits), 4) if fits else 0.0,
        "overflowing": overflowing,
        "overflowing_share": round(overflowing / len(fits), 4) if fits else 0.0,
        "max_speed": max((f.speed for f in fits), default=1.0),
    }


@dataclass(frozen=True, slots=True)
class PlacedLine:
    """A fitted line and the speech that will be heard for it."""

    fit: LineFit
    audio: Audio


@dataclass(frozen=True, slots=True)
class MixReport:
    reference_lufs: float | None  # loudness of the original speech
    dub_lufs: float | None  # loudness of the dub before matching
    gain_db: float  # applied to the dub
    peak_before_limit: float  # linear peak of the sum, before the limiter

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class StageReport:
    """What one stage cost: wall time, peak memory, and how much of it models took."""

    stage: str
    name: str
    seconds: float
    peak_rss_mb: float
    load_seconds: float  # model loading, included in seconds
    inference_seconds: float  # inside model calls, included in seconds
    backends: tuple[str, ...] = ()  # "role:name" of each backend whose model it ran

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"backends": list(self.backends)}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
