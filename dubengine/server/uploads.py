"""Uploads through presigned URLs: streamed to disk under a cap, and turned back into a file
when a job names the server's own upload URL as its source."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from fastapi import Request

from .._errors import ApiError, InvalidUrl
from .security import UPLOADS


def own_upload(source_url: str, public_url: str, data_dir: Path) -> str:
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


async def receive(request: Request, target: Path, cap: int) -> None:
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
