"""The upload folders of an engine: one per upload URL, with what it was issued for
(file name, content type, owner, expiry) beside the file, and the sweep that removes them."""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from .._errors import InvalidOption
from .records import iso, utc_now

UPLOAD_ID = "[0-9a-f]{16}"
META = ".upload.json"
MAX_NAME_BYTES = 200  # leaves room in a 255-byte file name for the work files beside it


def upload_name(filename: str) -> str:
    """The file name an upload is stored under, or why it cannot be."""
    name = filename.strip()
    if (
        not name or name in {".", ".."} or "/" in name or "\\" in name
        or any(ord(c) < 32 for c in name) or name.startswith(".")
    ):  # fmt: skip
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
    return {"filename": filename, "content_type": content_type, "owner": owner,
            "expires": iso(expires), "used": False}  # fmt: skip
