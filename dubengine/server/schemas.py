"""Request and response bodies, with the reference's field names, derived from the
dataclasses the engine returns (and ``DubOptions`` for the job request), so a field is
declared once."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from .._options import DubOptions
from .._types import LANGUAGES
from ..jobs.records import SUMMARY_FIELDS, Job, JobList, JobResult, UploadTarget


def model_of(
    name: str, source: type, exclude: Iterable[str] = (), strict: bool = False, **override: Any
) -> type[BaseModel]:
    """A pydantic model with the fields (and types, and defaults) of dataclass ``source``;
    ``strict``: no coercion ("yes" is not a bool, true is not a number)."""
    hints = typing.get_type_hints(source)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(source):
        if f.name in exclude:
            continue
        default = f.default if f.default is not dataclasses.MISSING else ...
        fields[f.name] = (hints[f.name], default)
    config = ConfigDict(strict=True, extra="forbid") if strict else None
    return create_model(name, __config__=config, **(fields | override))


class UploadRequest(BaseModel):
    model_config = ConfigDict(strict=True)

    filename: str = Field(min_length=1)
    content_type: str = Field(min_length=1)


class LimitsBody(BaseModel):
    max_duration_sec: float
    max_file_size_bytes: int


_JOB_ONLY = ("limits",)


def _job_fields_but(keep: Iterable[str]) -> list[str]:
    return [f.name for f in dataclasses.fields(Job) if f.name not in keep]


UploadResponse = model_of("UploadResponse", UploadTarget, exclude=("path",))
# Enums and ranges documented in the schema; enforced by DubOptions, so a bad language
# keeps the reference's own code (unsupported_language) rather than a validation error.
_CODES = sorted(LANGUAGES)
JobRequest = model_of(
    "JobRequest",
    DubOptions,
    strict=True,
    source_url=(str, Field(min_length=1, json_schema_extra={"format": "uri"})),
    target_lang=(str, Field(json_schema_extra={"enum": _CODES})),
    source_lang=(str, Field("auto", json_schema_extra={"enum": ["auto", *_CODES]})),
    translation_lag_time=(float, Field(0.0, json_schema_extra={"minimum": 0, "maximum": 3})),
    original_speech_volume=(float, Field(0.0, json_schema_extra={"minimum": 0, "maximum": 1})),
    # Extensions (not in the hosted API): subtitles to start from, uploaded to this server
    subtitles_url=(
        str | None,
        Field(
            None,
            description=(
                "Extension: an upload URL of this server holding source-language SRT/WebVTT (or "
                "an earlier dub's transcript JSON); the dub keeps its times and text, no "
                "transcription. "
                "Needs source_lang."
            ),
        ),
    ),
    translated_subtitles_url=(
        str | None,
        Field(
            None,
            description=(
                "Extension: an upload URL of this server holding the same cues in the target "
                "language; spoken exactly as written, no translation."
            ),
        ),
    ),
)
JobStatusResponse = model_of("JobStatusResponse", Job, exclude=_JOB_ONLY)
JobCreated = model_of(
    "JobCreated",
    Job,
    exclude=_job_fields_but(("job_id", "status", "source_lang", "target_lang", "created_at")),
    limits=(LimitsBody, ...),
)
JobSummary = model_of("JobSummary", Job, exclude=_job_fields_but(SUMMARY_FIELDS))
JobListResponse = model_of("JobListResponse", JobList, jobs=(list[JobSummary], ...))
ResultResponse = model_of("ResultResponse", JobResult, exclude=("path",))


def job_options(body: BaseModel) -> dict[str, Any]:
    """The ``DubOptions`` fields of a job request, for ``Engine.create_job``."""
    names = {f.name for f in dataclasses.fields(DubOptions)} - {"target_lang"}
    return {name: getattr(body, name) for name in names}
