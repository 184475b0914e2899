"""``dubengine serve``: the API reference's REST API over the job engine.

A client written for the hosted service works against this server by changing its base URL and
token. Routes, bodies, fields, status codes and the error shape ``{"error": {"code", "message"}}``
follow the reference. Upload and download URLs are presigned like S3's: they carry an expiry
and an HMAC-SHA256 signature over method, path and expiry, so they need no token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response

from .._errors import ApiError, DubError
from ..jobs import Engine
from .schemas import (
    JobCreated,
    JobListResponse,
    JobRequest,
    JobStatusResponse,
    ResultResponse,
    UploadRequest,
    UploadResponse,
    job_options,
)
from .security import RESULTS, UPLOADS, ServerSettings, SignedUrls, authenticate, owner_of
from .uploads import own_upload, receive


def create_app(engine: Engine, settings: ServerSettings) -> FastAPI:
    """The FastAPI application over ``engine``, which must have been built with
    ``server_hooks(settings, data_dir)`` (its URLs are this server's signed ones)."""
    urls = engine.hooks.url_factory
    if not isinstance(urls, SignedUrls):
        raise ValueError("build the Engine with hooks=server_hooks(settings, data_dir)")
    app = FastAPI(
        title="dubengine",
        description="A self-hosted, offline dubbing server speaking the hosted API's REST API.",
        version="0.1.0",
    )
    _error_handlers(app)
    _job_routes(app, engine, settings)
    _file_routes(app, engine, urls)
    return app


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DubError)
    async def on_dub_error(request: Request, error: DubError) -> JSONResponse:
        return JSONResponse(
            error.to_dict(), status_code=error.status, headers=getattr(error, "headers", None)
        )

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        return JSONResponse(
            {"error": {"code": "invalid_request", "message": message}}, status_code=400
        )


def _job_routes(app: FastAPI, engine: Engine, settings: ServerSettings) -> None:
    def caller(request: Request) -> str:
        return authenticate(settings, request.headers.get("authorization", ""))

    @app.post("/api/dubbing/upload-url", response_model=UploadResponse)
    def upload_url(body: UploadRequest, request: Request) -> dict[str, Any]:
        caller(request)
        return engine.upload_url(body.filename, body.content_type).to_dict()

    @app.post("/api/dubbing/jobs", status_code=201, response_model=JobCreated)
    def create_job(body: JobRequest, request: Request) -> dict[str, Any]:  # type: ignore[valid-type]
        token = caller(request)
        if settings.balances is not None and settings.balances.get(token, 0.0) <= 0:
            raise ApiError("insufficient_balance",
                           "Your account balance is too low to process this file", 402)  # fmt: skip
        source = own_upload(body.source_url, settings.public_url, engine.data_dir)
        job = engine.create_job(source, body.target_lang, owner=owner_of(token),
                                **job_options(body))  # fmt: skip
        return job.created()

    @app.get("/api/dubbing/jobs/{job_id}", response_model=JobStatusResponse)
    def get_job(job_id: str, request: Request) -> dict[str, Any]:
        return engine.get_job(job_id, owner=owner_of(caller(request))).to_dict()

    @app.get("/api/dubbing/jobs", response_model=JobListResponse)
    def list_jobs(request: Request, limit: int = 20, offset: int = 0) -> dict[str, Any]:
        return engine.list_jobs(limit, offset, owner=owner_of(caller(request))).to_dict()

    @app.get("/api/dubbing/jobs/{job_id}/result", response_model=ResultResponse)
    def get_result(job_id: str, request: Request) -> dict[str, Any]:
        return engine.get_result(job_id, owner=owner_of(caller(request))).to_dict()


def _file_routes(app: FastAPI, engine: Engine, urls: SignedUrls) -> None:
    signer = urls.signer

    @app.put(UPLOADS + "/{upload_id}/{filename}", include_in_schema=False)
    async def upload(upload_id: str, filename: str, request: Request) -> Response:
        query = request.query_params
        signer.check("PUT", f"{UPLOADS}/{quote(upload_id)}/{quote(filename)}",
                     query.get("expires"), query.get("signature"))  # fmt: skip
        target = engine.data_dir / "uploads" / upload_id / Path(filename).name
        if not target.parent.is_dir():
            raise ApiError("not_found", "No such upload", 404)
        await receive(request, target, engine.limits.max_file_size_bytes)
        return Response(status_code=200)

    @app.get(RESULTS + "/{job_id}/{filename}", include_in_schema=False)
    def download(job_id: str, filename: str, request: Request) -> FileResponse:
        query = request.query_params
        signer.check("GET", f"{RESULTS}/{quote(job_id)}/{quote(filename)}",
                     query.get("expires"), query.get("signature"))  # fmt: skip
        result = engine.get_result(job_id)
        if result.path.name != filename:
            raise ApiError("not_found", "No such result", 404)
        return FileResponse(result.path, filename=filename)
