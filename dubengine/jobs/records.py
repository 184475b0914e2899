"""What the job API hands out: a job's snapshot, a page of jobs, a result, an upload
target, with the API reference's fields (``to_dict``), and the lifecycle they move through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

SUMMARY_FIELDS = ("job_id", "status", "source_lang", "target_lang", "created_at", "updated_at")


class JobStatus(StrEnum):
    PENDING = "pending"
    DOWNLOADING = "downloading"
    PROCESSING = "processing"
    UPLOADING = "uploading"
    COMPLETED = "completed"
    FAILED = "failed"


ACTIVE = (JobStatus.DOWNLOADING, JobStatus.PROCESSING, JobStatus.UPLOADING)
NEXT = {
    JobStatus.PENDING: JobStatus.DOWNLOADING,
    JobStatus.DOWNLOADING: JobStatus.PROCESSING,
    JobStatus.PROCESSING: JobStatus.UPLOADING,
    JobStatus.UPLOADING: JobStatus.COMPLETED,
}


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


@dataclass(frozen=True, slots=True)
class EngineHooks:
    """What a host (the server) plugs into the engine at construction.

    Attributes:
        url_factory: makes result and upload URLs (default file:// URLs).
        on_completed: called with (job, owner) when a job completes, e.g. to charge a balance.
    """

    url_factory: UrlFactory = file_url
    on_completed: Callable[[Job, str | None], None] | None = None
