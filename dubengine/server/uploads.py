"""An upload's bytes over HTTP: streamed to disk under a cap, one writer at a time. What an
upload is (issued, checked, resolved, locked, swept) is ``jobs/uploads.py``."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from fastapi import Request

from .._errors import ApiError


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
