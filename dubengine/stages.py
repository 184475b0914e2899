"""One small Protocol per stage. Backends implement them; the pipeline only sees these."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ._progress import Progress, no_progress
from ._types import Segment, Transcript
from .media.decode import Audio


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

    def shorten(self, segment: Segment, source: str, target: str, max_chars: int) -> str:
        """A shorter translation of one line, for the timing fit's last resort."""
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
