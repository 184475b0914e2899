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
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._errors import ApiError, DubError, InvalidOption
from ..jobs import Engine
from ..jobs.uploads import check_put, own_text, own_upload
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
from .studio import TAG as STUDIO_TAG
from .studio import studio_routes
from .uploads import receive

MAX_JSON_BYTES = 64 * 1024  # a job request is a few hundred bytes
TOO_LARGE = f"Request bodies are limited to {MAX_JSON_BYTES} bytes"
API = "/api/dubbing/"
MAX_OFFSET = 2**62  # SQLite integers are 64-bit signed
ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
DOCUMENTED = {
    400: "The request is malformed or an option is invalid (`invalid_request`, "
    "`invalid_url`, `unsupported_language`)",
    401: "Missing, malformed or unknown bearer token (`unauthorized`)",
    402: "Prepaid balance too low (`insufficient_balance`), when balances are kept",
    404: "No such job for this token (`not_found`)",
    409: "The job is not completed yet (`job_not_completed`), or is rendering "
    "(`render_in_progress`)",
    413: "Request body over 64 kB (`payload_too_large`)",
    429: "Rate limit: 10 creating requests per minute per token, 300 reading ones "
    "(`rate_limited`, with Retry-After)",
}


def create_app(engine: Engine, settings: ServerSettings) -> FastAPI:
    """The FastAPI application over ``engine``, which must have been built with
    ``server_hooks(settings, data_dir)`` (its URLs are this server's signed ones)."""
    urls = engine.hooks.url_factory
    if not isinstance(urls, SignedUrls):
        raise ValueError("build the Engine with hooks=server_hooks(settings, data_dir)")
    app = FastAPI(
        title="dubengine",
        description="A self-hosted, offline dubbing server speaking the hosted API's REST API. "
        "Bearer token on every /api/dubbing route but the presigned upload and download URLs. "
        "Limits: 10 requests per minute per token that create jobs or upload URLs, 300 that "
        "read; JSON bodies up to 64 kB; inputs up to 500 MB and 10 minutes.",
        version="0.1.0",
        docs_url=None,  # Swagger UI loads from a CDN: blank offline; /openapi.json is served
        redoc_url=None,
    )
    _error_handlers(app)
    _job_routes(app, engine, settings)
    studio_routes(app, engine)
    _file_routes(app, engine, urls)
    _document(app)
    app.add_middleware(_Gate, settings=settings)
    return app


class _Gate:
    """Before any route reads a body: the bearer token (401 without reading it), the rate
    limit of its kind (creating or reading), and a cap on JSON bodies (413 past 64 kB, also
    when no Content-Length is sent)."""

    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        signed = path.startswith((UPLOADS + "/", RESULTS + "/"))
        if scope["type"] != "http" or not path.startswith(API) or signed:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            token = authenticate(
                self.settings,
                headers.get("authorization", ""),
                writes=_creates(scope["method"], path),
            )
            length = headers.get("content-length", "0")
            if not length.isdigit() or int(length) > MAX_JSON_BYTES:
                raise ApiError("payload_too_large", TOO_LARGE, 413)
        except ApiError as error:
            await _send_error(error, scope, receive, send)
            return
        scope.setdefault("state", {})["token"] = token
        await self.app(scope, _capped(receive), send)


def _creates(method: str, path: str) -> bool:
    """Requests that start work (a job, an upload, a render) count against the creating
    limit; a studio's line edits, many a minute, against the reading one."""
    return method == "POST" and (
        path in (API + "jobs", API + "upload-url") or path.endswith("/render")
    )


def _capped(receive: Receive) -> Receive:
    received = 0

    async def capped() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > MAX_JSON_BYTES:
            raise _TooLarge
        return message

    return capped


class _TooLarge(Exception):
    """A body without Content-Length that grew past the cap."""


async def _send_error(error: DubError, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse(
        error.to_dict(), status_code=error.status, headers=getattr(error, "headers", None)
    )
    await response(scope, receive, send)


def _document(app: FastAPI) -> None:
    """OpenAPI: the responses each route can give (not FastAPI's 422, which is never sent),
    and the bearer scheme."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"}
        }
        schema["components"].setdefault("schemas", {})["Error"] = {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                }
            },
        }
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                operation["responses"].pop("422", None)
                operation["security"] = [{"bearer": []}]
                studio = STUDIO_TAG in operation.get("tags", ())  # edits: 409 while rendering
                bodies = method in ("post", "patch") or "{" not in path or studio
                codes = [401, 429, 413] + ([400] if bodies else [])
                codes += [404] if "{job_id}" in path else []
                codes += [409] if path.endswith("/result") or studio else []
                codes += [402] if path.endswith("/jobs") and method == "post" else []
                for code in sorted(set(codes)):
                    operation["responses"][str(code)] = {
                        "description": DOCUMENTED[code],
                        "content": error,
                    }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DubError)
    async def on_dub_error(request: Request, error: DubError) -> JSONResponse:
        return JSONResponse(
            error.to_dict(), status_code=error.status, headers=getattr(error, "headers", None)
        )

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, error: HTTPException) -> JSONResponse:
        """Unknown routes, wrong methods: the reference's error shape, the full Allow."""
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = ", ".join(_allowed(request))
        code = ERROR_CODES.get(error.status_code, "invalid_request")
        message = {404: "No such route", 405: f"{request.method} is not allowed here"}.get(
            error.status_code, str(error.detail)
        )
        return JSONResponse(
            {"error": {"code": code, "message": message}},
            status_code=error.status_code,
            headers=headers,
        )

    @app.exception_handler(_TooLarge)
    async def on_too_large(request: Request, error: _TooLarge) -> JSONResponse:
        return JSONResponse(
            {"error": {"code": "payload_too_large", "message": TOO_LARGE}}, status_code=413
        )

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        return JSONResponse(
            {"error": {"code": "invalid_request", "message": message}}, status_code=400
        )


def _allowed(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match is not Match.NONE and getattr(route, "methods", None):
            methods |= set(route.methods)
    return sorted(methods)


def _job_routes(app: FastAPI, engine: Engine, settings: ServerSettings) -> None:
    def caller(request: Request) -> str:
        return request.state.token  # authenticated and rate-limited by _Gate

    @app.post("/api/dubbing/upload-url", response_model=UploadResponse)
    def upload_url(body: UploadRequest, request: Request) -> dict[str, Any]:
        owner = owner_of(caller(request))
        return engine.upload_url(body.filename, body.content_type, owner=owner).to_dict()

    @app.post("/api/dubbing/jobs", status_code=201, response_model=JobCreated)
    def create_job(body: JobRequest, request: Request) -> dict[str, Any]:  # type: ignore[valid-type]
        token = caller(request)
        if settings.balances is not None and settings.balances.get(token, 0.0) <= 0:
            raise ApiError(
                "insufficient_balance", "Your account balance is too low to process this file", 402
            )
        owner = owner_of(token)
        source = own_upload(body.source_url, settings.public_url, engine.data_dir, owner)
        texts = [
            None if url is None else own_text(url, settings.public_url, engine.data_dir, owner)
            for url in (body.subtitles_url, body.translated_subtitles_url)
        ]
        job = engine.create_job(
            source,
            body.target_lang,
            owner=owner,
            subtitles=texts[0],
            translated_subtitles=texts[1],
            **job_options(body),
        )
        return job.created()

    @app.get("/api/dubbing/jobs/{job_id}", response_model=JobStatusResponse)
    def get_job(job_id: str, request: Request) -> dict[str, Any]:
        return engine.get_job(job_id, owner=owner_of(caller(request))).to_dict()

    @app.get("/api/dubbing/jobs", response_model=JobListResponse)
    def list_jobs(request: Request, limit: int = 20, offset: int = 0) -> dict[str, Any]:
        if not 0 <= offset <= MAX_OFFSET:
            raise InvalidOption(f"offset must be between 0 and {MAX_OFFSET}")
        return engine.list_jobs(limit, offset, owner=owner_of(caller(request))).to_dict()

    @app.get("/api/dubbing/jobs/{job_id}/result", response_model=ResultResponse)
    def get_result(job_id: str, request: Request) -> dict[str, Any]:
        return engine.get_result(job_id, owner=owner_of(caller(request))).to_dict()

    # HEAD answers as GET does, without a body; kept out of the schema (one operation each)
    for route, endpoint in (
        ("/api/dubbing/jobs/{job_id}", get_job),
        ("/api/dubbing/jobs", list_jobs),
        ("/api/dubbing/jobs/{job_id}/result", get_result),
    ):
        app.add_api_route(route, endpoint, methods=["HEAD"], include_in_schema=False)


def _file_routes(app: FastAPI, engine: Engine, urls: SignedUrls) -> None:
    signer = urls.signer

    @app.put(UPLOADS + "/{upload_id}/{filename}", include_in_schema=False)
    async def upload(upload_id: str, filename: str, request: Request) -> Response:
        query = request.query_params
        signer.check(
            "PUT",
            f"{UPLOADS}/{quote(upload_id)}/{quote(filename)}",
            query.get("expires"),
            query.get("signature"),
        )
        target = check_put(
            engine.data_dir / "uploads" / Path(upload_id).name,
            filename,
            request.headers.get("content-type"),
        )
        await receive(request, target, engine.limits.max_file_size_bytes)
        return Response(status_code=200)

    @app.get(RESULTS + "/{job_id}/{filename}", include_in_schema=False)
    def download(job_id: str, filename: str, request: Request) -> FileResponse:
        query = request.query_params
        signer.check(
            "GET",
            f"{RESULTS}/{quote(job_id)}/{quote(filename)}",
            query.get("expires"),
            query.get("signature"),
        )
        result = engine.get_result(job_id)
        if result.path.name != filename:
            raise ApiError("not_found", "No such result", 404)
        return FileResponse(result.path, filename=filename)
