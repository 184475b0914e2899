"""Running one job: fetch → validate → pipeline → outputs into the result store, each step a
status of the lifecycle; any error becomes ``failed`` with the API's code."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import DubError, InvalidJobState, InvalidOption, ProcessingFailed
from .._options import DubOptions
from .._progress import ProgressEvent, job_progress
from ..given import GivenLines, check_within
from ..media import Limits, validate
from .executors import Slot
from .records import EngineHooks, JobStatus
from .sources import AddressPolicy, fetch, parse_source
from .store import JobStore

log = logging.getLogger("dubengine")


@dataclass(frozen=True, slots=True)
class JobRunner:
    """What a worker needs to run any job of one engine."""

    store: JobStore
    data_dir: Path
    limits: Limits
    policy: AddressPolicy
    price_per_minute: float
    hooks: EngineHooks
    job_view: Callable[[str], Any]  # job id → the Job snapshot, for on_completed

    def run(self, job_id: str, slot: Slot) -> None:
        work = self.data_dir / "work" / job_id
        work.mkdir(parents=True, exist_ok=True)
        try:
            self._execute(job_id, slot, work)
        except DubError as exc:
            self.fail(job_id, exc.code, exc.message)
        except Exception as exc:  # a bug, not bad input: say so, keep the trace in the log
            log.exception("job %s failed", job_id)
            self.fail(job_id, "processing_failed", f"internal error: {type(exc).__name__}: {exc}")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def fail(self, job_id: str, code: str, message: str) -> None:
        """Failed, with the stage it failed in kept as ``failed_stage``."""
        progress = json.loads(self.store.row(job_id)["progress"])
        progress |= {"stage": "failed", "failed_stage": progress.get("stage")}
        with contextlib.suppress(InvalidJobState):
            self.store.transition(
                job_id, JobStatus.FAILED, error=code, error_message=message, progress=progress
            )

    def _execute(self, job_id: str, slot: Slot, work: Path) -> None:
        row = self.store.row(job_id)
        # Rows written before all five options were stored keep the languages in columns.
        stored = {"target_lang": row["target_lang"], "source_lang": row["source_lang"]}
        stored |= json.loads(row["options"])
        given = GivenLines.from_dict(stored.pop("given")) if "given" in stored else None
        options = DubOptions.from_dict(stored)
        path = fetch(parse_source(row["source"], self.policy), work, self.limits, self.policy)
        info = validate(path, self.limits)
        try:
            check_within(given, info.duration)
        except InvalidOption as exc:  # the job-level codes have no "invalid request"
            raise ProcessingFailed(f"the subtitles do not fit this media: {exc.message}") from None
        self.store.transition(
            job_id,
            JobStatus.PROCESSING,
            input_duration_sec=round(info.duration, 3),
            progress=job_progress(ProgressEvent("stage_1", 0, 1)),
        )
        dubbed = slot.dub(
            info, options, work / "out", lambda p: self.store.set(job_id, progress=p), given
        )
        self.store.transition(
            job_id,
            JobStatus.UPLOADING,
            detected_lang=dubbed.language,
            progress={"stage": "uploading", "percent": 99},
        )
        final = self._store_result(job_id, dubbed.output, dubbed.sidecars)
        self.store.transition(
            job_id,
            JobStatus.COMPLETED,
            output_path=str(final),
            project=None
            if dubbed.project is None
            else json.dumps(dubbed.project, ensure_ascii=False),
            cost_usd=round(info.duration / 60 * self.price_per_minute, 2),
            progress={"stage": "completed", "percent": 100},
            report=json.dumps(in_results(dubbed.report, final.parent), ensure_ascii=False),
        )
        if self.hooks.on_completed is not None:
            self.hooks.on_completed(self.job_view(job_id), row["owner"])

    def _store_result(self, job_id: str, output: Path, sidecars: Iterable[Path]) -> Path:
        """Moves the output and its sidecars into results/ in one rename of their folder."""
        staging = self.data_dir / "results" / f".{job_id}.partial"
        staging.mkdir(parents=True, exist_ok=True)
        for path in (output, *sidecars):
            shutil.move(str(path), staging / Path(path).name)
        final_dir = self.data_dir / "results" / job_id
        staging.rename(final_dir)
        return final_dir / output.name


def in_results(report: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The report naming its files where they now are, not where they were made."""
    files = {name: str(folder / Path(path).name) for name, path in report["files"].items()}
    return report | {"output": str(folder / Path(report["output"]).name), "files": files}
