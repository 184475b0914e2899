"""The job façade: the API reference's job lifecycle, in-process, persisted in SQLite.

Jobs move ``pending → downloading → processing → uploading → completed``, or to ``failed``
from any of them, through one transition function that refuses any other move. Background
worker threads run them. If the process dies while a job runs, the next ``Engine`` on the same
data folder marks that job ``failed`` with ``processing_failed`` (it does not run it again: a
job that killed its process once would likely do it again, and the user should decide).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from ._errors import DubError, InvalidOption, RequestError
from ._pipeline import STAGE_WEIGHTS, STAGES, DubOptions, Pipeline, PipelineConfig
from ._sources import AddressPolicy, fetch, parse_source
from .media import Limits, validate

log = logging.getLogger("dubengine")

RESULT_TTL = timedelta(hours=48)
UPLOAD_TTL = timedelta(hours=1)
MAX_PAGE = 100
SUMMARY_FIELDS = ("job_id", "status", "source_lang", "target_lang", "created_at", "updated_at")


class JobStatus(StrEnum):
    PENDING = "pending"
    DOWNLOADING = "downloading"
    PROCESSING = "processing"
    UPLOADING = "uploading"
    COMPLETED = "completed"
    FAILED = "failed"


ACTIVE = (JobStatus.DOWNLOADING, JobStatus.PROCESSING, JobStatus.UPLOADING)
_NEXT = {
    JobStatus.PENDING: JobStatus.DOWNLOADING,
    JobStatus.DOWNLOADING: JobStatus.PROCESSING,
    JobStatus.PROCESSING: JobStatus.UPLOADING,
    JobStatus.UPLOADING: JobStatus.COMPLETED,
}


class JobNotFound(RequestError):
    code: ClassVar[str] = "not_found"
    status: ClassVar[int] = 404


class JobNotCompleted(RequestError):
    code: ClassVar[str] = "job_not_completed"
    status: ClassVar[int] = 409


class InvalidJobState(DubError):
    code: ClassVar[str] = "processing_failed"


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


@dataclass(frozen=True, slots=True)
class Job:
    """A snapshot of a job, with the API reference's fields (``to_dict``)."""

    job_id: str
    status: JobStatus
    source_lang: str
    target_lang: str
    error: str | None  # the job-level error code when failed
    error_message: str | None  # what went wrong, in words
    progress: dict[str, Any]
    input_duration_sec: float | None
    cost_usd: float | None
    output_url: str | None
    output_expires_at: str | None
    created_at: str
    updated_at: str
    limits: dict[str, float | int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The "Get Job Status" response."""
        return {
            "job_id": self.job_id,
            "status": self.status.value,
            "source_lang": self.source_lang,
            "target_lang": self.target_lang,
            "error": self.error,
            "error_message": self.error_message,
            "progress": self.progress,
            "input_duration_sec": self.input_duration_sec,
            "cost_usd": self.cost_usd,
            "output_url": self.output_url,
            "output_expires_at": self.output_expires_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    def created(self) -> dict[str, Any]:
        """The "Create Dubbing Job" response."""
        return {
            "job_id": self.job_id,
            "status": self.status.value,
            "source_lang": self.source_lang,
            "target_lang": self.target_lang,
            "created_at": self.created_at,
            "limits": self.limits,
        }

    def summary(self) -> dict[str, Any]:
        """One entry of the "List Jobs" response."""
        full = self.to_dict()
        return {k: full[k] for k in SUMMARY_FIELDS}


@dataclass(frozen=True, slots=True)
class JobList:
    jobs: list[Job]
    total: int
    limit: int
    offset: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobs": [j.summary() for j in self.jobs],
            "total": self.total,
            "limit": self.limit,
            "offset": self.offset,
        }


@dataclass(frozen=True, slots=True)
class JobResult:
    job_id: str
    download_url: str
    expires_at: str
    path: Path

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "download_url": self.download_url,
            "expires_at": self.expires_at,
        }


@dataclass(frozen=True, slots=True)
class UploadTarget:
    upload_url: str
    source_url: str
    upload_id: str
    max_file_size_bytes: int
    expires_in_sec: int
    path: Path  # where the upload's bytes go

    def to_dict(self) -> dict[str, Any]:
        return {
            "upload_url": self.upload_url,
            "source_url": self.source_url,
            "upload_id": self.upload_id,
            "max_file_size_bytes": self.max_file_size_bytes,
            "expires_in_sec": self.expires_in_sec,
        }


# (kind "result" | "upload", id, path, expires) → URL; the server signs http URLs instead.
UrlFactory = Callable[[str, str, Path, datetime], str]


def file_url(kind: str, item_id: str, path: Path, expires: datetime) -> str:
    return path.resolve().as_uri()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    source_lang TEXT NOT NULL,
    detected_lang TEXT,
    target_lang TEXT NOT NULL,
    options TEXT NOT NULL,
    error TEXT,
    error_message TEXT,
    progress TEXT NOT NULL,
    input_duration_sec REAL,
    cost_usd REAL,
    output_path TEXT,
    report TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    history TEXT NOT NULL DEFAULT '[]',
    worker_pid INTEGER,
    seq INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, seq);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
"""


class Engine:
    """Runs dubbing jobs in background workers, with the API reference's lifecycle.

    Args:
        data_dir: where the job database, uploads and results live.
        workers: worker threads (each holds its own models; 1 suits a 2-core CPU).
        config: backends, device and timing-fit settings for every job.
        limits: input limits (default the reference's).
        price_per_minute: USD per input minute for ``cost_usd`` (default 0.50).
        trust_private_urls: http(s) sources may also resolve to these networks (CIDR
            strings), or to any address with True; by default only public addresses.
        url_factory: how result and upload URLs are made (default file:// URLs).
        pipeline_factory: makes each worker's pipeline (default a new one from ``config``);
            pipelines it makes are the caller's to close.
        result_ttl: how long a download URL stays valid (48 h).
        upload_ttl: how long an upload URL stays valid (1 h).
        start: start the workers now.
    """

    def __init__(
        self,
        data_dir: str | Path = "dubengine-data",
        workers: int = 1,
        config: PipelineConfig | None = None,
        limits: Limits | None = None,
        price_per_minute: float = 0.50,
        trust_private_urls: bool | Iterable[str] = False,
        url_factory: UrlFactory = file_url,
        pipeline_factory: Callable[[], Pipeline] | None = None,
        result_ttl: timedelta = RESULT_TTL,
        upload_ttl: timedelta = UPLOAD_TTL,
        start: bool = True,
    ) -> None:
        self._pipeline_factory = pipeline_factory
        self.result_ttl = result_ttl
        self.upload_ttl = upload_ttl
        # Called with (job, owner) when a job completes, e.g. to charge a balance.
        self.on_completed: Callable[[Job, str | None], None] | None = None
        self.data_dir = Path(data_dir)
        for sub in ("uploads", "results", "work"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        self.config = config or PipelineConfig()
        self.limits = limits or Limits()
        self.price_per_minute = price_per_minute
        self.policy = AddressPolicy.of(trust_private_urls)
        self.url_factory = url_factory
        self._db_path = self.data_dir / "jobs.sqlite3"
        self._local = threading.local()
        self._wake = threading.Condition()
        self._stop = threading.Event()
        with contextlib.closing(sqlite3.connect(self._db_path, timeout=30)) as setup:
            setup.execute("PRAGMA journal_mode=WAL")
            setup.executescript(_SCHEMA)
        self._recover()
        self._workers = [
            threading.Thread(target=self._work, name=f"dubengine-worker-{i}", daemon=True)
            for i in range(workers)
        ]
        if start:
            self.start()

    # The API

    def create_job(
        self,
        source: str | Path,
        target_lang: str,
        source_lang: str = "auto",
        reduce_accent: bool = False,
        translation_lag_time: float = 0,
        original_speech_volume: float = 0,
        owner: str | None = None,
    ) -> Job:
        """Queues a dub; returns at once with the job ``pending``.

        Raises:
            InvalidUrl, UnsupportedLanguage, InvalidOption: the request is refused.
        """
        options = DubOptions(
            target_lang=target_lang,
            source_lang=source_lang,
            reduce_accent=bool(reduce_accent),
            translation_lag_time=float(translation_lag_time),
            original_speech_volume=float(original_speech_volume),
        ).validate()
        checked = parse_source(source, self.policy)
        job_id = f"dub_{uuid.uuid4().hex[:12]}"
        now = iso(utc_now())
        with self._db() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0]
            db.execute(
                "INSERT INTO jobs (id, owner, status, source, source_lang, target_lang, options,"
                " progress, created_at, updated_at, history, seq) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (job_id, owner, JobStatus.PENDING.value, checked.text, source_lang, target_lang,
                 json.dumps(_options_dict(options)), json.dumps({"stage": "pending", "percent": 0}),
                 now, now, json.dumps([["pending", now]]), seq),
            )  # fmt: skip
        with self._wake:
            self._wake.notify()
        return self.get_job(job_id, owner)

    def get_job(self, job_id: str, owner: str | None = None) -> Job:
        return self._to_job(self._row(job_id, owner))

    def list_jobs(self, limit: int = 20, offset: int = 0, owner: str | None = None) -> JobList:
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidOption(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
        if offset < 0:
            raise InvalidOption(f"offset must be 0 or more, not {offset}")
        where, args = ("WHERE owner IS ?", (owner,)) if owner is not None else ("", ())
        with self._db() as db:
            total = db.execute(f"SELECT COUNT(*) FROM jobs {where}", args).fetchone()[0]
            rows = db.execute(
                f"SELECT * FROM jobs {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
        return JobList([self._to_job(r) for r in rows], total, limit, offset)

    def get_result(self, job_id: str, owner: str | None = None) -> JobResult:
        """A fresh download URL for a completed job, valid 48 hours."""
        row = self._row(job_id, owner)
        if row["status"] != JobStatus.COMPLETED.value or not row["output_path"]:
            raise JobNotCompleted(f"job {job_id} is {row['status']}, not completed")
        path = Path(row["output_path"])
        expires = utc_now() + self.result_ttl
        return JobResult(job_id, self.url_factory("result", job_id, path, expires),
                         iso(expires) or "", path)  # fmt: skip

    def upload_url(self, filename: str, content_type: str) -> UploadTarget:
        """Where to put a local file before creating a job from ``source_url``."""
        upload_id = uuid.uuid4().hex[:16]
        name = Path(filename).name or "upload"
        folder = self.data_dir / "uploads" / upload_id
        folder.mkdir(parents=True)
        path = folder / name
        expires = utc_now() + self.upload_ttl
        url = self.url_factory("upload", upload_id, path, expires)
        source_url = path.resolve().as_uri() if url.startswith("file:") else url.split("?")[0]
        return UploadTarget(url, source_url, upload_id, self.limits.max_file_size_bytes,
                            int(self.upload_ttl.total_seconds()), path)  # fmt: skip

    def get_report(self, job_id: str, owner: str | None = None) -> dict[str, Any] | None:
        """The completed job's transcript, fit report, stage timings and warnings."""
        report = self._row(job_id, owner)["report"]
        return json.loads(report) if report else None

    def wait(self, job_id: str, timeout: float = 600, poll: float = 0.2) -> Job:
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if job.status in (JobStatus.COMPLETED, JobStatus.FAILED):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status.value} after {timeout} s")
            time.sleep(poll)

    def start(self) -> None:
        for worker in self._workers:
            if not worker.is_alive():
                worker.start()

    def close(self, timeout: float | None = None) -> None:
        """Stops taking jobs and waits for running ones to finish (up to ``timeout``)."""
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        for worker in self._workers:
            if worker.is_alive():
                worker.join(timeout)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Storage

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        connection = getattr(self._local, "db", None)
        if connection is None:
            connection = sqlite3.connect(self._db_path, timeout=30, isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA busy_timeout=30000")
            self._local.db = connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _row(self, job_id: str, owner: str | None) -> sqlite3.Row:
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None or (owner is not None and row["owner"] != owner):
            raise JobNotFound(f"no job {job_id}")
        return row

    def _to_job(self, row: sqlite3.Row) -> Job:
        status = JobStatus(row["status"])
        output_url = expires = None
        if status is JobStatus.COMPLETED and row["output_path"]:
            moment = datetime.fromisoformat(row["updated_at"].replace("Z", "+00:00"))
            moment += self.result_ttl
            output_url = self.url_factory("result", row["id"], Path(row["output_path"]), moment)
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

    def _transition(self, job_id: str, status: JobStatus, **fields: Any) -> None:
        """The one place a job changes status; any move but the next one or failed raises."""
        with self._db() as db:
            current = JobStatus(
                db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
            )
            allowed = status is _NEXT.get(current) or (
                status is JobStatus.FAILED
                and current not in (JobStatus.COMPLETED, JobStatus.FAILED)
            )
            if not allowed:
                raise InvalidJobState(
                    f"job {job_id} cannot go from {current.value} to {status.value}"
                )
            self._update(db, job_id, status=status.value, **fields)

    def _set(self, job_id: str, **fields: Any) -> None:
        with self._db() as db:
            self._update(db, job_id, **fields)

    def history(self, job_id: str, owner: str | None = None) -> list[tuple[str, str]]:
        """Every status the job went through, with when: [(status, ISO time), ...]."""
        return [tuple(step) for step in json.loads(self._row(job_id, owner)["history"])]

    @staticmethod
    def _update(db: sqlite3.Connection, job_id: str, **fields: Any) -> None:
        fields["updated_at"] = iso(utc_now())
        if "status" in fields:
            (history,) = db.execute("SELECT history FROM jobs WHERE id = ?", (job_id,)).fetchone()
            fields["history"] = json.dumps(
                [*json.loads(history), [fields["status"], fields["updated_at"]]]
            )
        fields = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in fields.items()}
        columns = ", ".join(f"{k} = ?" for k in fields)
        db.execute(f"UPDATE jobs SET {columns} WHERE id = ?", (*fields.values(), job_id))

    def _recover(self) -> None:
        """Jobs a dead process left running are failed, not left running forever. Jobs of a
        live process (a server beside this CLI, say) are left alone."""
        with self._db() as db:
            rows = [
                row
                for row in db.execute(
                    "SELECT id, worker_pid FROM jobs WHERE status IN (?, ?, ?)",
                    tuple(s.value for s in ACTIVE),
                ).fetchall()
                if not _alive(row["worker_pid"])
            ]
            for row in rows:
                self._update(
                    db, row["id"], status=JobStatus.FAILED.value, error="processing_failed",
                    error_message="the dubbing process stopped while this job was running; "
                    "create the job again",
                )  # fmt: skip
        for row in rows:
            shutil.rmtree(self.data_dir / "work" / row["id"], ignore_errors=True)

    # Workers

    def _work(self) -> None:
        owned = self._pipeline_factory is None
        pipeline = Pipeline(self.config) if owned else self._pipeline_factory()  # type: ignore[misc]
        try:
            while not self._stop.is_set():
                job_id = self._claim()
                if job_id is None:
                    with self._wake:
                        self._wake.wait(timeout=1.0)
                    continue
                self._run(job_id, pipeline)
        finally:
            if owned:
                pipeline.close()

    def _claim(self) -> str | None:
        with self._db() as db:
            row = db.execute(
                "SELECT id FROM jobs WHERE status = ? ORDER BY seq LIMIT 1",
                (JobStatus.PENDING.value,),
            ).fetchone()
            if row is None:
                return None
            self._update(db, row["id"], status=JobStatus.DOWNLOADING.value, worker_pid=os.getpid(),
                         progress={"stage": "downloading", "percent": 0})  # fmt: skip
            return row["id"]

    def _run(self, job_id: str, pipeline: Pipeline) -> None:
        work = self.data_dir / "work" / job_id
        work.mkdir(parents=True, exist_ok=True)
        try:
            self._execute(job_id, pipeline, work)
        except DubError as exc:
            self._fail(job_id, exc.code, exc.message)
        except Exception as exc:  # a bug, not bad input: say so, keep the trace in the log
            log.exception("job %s failed", job_id)
            self._fail(job_id, "processing_failed", f"internal error: {type(exc).__name__}: {exc}")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _fail(self, job_id: str, code: str, message: str) -> None:
        with contextlib.suppress(InvalidJobState):
            self._transition(job_id, JobStatus.FAILED, error=code, error_message=message)

    def _execute(self, job_id: str, pipeline: Pipeline, work: Path) -> None:
        from ._dub import default_output, write_sidecars

        row = self._row(job_id, None)
        options = DubOptions(target_lang=row["target_lang"], source_lang=row["source_lang"],
                             **json.loads(row["options"]))  # fmt: skip
        source = parse_source(row["source"], self.policy)
        path = fetch(source, work, self.limits, self.policy)
        info = validate(path, self.limits)
        self._transition(job_id, JobStatus.PROCESSING, input_duration_sec=round(info.duration, 3),
                         progress=_progress(0, 0.0))  # fmt: skip
        reporter = _ProgressWriter(lambda p: self._set(job_id, progress=p))
        out = work / default_output(info, options.target_lang).name
        result = pipeline.run(info, options, out, reporter)
        dubbed = write_sidecars(result, info, options)
        self._transition(job_id, JobStatus.UPLOADING, detected_lang=result.transcript.language,
                         progress={"stage": "uploading", "percent": 99})  # fmt: skip
        final = self._store_result(job_id, result.output, dubbed.files.values())
        report = dubbed.to_dict()
        self._transition(
            job_id, JobStatus.COMPLETED, output_path=str(final),
            cost_usd=round(info.duration / 60 * self.price_per_minute, 2),
            progress={"stage": "completed", "percent": 100},
            report=json.dumps(report, ensure_ascii=False),
        )  # fmt: skip
        if self.on_completed is not None:
            self.on_completed(self.get_job(job_id), row["owner"])

    def _store_result(self, job_id: str, output: Path, sidecars: Any) -> Path:
        """Moves the output and its sidecars into results/ in one rename of their folder."""
        staging = self.data_dir / "results" / f".{job_id}.partial"
        staging.mkdir(parents=True, exist_ok=True)
        for path in (output, *sidecars):
            shutil.move(str(path), staging / Path(path).name)
        final_dir = self.data_dir / "results" / job_id
        staging.rename(final_dir)
        return final_dir / output.name


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _options_dict(options: DubOptions) -> dict[str, Any]:
    return {
        "reduce_accent": options.reduce_accent,
        "translation_lag_time": options.translation_lag_time,
        "original_speech_volume": options.original_speech_volume,
    }


def _progress(stage_index: int, fraction: float) -> dict[str, Any]:
    done = sum(STAGE_WEIGHTS[:stage_index]) + STAGE_WEIGHTS[stage_index] * fraction
    percent = min(98, int(100 * done / sum(STAGE_WEIGHTS)))
    stage, name = STAGES[stage_index]
    return {"stage": stage, "stage_name": name, "percent": percent}


class _ProgressWriter:
    """Stage progress → the job's progress, written only when the percent or stage moves,
    and never backwards."""

    def __init__(self, write: Callable[[dict[str, Any]], None]) -> None:
        self._write = write
        self._last: dict[str, Any] = {"stage": None, "percent": -1}

    def __call__(self, stage_index: int, fraction: float) -> None:
        progress = _progress(stage_index, fraction)
        if progress["percent"] < self._last["percent"]:
            return
        if progress["stage"] != self._last["stage"] or progress["percent"] > self._last["percent"]:
            self._last = progress
            self._write(progress)
