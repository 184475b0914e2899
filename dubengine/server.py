"""``dubengine serve``: the API reference's REST API over the job engine.

A client written for the hosted service works against this server by changing its base URL and
token. Routes, bodies, fields, status codes and the error shape ``{"error": {"code", "message"}}``
follow the reference. Upload and download URLs are presigned like S3's: they carry an expiry
and an HMAC-SHA256 signature over method, path and expiry, so they need no token.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from ._errors import DubError, InvalidUrl
from ._jobs import Engine

UPLOADS = "/api/dubbing/uploads"
RESULTS = "/api/dubbing/results"


@dataclass
class ServerSettings:
    """How the server authenticates, signs and limits.

    Attributes:
        tokens: accepted bearer tokens.
        public_url: the base URL clients reach this server at (used in presigned URLs).
        rate_limit: requests per token per minute (the reference's 10).
        balances: optional prepaid dollars per token, charged each completed job's cost;
            None (the default) keeps no balance.
        secret: HMAC key for presigned URLs; default one kept in the data folder.
    """

    tokens: set[str]
    public_url: str = "http://127.0.0.1:8000"
    rate_limit: int = 10
    balances: dict[str, float] | None = None
    secret: bytes = b""
    _hits: dict[str, deque[float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


# Request and response bodies, with the reference's field names.


class UploadRequest(BaseModel):
    filename: str = Field(min_length=1)
    content_type: str = Field(min_length=1)


class UploadResponse(BaseModel):
    upload_url: str
    source_url: str
    upload_id: str
    max_file_size_bytes: int
    expires_in_sec: int


class JobRequest(BaseModel):
    source_url: str
    target_lang: str
    source_lang: str = "auto"
    reduce_accent: bool = False
    translation_lag_time: float = 0
    original_speech_volume: float = 0


class Limits(BaseModel):
    max_duration_sec: float
    max_file_size_bytes: int


class JobCreated(BaseModel):
    job_id: str
    status: str
    source_lang: str
    target_lang: str
    created_at: str
    limits: Limits


class JobStatusResponse(BaseModel):
    job_id: str
    status: str
    source_lang: str
    target_lang: str
    error: str | None
    error_message: str | None = None
    progress: dict[str, Any]
    input_duration_sec: float | None
    cost_usd: float | None
    output_url: str | None
    output_expires_at: str | None
    created_at: str
    updated_at: str


class JobSummary(BaseModel):
    job_id: str
    status: str
    source_lang: str
    target_lang: str
    created_at: str
    updated_at: str


class JobListResponse(BaseModel):
    jobs: list[JobSummary]
    total: int
    limit: int
    offset: int


class ResultResponse(BaseModel):
    job_id: str
    download_url: str
    expires_at: str


class ApiError(DubError):
    """An error with an explicit code and HTTP status (auth, rate limit, signatures)."""

    def __init__(self, code: str, message: str, status: int, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.code = code  # type: ignore[misc]
        self.status = status  # type: ignore[misc]
        self.headers = headers or {}


def owner_of(token: str) -> str:
    """Jobs are stored under a digest of the token, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def load_secret(data_dir: Path) -> bytes:
    path = data_dir / "signing.key"
    if not path.exists():
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


class Signer:
    """Presigned URLs: ``?expires=<unix>&signature=<hmac(method path expires)>``."""

    def __init__(self, secret: bytes, public_url: str) -> None:
        self._secret = secret
        self._base = public_url.rstrip("/")

    def sign(self, method: str, path: str, expires: datetime) -> str:
        stamp = int(expires.timestamp())
        return f"{self._base}{path}?expires={stamp}&signature={self._mac(method, path, stamp)}"

    def check(self, method: str, path: str, expires: str | None, signature: str | None) -> None:
        if not expires or not signature or not expires.isdigit():
            raise ApiError("unauthorized", "This URL is not signed", 403)
        if not hmac.compare_digest(self._mac(method, path, int(expires)), signature):
            raise ApiError("unauthorized", "The URL signature does not match", 403)
        if int(expires) < time.time():
            raise ApiError("unauthorized", "This URL has expired", 403)

    def _mac(self, method: str, path: str, expires: int) -> str:
        message = f"{method}\n{path}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


def create_app(engine: Engine, settings: ServerSettings) -> FastAPI:
    """The FastAPI application; ``engine`` runs the jobs."""
    signer = Signer(settings.secret or load_secret(engine.data_dir), settings.public_url)
    engine.url_factory = _url_factory(signer)
    if settings.balances is not None:
        engine.on_completed = _charger(settings)
    app = FastAPI(
        title="dubengine",
        description="A self-hosted, offline dubbing server speaking the hosted API's REST API.",
        version="0.1.0",
    )

    def error_response(error: DubError) -> JSONResponse:
        return JSONResponse(
            error.to_dict(), status_code=error.status, headers=getattr(error, "headers", None)
        )

    @app.exception_handler(DubError)
    async def on_dub_error(request: Request, error: DubError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        return JSONResponse(
            {"error": {"code": "invalid_request", "message": message}}, status_code=400
        )

    def caller(request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in settings.tokens:
            raise ApiError("unauthorized", "Invalid or expired API token", 401)
        token = token.strip()
        _rate_limit(settings, token)
        return token

    @app.post("/api/dubbing/upload-url", response_model=UploadResponse)
    def upload_url(body: UploadRequest, request: Request) -> dict[str, Any]:
        caller(request)
        return engine.upload_url(body.filename, body.content_type).to_dict()

    @app.put(UPLOADS + "/{upload_id}/{filename}", include_in_schema=False)
    async def upload(upload_id: str, filename: str, request: Request) -> Response:
        path_in_url = f"{UPLOADS}/{quote(upload_id)}/{quote(filename)}"
        signer.check("PUT", path_in_url, request.query_params.get("expires"),
                     request.query_params.get("signature"))  # fmt: skip
        target = engine.data_dir / "uploads" / upload_id / Path(filename).name
        if not target.parent.is_dir():
            raise ApiError("not_found", "No such upload", 404)
        await _receive(request, target, engine.limits.max_file_size_bytes)
        return Response(status_code=200)

    @app.post("/api/dubbing/jobs", status_code=201, response_model=JobCreated)
    def create_job(body: JobRequest, request: Request) -> dict[str, Any]:
        token = caller(request)
        if settings.balances is not None and settings.balances.get(token, 0.0) <= 0:
            raise ApiError(
                "insufficient_balance",
                "Your account balance is too low to process this file",
                402,
            )
        source = _own_upload(body.source_url, settings.public_url, engine.data_dir)
        job = engine.create_job(
            source, body.target_lang, body.source_lang, body.reduce_accent,
            body.translation_lag_time, body.original_speech_volume, owner=owner_of(token),
        )  # fmt: skip
        return job.created()

    @app.get("/api/dubbing/jobs/{job_id}", response_model=JobStatusResponse)
    def get_job(job_id: str, request: Request) -> dict[str, Any]:
        token = caller(request)
        return engine.get_job(job_id, owner=owner_of(token)).to_dict()

    @app.get("/api/dubbing/jobs", response_model=JobListResponse)
    def list_jobs(request: Request, limit: int = 20, offset: int = 0) -> dict[str, Any]:
        token = caller(request)
        return engine.list_jobs(limit, offset, owner=owner_of(token)).to_dict()

    @app.get("/api/dubbing/jobs/{job_id}/result", response_model=ResultResponse)
    def get_result(job_id: str, request: Request) -> dict[str, Any]:
        token = caller(request)
        return engine.get_result(job_id, owner=owner_of(token)).to_dict()

    @app.get(RESULTS + "/{job_id}/{filename}", include_in_schema=False)
    def download(job_id: str, filename: str, request: Request) -> FileResponse:
        query = request.query_params
        signer.check("GET", f"{RESULTS}/{quote(job_id)}/{quote(filename)}",
                     query.get("expires"), query.get("signature"))  # fmt: skip
        result = engine.get_result(job_id)
        if result.path.name != filename:
            raise ApiError("not_found", "No such result", 404)
        return FileResponse(result.path, filename=filename)

    return app


def _url_factory(signer: Signer) -> Callable[[str, str, Path, datetime], str]:
    def make(kind: str, item_id: str, path: Path, expires: datetime) -> str:
        prefix, method = (RESULTS, "GET") if kind == "result" else (UPLOADS, "PUT")
        return signer.sign(method, f"{prefix}/{quote(item_id)}/{quote(path.name)}", expires)

    return make


def _own_upload(source_url: str, public_url: str, data_dir: Path) -> str:
    """A URL this server issued for an upload becomes its file; other sources must be
    http(s) URLs (a client never names a path on the server's disk)."""
    parts, own = urlsplit(source_url), urlsplit(public_url)
    if (parts.scheme, parts.netloc) != (own.scheme, own.netloc) or not parts.path.startswith(
        UPLOADS + "/"
    ):
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise InvalidUrl("The provided source URL is not a valid URL")
        return source_url
    upload_id, _, name = unquote(parts.path[len(UPLOADS) + 1 :]).partition("/")
    path = data_dir / "uploads" / Path(upload_id).name / Path(name).name
    if not path.is_file():
        raise InvalidUrl("nothing was uploaded to this URL yet")
    return str(path)


def _rate_limit(settings: ServerSettings, token: str) -> None:
    now = time.monotonic()
    with settings._lock:
        hits = settings._hits.setdefault(token, deque())
        while hits and now - hits[0] >= 60:
            hits.popleft()
        if len(hits) >= settings.rate_limit:
            retry = max(1, int(60 - (now - hits[0])) + 1)
            raise ApiError(
                "rate_limited",
                f"Too many requests. Maximum {settings.rate_limit} requests per minute.",
                429,
                {"Retry-After": str(retry)},
            )
        hits.append(now)


def _charger(settings: ServerSettings) -> Callable[[Any, str | None], None]:
    """Charges a completed job's cost to the prepaid balance of the token that owns it."""
    balances = settings.balances if settings.balances is not None else {}

    def charge(job: Any, owner: str | None) -> None:
        with settings._lock:
            for token in balances:
                if owner_of(token) == owner:
                    balances[token] -= job.cost_usd or 0.0

    return charge


async def _receive(request: Request, target: Path, cap: int) -> None:
    """Streams the body to disk, stopping at the cap, so an oversized upload never fills it."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise ApiError("video_too_large", f"File size exceeds the {cap} byte limit", 413)
    partial = target.with_name(f".{target.name}.partial")
    received = 0
    try:
        with partial.open("wb") as sink:
            async for chunk in request.stream():
                received += len(chunk)
                if received > cap:
                    raise ApiError(
                        "video_too_large", f"File size exceeds the {cap} byte limit", 413
                    )
                sink.write(chunk)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def tokens_from(cli_tokens: list[str] | None) -> set[str]:
    tokens = set(cli_tokens or ())
    tokens |= {
        t.strip() for t in os.environ.get("DUBENGINE_API_TOKENS", "").split(",") if t.strip()
    }
    return tokens
