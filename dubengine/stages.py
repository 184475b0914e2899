"""One small Protocol per stage. Backends implement them; the pipeline only sees these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ._progress import Progress, no_progress
from ._types import Segment, Transcript
from .media.decode import Audio


@dataclass(frozen=True, slots=True)
class Stems:
    """A separator's output: the two stems, same rate and length as each other."""

    speech: Audio
    background: Audio


@runtime_checkable
class Separator(Protocol):
    """Mixture → speech stem + background (music and effects) stem."""

    def separate(self, audio: Audio, progress: Progress = no_progress) -> Stems: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Turn:
    """One stretch of one speaker, seconds on the source timeline."""

    start: float
    end: float
    speaker: str


@runtime_checkable
class Diarizer(Protocol):
    """Speech → who spoke when."""

    def diarize(
        self, audio: Audio, num_speakers: int | None = None, progress: Progress = no_progress
    ) -> list[Turn]:
        """``audio`` is 16 kHz mono speech; ``num_speakers`` None means estimate it."""
        ...

    def close(self) -> None: ...


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
    """

    name: str
    style: np.ndarray | None = None
    pitch_ratio: float = 1.0
    formant_ratio: float = 1.0
    similarity: float | None = None
    reference: Audio | None = None


@runtime_checkable
class VoiceMatcher(Protocol):
    """Per speaker, the voice the synthesizer should use to sound like them."""

    def match(
        self,
        references: Mapping[str, Audio],
        language: str,
        synthesizer: Any,
        reduce_accent: bool = False,
    ) -> dict[str, Voice]:
        """``references``: per speaker, clean speech (16 kHz mono) from the speech stem."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class CloningSynthesizer(Protocol):
    """A synthesizer that speaks in the voice of a reference recording (e.g. XTTS-v2).

    When the configured synthesizer implements this, voice matching hands it each speaker's
    reference instead of choosing among stock voices.
    """

    sample_rate: int

    def synthesize_like(
        self, text: str, language: str, reference: Audio, speed: float = 1.0
    ) -> Audio: ...

    def close(self) -> None: ...


@runtime_checkable
class Transcriber(Protocol):
    """Speech → lines with word timings and the detected language."""

    def transcribe(
        self, audio: Audio, language: str | None = None, progress: Progress = no_progress
    ) -> Transcript:
        """``audio`` is 16 kHz mono; ``language`` None means detect it."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Translator(Protocol):
    """Fills ``Segment.translation`` for every line, each within its length budget."""

    def translate(
        self, transcript: Transcript, target: str, progress: Progress = no_progress
    ) -> Transcript: ...

    def shorten(
        self, segments: Sequence[Segment], source: str, target: str, max_chars: Sequence[int]
    ) -> list[str]:
        """A shorter translation of each line, within its ``max_chars`` if the model can:
        the timing fit's last resort. Lines come in one batch."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Synthesizer(Protocol):
    """Text → speech, in a named voice, at a speaking speed (1.0 = natural)."""

    sample_rate: int

    def voices(self) -> tuple[str, ...]: ...

    def synthesize(
        self, text: str, language: str, voice: str | None = None, speed: float = 1.0
    ) -> Audio: ...

    def close(self) -> None: ...
