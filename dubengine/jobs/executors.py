"""Where a job's pipeline runs: in this process, one warm pipeline per worker thread (the
default), or on a Ray cluster (``ray_pool``). The engine's worker threads claim jobs from the
store and hand each to their own slot; a slot runs one job at a time, so a job waits in the
store until a slot is free."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .._errors import DubError
from .._options import DubOptions, PipelineConfig
from .._progress import ProgressEvent, job_progress
from ..given import GivenLines
from ..media import MediaInfo
from ..pipeline import Pipeline

ProgressSink = Callable[[dict[str, Any]], None]  # a job's ``progress`` field, as it moves
EXECUTORS = ("threads", "ray")


@dataclass(frozen=True, slots=True)
class Processed:
    """What the pipeline made of one job, in the job's work folder."""

    output: Path
    sidecars: tuple[Path, ...]  # subtitles, transcript, stems
    report: dict[str, Any]  # the dub's ``to_dict()``
    language: str  # the detected source language
    project: dict[str, Any] | None = None  # the editable project's state, for the job store


class Slot(Protocol):
    """Runs one job at a time, with its models kept between jobs."""

    def dub(
        self,
        info: MediaInfo,
        options: DubOptions,
        work: Path,
        progress: ProgressSink,
        given: GivenLines | None = None,
    ) -> Processed: ...

    def stats(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class Executor(Protocol):
    def slot(self, index: int) -> Slot: ...

    def close(self) -> None: ...


class WorkerFailed(DubError):
    """A job failed where it ran (another process); ``code`` is the job-level error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # type: ignore[misc]  # per instance, as it came back


def dub_with(
    pipeline: Pipeline,
    info: MediaInfo,
    options: DubOptions,
    work: Path,
    progress: ProgressSink,
    given: GivenLines | None = None,
) -> Processed:
    """One job through ``pipeline``, its output and sidecars written into ``work``."""
    from ..dubbing import default_output, dub_media

    work.mkdir(parents=True, exist_ok=True)
    out = work / default_output(info, options.target_lang).name
    dubbed, project = dub_media(
        pipeline, info, options, out, ProgressWriter(progress), given=given, editable=True
    )
    return Processed(
        dubbed.output,
        tuple(dubbed.files.paths()),
        dubbed.to_dict(),
        dubbed.transcript.language,
        project and project.to_dict(),
    )


def warm(config: PipelineConfig) -> PipelineConfig:
    """Workers exist to keep models loaded between jobs."""
    return dataclasses.replace(config, keep_models_warm=True)


class LocalSlot:
    """A pipeline in this process."""

    def __init__(self, pipeline: Pipeline, owned: bool) -> None:
        self.pipeline, self._owned, self.jobs = pipeline, owned, 0

    def dub(
        self,
        info: MediaInfo,
        options: DubOptions,
        work: Path,
        progress: ProgressSink,
        given: GivenLines | None = None,
    ) -> Processed:
        self.jobs += 1
        return dub_with(self.pipeline, info, options, work, progress, given)

    def stats(self) -> dict[str, Any]:
        return {
            "executor": "threads",
            "jobs": self.jobs,
            "alive": True,
            "loads": dict(self.pipeline.models.loads),
        }

    def close(self) -> None:
        if self._owned:
            self.pipeline.close()


class ThreadExecutor:
    """Each worker thread runs its own pipeline here."""

    def __init__(self, config: PipelineConfig, factory: Callable[[], Pipeline] | None) -> None:
        self._config, self._factory = config, factory

    def slot(self, index: int) -> Slot:
        if self._factory is not None:
            return LocalSlot(self._factory(), owned=False)
        return LocalSlot(Pipeline(self._config), owned=True)

    def close(self) -> None:
        pass


class ProgressWriter:
    """Pipeline progress → the job's progress, written only when the percent or stage moves,
    and never backwards."""

    def __init__(self, write: ProgressSink) -> None:
        self._write = write
        self._last: dict[str, Any] = {"stage": None, "percent": -1}

    def __call__(self, event: ProgressEvent) -> None:
        progress = job_progress(event)
        if progress["percent"] < self._last["percent"]:
            return
        if progress["stage"] != self._last["stage"] or progress["percent"] > self._last["percent"]:
            self._last = progress
            self._write(progress)
