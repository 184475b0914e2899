"""One progress hook signature for every stage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """``completed`` of ``total`` units of ``stage`` are done (total None when unknown)."""

    stage: str
    completed: int
    total: int | None = None


Progress = Callable[[ProgressEvent], None]


def no_progress(event: ProgressEvent) -> None:
    """The default hook, so stages never test for None."""
