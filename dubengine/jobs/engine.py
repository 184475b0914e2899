"""The job façade: the API reference's job lifecycle, in-process, persisted in SQLite.

Jobs move ``pending → downloading → processing → uploading → completed``, or to ``failed``
from any of them (``store``). Background worker threads run them (``worker``). If the
process dies while a job runs, the next ``Engine`` on the same data folder marks that job
``failed`` with ``processing_failed`` (it does not run it again: a job that killed its
process once would likely do it again, and the user should decide).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .. import editing
from .._errors import InvalidOption, JobNotCompleted
from .._options import DubOptions, PipelineConfig
from ..config import load_settings
from ..editing.tracks import Track
from ..given import given_lines
from ..media import Limits
from ..pipeline import Pipeline
from . import uploads
from .executors import EXECUTORS, Slot, ThreadExecutor
from .ray_pool import RayExecutor
from .records import (
    ACTIVE,
    EngineHooks,
    Job,
    JobList,
    JobResult,
    JobStatus,
    UploadTarget,
    iso,
    utc_now,
)
from .sources import AddressPolicy, parse_source
from .store import HEARTBEAT_SEC, STALE_SEC, JobStore
from .studio import Editor
from .worker import JobRunner

RESULT_TTL = timedelta(hours=48)
UPLOAD_TTL = timedelta(hours=1)
MAX_PAGE = 100


class Engine:
    """Runs dubbing jobs in background workers, with the API reference's lifecycle.

    Args:
        data_dir: where the job database, uploads and results live.
        workers: worker threads (each holds its own models; 1 suits a 2-core CPU).
        config: backends, device and timing-fit settings for every job, or the path of a
            config file (``dubengine.config``) whose pipeline settings to use.
        limits: input limits (default the reference's).
        price_per_minute: USD per input minute for ``cost_usd`` (default 0.50).
        trust_private_urls: http(s) sources may also resolve to these networks (CIDR
            strings), or to any address with True; by default only public addresses.
        hooks: how result and upload URLs are made, what happens when a job completes
            (the server passes its own: signed URLs, balances).
        pipeline_factory: makes each worker's pipeline (default a new one from ``config``);
            pipelines it makes are the caller's to close.
        result_ttl: how long a download URL stays valid (48 h).
        upload_ttl: how long an upload URL stays valid (1 h).
        start: start the workers now.
        stale_after: seconds after which a job whose engine cannot be seen (another PID
            namespace, such as a container's, or another machine) and has stopped sending
            heartbeats is failed as orphaned.
        executor: where jobs run: "threads" (in this process) or "ray" (one Ray actor per
            worker, each with warm models; ``pipeline_factory`` then runs in the actor).
        ray_address: the Ray cluster to join ("auto", an address, or None/"local" for a new
            one here); unused when Ray is already initialized in this process.
        ray_actor_options: Ray actor options (num_cpus, num_gpus, resources) over the
            defaults: one CPU per actor, and one GPU when ``config.device`` is CUDA.
    """

    def __init__(
        self,
        data_dir: str | Path = "dubengine-data",
        workers: int = 1,
        config: PipelineConfig | str | os.PathLike[str] | None = None,
        limits: Limits | None = None,
        price_per_minute: float = 0.50,
        trust_private_urls: bool | Iterable[str] = False,
        hooks: EngineHooks | None = None,
        pipeline_factory: Callable[[], Pipeline] | None = None,
        result_ttl: timedelta = RESULT_TTL,
        upload_ttl: timedelta = UPLOAD_TTL,
        start: bool = True,
        stale_after: float = STALE_SEC,
        executor: str = "threads",
        ray_address: str | None = None,
        ray_actor_options: Mapping[str, Any] | None = None,
    ) -> None:
        if executor not in EXECUTORS:
            raise InvalidOption(f"executor must be one of {', '.join(EXECUTORS)}, not {executor!r}")
        self.data_dir = _data_folder(Path(data_dir))
        if isinstance(config, str | os.PathLike):
            config = load_settings(config).pipeline
        self.config = config or PipelineConfig()
        self.limits = limits or Limits()
        self.hooks = hooks or EngineHooks()
        self.result_ttl, self.upload_ttl = result_ttl, upload_ttl
        self.policy = AddressPolicy.of(trust_private_urls)
        self.store = JobStore(self.data_dir / "jobs.sqlite3", stale_after)
        self._runner = JobRunner(
            self.store,
            self.data_dir,
            self.limits,
            self.policy,
            price_per_minute,
            self.hooks,
            self.get_job,
        )
        self._executor = _executor(
            executor, self.config, pipeline_factory, ray_address, ray_actor_options
        )
        self._editor = Editor(self.store, self.config)
        self._slots: list[Slot] = []
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._recover()
        self._workers = [
            threading.Thread(
                target=self._work, args=(i,), name=f"dubengine-worker-{i}", daemon=True
            )
            for i in range(workers)
        ]
        self._keeper = threading.Thread(target=self._keep, name="dubengine-heartbeat", daemon=True)
        if start:
            self.start()

    # The API

    def create_job(
        self,
        source: str | Path,
        target_lang: str,
        owner: str | None = None,
        subtitles: str | None = None,
        translated_subtitles: str | None = None,
        **options: Any,
    ) -> Job:
        """Queues a dub; returns at once with the job ``pending``. ``options``: the other
        fields of ``DubOptions`` (source_lang, reduce_accent, translation_lag_time,
        original_speech_volume). ``subtitles``, ``translated_subtitles``: the text of SRT or
        WebVTT files (or an earlier dub's JSON) to start from (``dubengine.given``).

        Raises:
            InvalidUrl, UnsupportedLanguage, InvalidOption: the request is refused.
        """
        checked = DubOptions.build(target_lang, **options)
        given = given_lines(subtitles, translated_subtitles, checked.source_lang)
        source_text = parse_source(source, self.policy).text
        job_id = f"dub_{uuid.uuid4().hex[:12]}"
        stored = checked.to_dict() | ({"given": given.to_dict()} if given else {})
        self.store.insert(
            job_id, owner, source_text, checked.target_lang, checked.source_lang, stored
        )
        created = self.get_job(job_id, owner)  # as created: a worker may claim it at once
        with self._wake:
            self._wake.notify()
        return created

    def get_job(self, job_id: str, owner: str | None = None) -> Job:
        return self._to_job(self.store.row(job_id, owner))

    def list_jobs(self, limit: int = 20, offset: int = 0, owner: str | None = None) -> JobList:
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidOption(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
        if offset < 0:
            raise InvalidOption(f"offset must be 0 or more, not {offset}")
        total, rows = self.store.page(limit, offset, owner)
        return JobList([self._to_job(r) for r in rows], total, limit, offset)

    def get_result(self, job_id: str, owner: str | None = None) -> JobResult:
        """A fresh download URL for a completed job, valid 48 hours."""
        row = self.store.row(job_id, owner)
        if row["status"] != JobStatus.COMPLETED.value or not row["output_path"]:
            raise JobNotCompleted(f"job {job_id} is {row['status']}, not completed")
        path = Path(row["output_path"])
        expires = utc_now() + self.result_ttl
        return JobResult(
            job_id, self._url("result", job_id, path, expires), iso(expires) or "", path
        )

    def upload_url(
        self, filename: str, content_type: str, owner: str | None = None
    ) -> UploadTarget:
        """Where to put a local file before creating a job from ``source_url``: one file,
        for ``owner`` only, expiring after ``upload_ttl``.

        Raises:
            InvalidOption: ``filename`` is not a plain file name, or too long.
        """
        expires = utc_now() + self.upload_ttl
        path = uploads.issue(self.data_dir / "uploads", filename, content_type, owner, expires)
        upload_id = path.parent.name
        url = self._url("upload", upload_id, path, expires)
        source_url = path.resolve().as_uri() if url.startswith("file:") else url.split("?")[0]
        return UploadTarget(
            url,
            source_url,
            upload_id,
            self.limits.max_file_size_bytes,
            int(self.upload_ttl.total_seconds()),
            path,
        )

    def get_report(self, job_id: str, owner: str | None = None) -> dict[str, Any] | None:
        """The completed job's transcript, fit report, stage timings and warnings."""
        report = self.store.row(job_id, owner)["report"]
        return json.loads(report) if report else None

    def history(self, job_id: str, owner: str | None = None) -> list[tuple[str, str]]:
        """Every status the job went through, with when: [(status, ISO time), ...]."""
        return self.store.history(job_id, owner)

    def wait(self, job_id: str, timeout: float = 600, poll: float = 0.2) -> Job:
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if job.status in (JobStatus.COMPLETED, JobStatus.FAILED):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status.value} after {timeout} s")
            time.sleep(poll)

    # Editing a completed dub (an extension of the reference's API; ``dubengine.editing``)

    def segments(self, job_id: str, owner: str | None = None) -> dict[str, Any]:
        """A completed dub's lines, voices, ``revision`` (bumped by each edit) and
        ``output_revision`` (the revision the output was last rendered from)."""
        return self._editor.view(job_id, owner)

    def edit_segment(
        self, job_id: str, index: int, owner: str | None = None, **changes: Any
    ) -> dict[str, Any]:
        """Changes line ``index``'s text, translation, speaker, start or end.

        Raises:
            JobNotFound, LineNotFound: no such job or line.
            JobNotCompleted, RenderInProgress: the job is running, or rendering.
            InvalidOption: the edit is refused (empty text, overlapping times, ...).
        """
        return self._editor.change(job_id, owner, lambda p: editing.edit_segment(p, index, changes))

    def split_segment(
        self, job_id: str, index: int, at: float, owner: str | None = None
    ) -> dict[str, Any]:
        return self._editor.change(job_id, owner, lambda p: editing.split_segment(p, index, at))

    def merge_segments(self, job_id: str, index: int, owner: str | None = None) -> dict[str, Any]:
        """Line ``index`` and the one after it as one line."""
        return self._editor.change(job_id, owner, lambda p: editing.merge_segments(p, index))

    def delete_segment(self, job_id: str, index: int, owner: str | None = None) -> dict[str, Any]:
        return self._editor.change(job_id, owner, lambda p: editing.delete_segment(p, index))

    def insert_segment(
        self,
        job_id: str,
        start: float,
        end: float,
        text: str,
        translation: str,
        speaker: str | None = None,
        owner: str | None = None,
    ) -> dict[str, Any]:
        return self._editor.change(
            job_id,
            owner,
            lambda p: editing.insert_segment(p, start, end, text, translation, speaker),
        )

    def set_voice(
        self, job_id: str, speaker: str, voice: str, owner: str | None = None
    ) -> dict[str, Any]:
        """``speaker``'s lines spoken by the synthesizer's voice ``voice`` from now on."""
        return self._editor.change(job_id, owner, lambda p: editing.set_voice(p, speaker, voice))

    def render(self, job_id: str, owner: str | None = None, wait: bool = False) -> dict:
        """Speaks the stale lines again and re-mixes only where they are; the result URL
        then serves the new output. Runs in the background unless ``wait``.

        Raises:
            RenderInProgress: a render of this job is running.
        """
        return self._editor.render(job_id, owner, wait)

    def line_audio(
        self, job_id: str, index: int, track: Track = "dub", owner: str | None = None
    ) -> Any:
        """Line ``index`` to listen to: samples (channels, n) at 48 kHz of the latest render
        ("dub") or the original, with a little around it."""
        return self._editor.line_audio(job_id, index, track, owner)

    def undo(self, job_id: str, owner: str | None = None) -> dict[str, Any]:
        """The dub as it was before its last edit (one step; none past the last render)."""
        return self._editor.undo(job_id, owner)

    def peaks(self, job_id: str, track: Track = "dub", owner: str | None = None) -> dict[str, Any]:
        """The waveform of the original or the latest render: the largest sample of each
        1/100 s as 0-255, base64 (``per_second``, ``peaks``, ``output_revision``)."""
        return self._editor.peaks(job_id, track, owner)

    def track_audio(self, job_id: str, track: Track = "dub", owner: str | None = None) -> Any:
        """The whole original or latest render, mono at 24 kHz, to listen to."""
        return self._editor.track_audio(job_id, track, owner)

    def preview_voice(self, job_id: str, speaker: str, voice: str, owner: str | None = None) -> Any:
        """``speaker``'s first line spoken in ``voice``, to hear before choosing it."""
        return self._editor.preview(job_id, speaker, voice, owner)

    def wait_render(self, job_id: str, timeout: float | None = None) -> dict[str, Any]:
        self._editor.wait(job_id, timeout)
        return self.segments(job_id)

    # Workers

    def start(self) -> None:
        for worker in (*self._workers, self._keeper):
            if not worker.is_alive():
                worker.start()

    def close(self, timeout: float | None = None) -> None:
        """Stops taking jobs and waits for running ones to finish (up to ``timeout``)."""
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        for worker in (*self._workers, self._keeper):
            if worker.is_alive():
                worker.join(timeout)
        if not any(worker.is_alive() for worker in self._workers):
            self._editor.close()
            self._executor.close()
            self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _recover(self) -> None:
        for job_id in self.store.recover():
            shutil.rmtree(self.data_dir / "work" / job_id, ignore_errors=True)

    def _keep(self) -> None:
        """Heartbeats for this engine's jobs; orphans of engines gone since start failed;
        expired uploads removed."""
        self._sweep()
        beats = 0
        while not self._stop.wait(HEARTBEAT_SEC):
            self.store.beat()
            self._recover()
            beats += 1
            if beats % 12 == 0:
                self._sweep()

    def _sweep(self) -> None:
        folder = (self.data_dir / "uploads").resolve()
        sources = [
            Path(s.removeprefix("file://")) for s in self.store.sources(JobStatus.PENDING, *ACTIVE)
        ]
        in_use = {s.parent.name for s in sources if s.resolve().parent.parent == folder}
        uploads.sweep(folder, in_use)

    def _work(self, index: int) -> None:
        slot = self._executor.slot(index)
        self._slots.append(slot)
        try:
            while not self._stop.is_set():
                job_id = self.store.claim()
                if job_id is None:
                    with self._wake:
                        self._wake.wait(timeout=1.0)
                    continue
                self._runner.run(job_id, slot)
        finally:
            slot.close()

    def worker_stats(self) -> list[dict[str, Any]]:
        """Per worker: where it runs, jobs run, backends loaded by role (once each when
        models stay warm), and for Ray whether its actor is alive and how many were started."""
        return [slot.stats() for slot in list(self._slots)]

    # Views

    def _url(self, kind: str, item_id: str, path: Path, expires: datetime) -> str:
        return self.hooks.url_factory(kind, item_id, path, expires)

    def _to_job(self, row: sqlite3.Row) -> Job:
        status = JobStatus(row["status"])
        output_url = expires = None
        if status is JobStatus.COMPLETED and row["output_path"]:
            moment = datetime.fromisoformat(row["updated_at"].replace("Z", "+00:00"))
            moment += self.result_ttl
            output_url = self._url("result", row["id"], Path(row["output_path"]), moment)
            expires = iso(moment)
        return Job(
            job_id=row["id"],
            status=status,
            source_lang=row["source_lang"],
            target_lang=row["target_lang"],
            error=row["error"],
            error_message=row["error_message"],
            progress=json.loads(row["progress"]),
            input_duration_sec=row["input_duration_sec"],
            cost_usd=row["cost_usd"],
            output_url=output_url,
            output_expires_at=expires,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            limits=self.limits.to_dict(),
        )


def _data_folder(folder: Path) -> Path:
    """``folder`` with its parts made. One policy for what it holds (uploads, results,
    sidecars, the key): files keep the umask's mode, and the folder is the owner's alone."""
    for sub in ("uploads", "results", "work"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


def _executor(
    kind: str,
    config: PipelineConfig,
    pipeline_factory: Callable[[], Pipeline] | None,
    ray_address: str | None,
    ray_actor_options: Mapping[str, Any] | None,
) -> ThreadExecutor | RayExecutor:
    if kind == "ray":
        return RayExecutor(config, pipeline_factory, ray_address, ray_actor_options)
    return ThreadExecutor(config, pipeline_factory)
