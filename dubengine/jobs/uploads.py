"""Uploads, start to end: a folder issued per upload URL with what it was issued for (file
name, content type, owner, expiry) beside the file; the checks before its bytes are written;
the upload URL a job names resolved back to its file and locked; the sweep that removes
expired ones. The HTTP streaming of the bytes is the server's (``server/uploads.py``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .._errors import ApiError, InvalidOption, InvalidUrl
from .records import iso, utc_now

UPLOAD_ID = "[0-9a-f]{16}"
UPLOADS = "/api/dubbing/uploads"  # the URL path upload folders are served under
META = ".upload.json"
MAX_NAME_BYTES = 200  # leaves room in a 255-byte file name for the work files beside it


def upload_name(filename: str) -> str:
    """The file name an upload is stored under, or why it cannot be."""
    name = filename.strip()
    if (
        not name
        or name in {".", ".."}
        or "/" in name
        or "\\" in name
        or any(ord(c) < 32 for c in name)
        or name.startswith(".")
    ):
        raise InvalidOption(
            f"filename {filename[:60]!r} is not a plain file name (no folders, no leading dot, "
            "no control characters)"
        )
    if len(name.encode()) > MAX_NAME_BYTES:
        raise InvalidOption(f"filename is {len(name.encode())} bytes; at most {MAX_NAME_BYTES}")
    return name


def write_meta(folder: Path, meta: dict[str, Any]) -> None:
    partial = folder / f"{META}.partial"
    partial.write_text(json.dumps(meta))
    os.replace(partial, folder / META)


def read_meta(folder: Path) -> dict[str, Any] | None:
    if not re.fullmatch(UPLOAD_ID, folder.name):
        return None
    try:
        return json.loads((folder / META).read_text())
    except (OSError, ValueError):
        return None


def sweep(uploads: Path, in_use: set[str]) -> list[str]:
    """Removes upload folders whose URL has expired, unless a job still to run or running
    reads from them (``in_use``: their folder names). Returns the ids removed."""
    removed = []
    now = utc_now()
    for folder in uploads.iterdir() if uploads.is_dir() else ():
        meta = read_meta(folder)
        expires = meta and meta.get("expires")
        if not expires or folder.name in in_use:
            continue
        if datetime.fromisoformat(expires.replace("Z", "+00:00")) < now:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def new_meta(filename: str, content_type: str, owner: str | None, expires: datetime) -> dict:
    return {
        "filename": filename,
        "content_type": content_type,
        "owner": owner,
        "expires": iso(expires),
        "used": False,
    }


def issue(
    uploads: Path, filename: str, content_type: str, owner: str | None, expires: datetime
) -> Path:
    """A new upload folder for one file; returns where the file's bytes go.

    Raises:
        InvalidOption: ``filename`` is not a plain file name, or too long.
    """
    name = upload_name(filename)
    folder = uploads / uuid.uuid4().hex[:16]
    folder.mkdir(parents=True)
    write_meta(folder, new_meta(name, content_type, owner, expires))
    return folder / name


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
