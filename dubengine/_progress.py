"""The seven stages, and the one progress event that flows from backends to callers.

``STAGES`` is the single table of stage key, name and weight: the pipeline, the stage
reports, a job's ``progress`` and the CLI's bar all read it, so nothing joins them by index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage of a dub.

    Attributes:
        key: the job's ``progress.stage`` ("stage_1" ... "stage_7").
        name: what it does, as the job's ``progress.stage_name`` says it ("Separating").
        weight: its share of the processing time on a 2-core CPU, so percent moves evenly.
    """

    key: str
    name: str
    weight: int

    @property
    def number(self) -> int:
        """1-based position, for "4/7 Translating"."""
        return STAGES.index(self) + 1


# Weights: the stage reports of a 30 s two-speaker dub with separation and voice matching
# (the shared conversation over Big Buck Bunny's soundtrack, 2 cores, 2026-12-02). Voices are
# matched before translating: each line's length budget is its voice's measured pace.
SEPARATING = Stage("stage_1", "Separating", 5)
TRANSCRIBING = Stage("stage_2", "Transcribing", 16)
MATCHING = Stage("stage_3", "Matching voices", 9)
TRANSLATING = Stage("stage_4", "Translating", 53)
SYNTHESIZING = Stage("stage_5", "Synthesizing", 9)
ALIGNING = Stage("stage_6", "Aligning", 7)
MIXING = Stage("stage_7", "Mixing", 1)
STAGES: tuple[Stage, ...] = (
    SEPARATING,
    TRANSCRIBING,
    MATCHING,
    TRANSLATING,
    SYNTHESIZING,
    ALIGNING,
    MIXING,
)
_BY_KEY = {stage.key: stage for stage in STAGES}


def stage_of(key: str) -> Stage:
    return _BY_KEY[key]


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """``completed`` of ``total`` units of ``stage`` are done (total None when unknown).

    Backends name their own unit of work ("separating", "translating"); the pipeline hands
    callers the same event with ``stage`` set to the pipeline stage's key ("stage_3").
    """

    stage: str
    completed: float
    total: float | None = None

    @property
    def fraction(self) -> float | None:
        """Of this stage, 0-1 (None when the total is unknown)."""
        if not self.total:
            return None
        return min(1.0, max(0.0, self.completed / self.total))


Progress = Callable[[ProgressEvent], None]


def no_progress(event: ProgressEvent) -> None:
    """The default hook, so stages never test for None."""


def overall_percent(event: ProgressEvent) -> float:
    """Percent of the whole dub done, by stage weight (the event's stage is a pipeline key)."""
    stage = stage_of(event.stage)
    index = STAGES.index(stage)
    done = sum(s.weight for s in STAGES[:index]) + stage.weight * (event.fraction or 0.0)
    return 100 * done / sum(s.weight for s in STAGES)


def job_progress(event: ProgressEvent) -> dict[str, Any]:
    """A job's ``progress`` field; 98 at most until the job completes."""
    stage = stage_of(event.stage)
    percent = min(98, int(overall_percent(event)))
    return {"stage": stage.key, "stage_name": stage.name, "percent": percent}
