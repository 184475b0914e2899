"""Errors, each carrying the API reference's error code.

The tree::

    DubError                      code "processing_failed", HTTP 500
    ├── RequestError              a request is refused (HTTP 4xx)
    │   ├── InvalidUrl            invalid_url
    │   ├── UnsupportedLanguage   unsupported_language
    │   ├── InvalidOption         invalid_request (an option out of its range)
    │   ├── JobNotFound           not_found, 404
    │   ├── LineNotFound          not_found, 404 (an edited dub has no such line)
    │   ├── JobNotCompleted       job_not_completed, 409
    │   └── RenderInProgress      render_in_progress, 409 (an extension: edits wait for it)
    ├── ApiError                  the server's own: unauthorized, rate_limited, ... (any status)
    ├── InvalidJobState           a lifecycle move that is not allowed (a bug)
    ├── MediaError                the input is refused: video_too_long, video_too_short,
    │                             video_too_large or unsupported_format (one type, code per case)
    ├── DownloadFailed            download_failed
    ├── ProcessingFailed          processing_failed
    └── BackendError              a model backend cannot be used
        ├── UnknownBackend        no backend of that name for the stage
        ├── BackendUnavailable    its optional dependency is not installed
        ├── ModelNotInstalled     its weight package is not installed
        └── DeviceUnavailable     cuda asked for, none present

Library code raises these and never prints or exits; the CLI maps them to exit codes and the
server renders ``{"error": {"code": ..., "message": ...}}``.
"""

from __future__ import annotations

from typing import ClassVar

MEDIA_ERROR_CODES = frozenset(
    {"video_too_long", "video_too_short", "video_too_large", "unsupported_format"}
)


class DubError(Exception):
    """Base of every dubengine error; ``code`` is the API's error code."""

    code: ClassVar[str] = "processing_failed"
    status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class RequestError(DubError):
    code: ClassVar[str] = "invalid_request"
    status: ClassVar[int] = 400


class InvalidUrl(RequestError):
    code: ClassVar[str] = "invalid_url"


class UnsupportedLanguage(RequestError):
    code: ClassVar[str] = "unsupported_language"


class InvalidOption(RequestError):
    code: ClassVar[str] = "invalid_request"


class MediaError(DubError):
    """The input media is refused; ``code`` says why, as in the reference's job-level errors."""

    status: ClassVar[int] = 422

    def __init__(self, code: str, message: str) -> None:
        if code not in MEDIA_ERROR_CODES:
            raise ValueError(f"not a media error code: {code!r}")
        super().__init__(message)
        self.code = code  # type: ignore[misc]  # per instance: one type, four codes


class DownloadFailed(DubError):
    code: ClassVar[str] = "download_failed"
    status: ClassVar[int] = 422


class ProcessingFailed(DubError):
    code: ClassVar[str] = "processing_failed"


class BackendError(DubError):
    code: ClassVar[str] = "processing_failed"


class UnknownBackend(BackendError):
    pass


class BackendUnavailable(BackendError):
    pass


class ModelNotInstalled(BackendError):
    pass


class DeviceUnavailable(BackendError):
    pass


class JobNotFound(RequestError):
    code: ClassVar[str] = "not_found"
    status: ClassVar[int] = 404


class JobNotCompleted(RequestError):
    code: ClassVar[str] = "job_not_completed"
    status: ClassVar[int] = 409


class LineNotFound(RequestError):
    code: ClassVar[str] = "not_found"
    status: ClassVar[int] = 404


class RenderInProgress(RequestError):
    code: ClassVar[str] = "render_in_progress"
    status: ClassVar[int] = 409


class InvalidJobState(DubError):
    """A job was asked to move in a way its lifecycle does not allow (a bug, not a request)."""

    code: ClassVar[str] = "processing_failed"


class ApiError(DubError):
    """An HTTP error with an explicit code and status (auth, rate limit, signatures)."""

    def __init__(
        self, code: str, message: str, status: int, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code  # type: ignore[misc]
        self.status = status  # type: ignore[misc]
        self.headers = headers or {}
