"""The job engine: ``Engine`` (the façade), the SQLite ``store``, the ``worker`` that runs a
job, and the ``sources`` a job may be fetched from."""

from .._errors import InvalidJobState, JobNotCompleted, JobNotFound
from .engine import Engine
from .records import EngineHooks, Job, JobList, JobResult, JobStatus, UploadTarget

__all__ = [
    "Engine",
    "EngineHooks",
    "InvalidJobState",
    "Job",
    "JobList",
    "JobNotCompleted",
    "JobNotFound",
    "JobResult",
    "JobStatus",
    "UploadTarget",
]
