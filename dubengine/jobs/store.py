"""The job store: one SQLite file (WAL), the only place a job's state changes.

Every status change goes through ``transition``, which allows only the next status of the
lifecycle or ``failed``; ``recover`` fails the jobs a dead process left active.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from .._errors import (
    InvalidJobState,
    InvalidOption,
    JobNotCompleted,
    JobNotFound,
    RenderInProgress,
)
from .records import ACTIVE, NEXT, JobStatus, iso, utc_now

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
    seq INTEGER,
    worker TEXT,
    heartbeat REAL,
    project TEXT,
    revision INTEGER NOT NULL DEFAULT 0,
    output_revision INTEGER NOT NULL DEFAULT 0,
    rendering INTEGER NOT NULL DEFAULT 0,
    render TEXT,
    undo TEXT
);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, seq);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
"""
T = TypeVar("T")
_ADDED = (
    ("worker", "TEXT"),
    ("heartbeat", "REAL"),
    ("project", "TEXT"),
    ("revision", "INTEGER NOT NULL DEFAULT 0"),
    ("output_revision", "INTEGER NOT NULL DEFAULT 0"),
    ("rendering", "INTEGER NOT NULL DEFAULT 0"),
    ("render", "TEXT"),
    ("undo", "TEXT"),
)
CRASHED = "the dubbing process stopped while this job was running; create the job again"
RENDER_CRASHED = "the process rendering this dub stopped; render again"
# Engines of this process that are running (their ids); a job claimed by any other engine
# of this same PID is an orphan: its engine is gone, whatever the PID says.
_LIVE_ENGINES: set[str] = set()
FAILED_PROGRESS = {"stage": "failed", "percent": 0}
HEARTBEAT_SEC = 5.0  # how often a running engine says its jobs are still running
STALE_SEC = 30.0  # a job not vouched for this long, by an engine we cannot see, is orphaned


class JobStore:
    """Jobs in ``path``; one connection per thread."""

    def __init__(self, path: Path, stale_after: float = STALE_SEC) -> None:
        self.path = path
        self.stale_after = stale_after
        self._local = threading.local()
        self.worker_id = worker_identity()
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as setup:
            setup.execute("PRAGMA journal_mode=WAL")
            setup.executescript(_SCHEMA)
            columns = {row[1] for row in setup.execute("PRAGMA table_info(jobs)")}
            for column, kind in _ADDED:
                if column not in columns:  # a database from before the column existed
                    setup.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")
        _LIVE_ENGINES.add(self.worker_id)

    def close(self) -> None:
        _LIVE_ENGINES.discard(self.worker_id)

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        connection = getattr(self._local, "db", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
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

    def insert(
        self,
        job_id: str,
        owner: str | None,
        source: str,
        target_lang: str,
        source_lang: str,
        options: dict[str, Any],
    ) -> None:
        now = iso(utc_now())
        with self._db() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0]
            db.execute(
                "INSERT INTO jobs (id, owner, status, source, source_lang, target_lang, options,"
                " progress, created_at, updated_at, history, seq) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    job_id,
                    owner,
                    JobStatus.PENDING.value,
                    source,
                    source_lang,
                    target_lang,
                    json.dumps(options),
                    json.dumps({"stage": "pending", "percent": 0}),
                    now,
                    now,
                    json.dumps([["pending", now]]),
                    seq,
                ),
            )

    def row(self, job_id: str, owner: str | None = None) -> sqlite3.Row:
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None or (owner is not None and row["owner"] != owner):
            raise JobNotFound(f"no job {job_id}")
        return row

    def page(self, limit: int, offset: int, owner: str | None) -> tuple[int, list[sqlite3.Row]]:
        """(total, the rows of this page, newest first)."""
        where, args = ("WHERE owner IS ?", (owner,)) if owner is not None else ("", ())
        with self._db() as db:
            total = db.execute(f"SELECT COUNT(*) FROM jobs {where}", args).fetchone()[0]
            rows = db.execute(
                f"SELECT * FROM jobs {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
                (*args, limit, offset),
            ).fetchall()
        return total, rows

    def transition(self, job_id: str, status: JobStatus, **fields: Any) -> None:
        """The one place a job changes status; any move but the next one or failed raises."""
        with self._db() as db:
            current = JobStatus(
                db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]
            )
            allowed = status is NEXT.get(current) or (
                status is JobStatus.FAILED
                and current not in (JobStatus.COMPLETED, JobStatus.FAILED)
            )
            if not allowed:
                raise InvalidJobState(
                    f"job {job_id} cannot go from {current.value} to {status.value}"
                )
            _update(db, job_id, status=status.value, **fields)

    def set(self, job_id: str, **fields: Any) -> None:
        with self._db() as db:
            _update(db, job_id, **fields)

    def history(self, job_id: str, owner: str | None = None) -> list[tuple[str, str]]:
        return [tuple(step) for step in json.loads(self.row(job_id, owner)["history"])]

    def claim(self) -> str | None:
        """The oldest pending job, moved to downloading by this process; None if none."""
        with self._db() as db:
            row = db.execute(
                "SELECT id FROM jobs WHERE status = ? ORDER BY seq LIMIT 1",
                (JobStatus.PENDING.value,),
            ).fetchone()
            if row is None:
                return None
            _update(
                db,
                row["id"],
                status=JobStatus.DOWNLOADING.value,
                worker_pid=os.getpid(),
                worker=self.worker_id,
                heartbeat=time.time(),
                progress={"stage": "downloading", "percent": 0},
            )
            return row["id"]

    def sources(self, *statuses: JobStatus) -> list[str]:
        """The sources of the jobs in these statuses."""
        marks = ", ".join("?" * len(statuses))
        with self._db() as db:
            rows = db.execute(
                f"SELECT source FROM jobs WHERE status IN ({marks})", [s.value for s in statuses]
            ).fetchall()
        return [row["source"] for row in rows]

    def beat(self) -> None:
        """Vouches for the jobs (and renders) this engine is running."""
        with self._db() as db:
            db.execute(
                "UPDATE jobs SET heartbeat = ? WHERE worker = ?"
                " AND (status IN (?, ?, ?) OR rendering = 1)",
                (time.time(), self.worker_id, *(s.value for s in ACTIVE)),
            )

    # Editing a completed dub: its project state changes in one transaction each.

    def edit(self, job_id: str, owner: str | None, change: Callable[[dict], T]) -> tuple[T, int]:
        """``change`` applied to the job's project state, the revision bumped; nothing
        changes if it raises. Returns what it returned and the new revision."""
        with self._db() as db:
            row = self._editable(db, job_id, owner)
            state = json.loads(row["project"])
            result = change(state)
            revision = row["revision"] + 1
            project = json.dumps(state, ensure_ascii=False)
            _update(db, job_id, project=project, revision=revision, undo=row["project"])
        return result, revision

    def undo(self, job_id: str, owner: str | None) -> int:
        """The project as it was before the last edit (one step, back to the last render:
        a render's fits and mix belong to the state it rendered); the new revision."""
        with self._db() as db:
            row = self._editable(db, job_id, owner)
            if row["undo"] is None:
                raise InvalidOption(f"job {job_id} has no edit to undo since its last render")
            revision = row["revision"] + 1
            _update(db, job_id, project=row["undo"], revision=revision, undo=None)
        return revision

    def claim_render(self, job_id: str, owner: str | None) -> tuple[dict, int]:
        """The project state and its revision, the job marked rendering by this engine."""
        with self._db() as db:
            row = self._editable(db, job_id, owner)
            _update(
                db,
                job_id,
                rendering=1,
                worker=self.worker_id,
                heartbeat=time.time(),
                render={
                    "state": "rendering",
                    "revision": row["revision"],
                    "percent": 0,
                    "stage": "synthesizing",
                },
            )
        return json.loads(row["project"]), row["revision"]

    def finish_render(self, job_id: str, state: dict, revision: int, report: str) -> None:
        with self._db() as db:
            _update(
                db,
                job_id,
                project=json.dumps(state, ensure_ascii=False),
                rendering=0,
                output_revision=revision,
                report=report,
                undo=None,
                render={"state": "done", "revision": revision, "percent": 100},
            )

    def fail_render(self, job_id: str, message: str) -> None:
        with self._db() as db:
            row = db.execute("SELECT render FROM jobs WHERE id = ?", (job_id,)).fetchone()
            render = json.loads(row["render"] or "{}")
            _update(db, job_id, rendering=0, render=render | {"state": "failed", "error": message})

    def project_row(self, job_id: str, owner: str | None) -> sqlite3.Row:
        """The row of a completed job that kept what editing needs."""
        with self._db() as db:
            return _with_project(db, job_id, owner)

    def _editable(self, db: sqlite3.Connection, job_id: str, owner: str | None) -> sqlite3.Row:
        row = _with_project(db, job_id, owner)
        if row["rendering"]:
            raise RenderInProgress(f"job {job_id} is rendering; edit it when the render is done")
        return row

    def recover(self) -> list[str]:
        """Fails the jobs whose engine is gone (those of a live one, a server beside this
        CLI say, are left alone); returns their ids."""
        with self._db() as db:
            rows = db.execute(
                "SELECT id, worker_pid, worker, heartbeat FROM jobs WHERE status IN (?, ?, ?)",
                tuple(s.value for s in ACTIVE),
            ).fetchall()
            dead = [row["id"] for row in rows if not self._running(row)]
            for job_id in dead:
                _update(
                    db,
                    job_id,
                    status=JobStatus.FAILED.value,
                    error="processing_failed",
                    error_message=CRASHED,
                    progress=FAILED_PROGRESS,
                )
            rendering = db.execute(
                "SELECT id, worker_pid, worker, heartbeat, render FROM jobs WHERE rendering = 1"
            ).fetchall()
            for row in rendering:
                if not self._running(row):
                    failed = json.loads(row["render"] or "{}") | {
                        "state": "failed",
                        "error": RENDER_CRASHED,
                    }
                    _update(db, row["id"], rendering=0, render=failed)
        return dead

    def _running(self, row: sqlite3.Row) -> bool:
        """Whether the engine that claimed a job is still running it. A PID alone proves
        nothing: PIDs are reused, and in a container every server is PID 1. Within our own
        PID namespace the process's start time tells a reused PID from the claimant; a
        claimant we cannot see (another namespace or machine) must keep its heartbeat."""
        worker = row["worker"]
        if worker is None:  # claimed by a version before workers were identified
            return bool(row["worker_pid"]) and _exists(row["worker_pid"]) != ""
        pid_text, start, namespace, _ = [*worker.split(":", 3), "", "", ""][:4]
        if namespace == _namespace() and pid_text.isdigit():
            if int(pid_text) == os.getpid():
                return worker in _LIVE_ENGINES
            return start != "" and _start_time(int(pid_text)) == start
        return time.time() - (row["heartbeat"] or 0.0) < self.stale_after


def _with_project(db: sqlite3.Connection, job_id: str, owner: str | None) -> sqlite3.Row:
    row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None or (owner is not None and row["owner"] != owner):
        raise JobNotFound(f"no job {job_id}")
    if row["status"] != JobStatus.COMPLETED.value:
        raise JobNotCompleted(f"job {job_id} is {row['status']}: only a completed dub edits")
    if row["project"] is None:
        raise InvalidOption(f"job {job_id} was dubbed without keeping what editing needs")
    return row


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


def worker_identity() -> str:
    """ "PID:start time:PID namespace and boot:engine id": one engine of one process."""
    pid = os.getpid()
    return f"{pid}:{_start_time(pid)}:{_namespace()}:{uuid.uuid4().hex[:12]}"


def _namespace() -> str:
    """This process's PID namespace on this boot ("" where /proc does not say)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{os.readlink('/proc/self/ns/pid')}@{boot}".replace(":", "_")
    except OSError:
        return ""


def _start_time(pid: int) -> str:
    """The process's start time since boot (field 22 of /proc/PID/stat), "" if no such
    process; where there is no /proc, whether the PID exists at all."""
    if not Path("/proc/self/stat").is_file():
        return _exists(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _exists(pid: int) -> str:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return ""
    except PermissionError:  # someone else's live process
        return "unknown"
    return "unknown"
