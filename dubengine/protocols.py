"""One small Protocol per role. Backends implement them; the pipeline only sees these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ._progress import Progress, no_progress
from ._types import Segment, Stems, Transcript, Turn, Voice

if TYPE_CHECKING:
    import numpy as np

    from .media.decode import Audio

__all__ = [
    "CloningSynthesizer",
    "Diarizer",
    "Embedder",
    "Separator",
    "Stems",
    "Synthesizer",
    "Transcriber",
    "Translator",
    "Turn",
    "Voice",
    "VoiceMatcher",
]


@runtime_checkable
class Separator(Protocol):
    """Mixture → speech stem + background (music and effects) stem."""

    def separate(self, audio: Audio, progress: Progress = no_progress) -> Stems: ...

    def close(self) -> None: ...


@runtime_checkable
class Diarizer(Protocol):
    """Speech → who spoke when."""

    def diarize(
        self,
        audio: Audio,
        num_speakers: int | None = None,
        progress: Progress = no_progress,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ) -> list[Turn]:
        """``audio`` is 16 kHz mono speech; ``num_speakers`` None means estimate it, within
        ``min_speakers``..``max_speakers`` when given. Turns may overlap (two at once)."""
        ...

    def close(self) -> None: ...


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
        self,
        transcript: Transcript,
        target: str,
        progress: Progress = no_progress,
        paces: Mapping[str, float] | None = None,
    ) -> Transcript:
        """``paces``: per speaker, the characters a second their voice speaks (measured
        before translating), so each line's length budget is what that voice says in the
        line's time; None means the language's average pace."""
        ...

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


@runtime_checkable
class Embedder(Protocol):
    """Speech → a unit-length speaker embedding (voice matching, the quality report)."""

    def embed(self, audio: Audio) -> np.ndarray: ...

    def close(self) -> None: ...
