"""Uploads through presigned URLs: one file per URL, tied to the token that asked for it,
streamed to disk under a cap, locked once a job uses it, and turned back into a file when a
job names the server's own upload URL as its source."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from fastapi import Request

from .._errors import ApiError, InvalidOption, InvalidUrl
from ..jobs.uploads import UPLOAD_ID, read_meta, write_meta
from .security import UPLOADS

NOT_YOURS = "The provided source URL is not a valid URL, or nothing of yours was uploaded to it"


def own_upload(source_url: str, public_url: str, data_dir: Path, owner: str) -> str:
    """A URL this server issued for an upload becomes its file; other sources must be
    http(s) URLs (a client never names a path on the server's disk). Only the exact
    upload-id form is accepted, only for the token that asked for the URL; every refusal
    reads the same, so a caller cannot probe for files."""
    parts, own = urlsplit(source_url), urlsplit(public_url)
    if (parts.scheme, parts.netloc) != (own.scheme, own.netloc) or not unquote(
        parts.path
    ).startswith(UPLOADS + "/"):
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise InvalidUrl("The provided source URL is not a valid URL")
        return source_url
    match = re.fullmatch(rf"{UPLOADS}/({UPLOAD_ID})/([^/]+)", parts.path)
    folder = data_dir / "uploads"
    if match is None or parts.query or parts.fragment:
        raise InvalidUrl(NOT_YOURS)
    upload_id, name = match.group(1), unquote(match.group(2))
    meta = read_meta(folder / upload_id)
    path = (folder / upload_id / name).resolve()
    inside = path.parent == (folder / upload_id).resolve() and folder.resolve() in path.parents
    if meta is None or meta.get("owner") != owner or meta.get("filename") != name or not inside:
        raise InvalidUrl(NOT_YOURS)
    if not path.is_file():
        raise InvalidUrl(NOT_YOURS)
    write_meta(folder / upload_id, meta | {"used": True})
    return str(path)


MAX_SUBTITLES_BYTES = 5_000_000


def own_text(url: str, public_url: str, data_dir: Path, owner: str) -> str:
    """The text of one of ``owner``'s uploads (subtitles), refused if it is not one, is too
    big for subtitles, or is not UTF-8."""
    path = own_upload(url, public_url, data_dir, owner)
    if path.startswith(("http://", "https://")):
        raise InvalidOption("subtitles must be uploaded to this server (an upload URL it gave)")
    if Path(path).stat().st_size > MAX_SUBTITLES_BYTES:
        raise InvalidOption(f"subtitles over {MAX_SUBTITLES_BYTES // 1_000_000} MB are refused")
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidOption("subtitles must be UTF-8 text") from None


def check_put(folder: Path, filename: str, content_type: str | None) -> Path:
    """Where an upload may be written, or why not: unknown URL (404), already uploaded or
    already used by a job (409), a content type other than the one asked for (400)."""
    meta = read_meta(folder)
    if meta is None or meta.get("filename") != filename:
        raise ApiError("not_found", "No such upload", 404)
    target = folder / filename
    if meta.get("used") or target.exists():
        raise ApiError("conflict", "This upload URL was already used; ask for a new one", 409)
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared and declared != str(meta.get("content_type", "")).split(";")[0].strip().lower():
        raise ApiError(
            "invalid_request",
            f"Content-Type {declared!r} does not match the {meta.get('content_type')!r} "
            "this upload URL was issued for",
            400,
        )
    return target


async def receive(request: Request, target: Path, cap: int) -> None:
    """Streams the body to disk, stopping at the cap, so an oversized upload never fills it;
    one writer at a time; a full disk is 507, with nothing left behind."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise ApiError("video_too_large", f"File size exceeds the {cap} byte limit", 413)
    partial = target.with_name(f".{target.name}.partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise ApiError("conflict", "This file is being uploaded already", 409) from None
    received = 0
    try:
        with os.fdopen(fd, "wb") as sink:
            async for chunk in request.stream():
                received += len(chunk)
                if received > cap:
                    raise ApiError(
                        "video_too_large", f"File size exceeds the {cap} byte limit", 413
                    )
                sink.write(chunk)
        os.replace(partial, target)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ApiError(
                "insufficient_storage", "The server has no room for this upload now", 507
            ) from exc
        raise
    finally:
        partial.unlink(missing_ok=True)
