"""Who may call the server and what its URLs prove: bearer tokens, per-token rate limits,
presigned (HMAC) upload and download URLs, and the hooks the engine is built with."""

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
from urllib.parse import quote

from .._errors import ApiError, InvalidOption
from ..jobs.records import EngineHooks
from ..jobs.uploads import UPLOADS

RESULTS = "/api/dubbing/results"


@dataclass
class ServerSettings:
    """How the server authenticates, signs and limits.

    Attributes:
        tokens: accepted bearer tokens.
        public_url: the base URL clients reach this server at (used in presigned URLs).
        rate_limit: requests per token per minute that create something (jobs, upload
            URLs): the reference's 10.
        read_rate_limit: requests per token per minute that only read (job status, lists,
            results): generous, so a client polling every second or two never hits it.
        balances: optional prepaid dollars per token, charged each completed job's cost;
            None (the default) keeps no balance.
        secret: HMAC key for presigned URLs; default one kept in the data folder.
    """

    tokens: set[str]
    public_url: str = "http://127.0.0.1:8000"
    rate_limit: int = 10
    read_rate_limit: int = 300
    balances: dict[str, float] | None = None
    secret: bytes = b""
    _hits: dict[tuple[str, str], deque[float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        for name in ("rate_limit", "read_rate_limit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidOption(f"{name} must be a whole number of requests of 1 or more")
        if not self.tokens:
            raise InvalidOption("at least one API token is needed")


def owner_of(token: str) -> str:
    """Jobs are stored under a digest of the token, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


MIN_SECRET = 32  # bytes of HMAC key


def load_secret(data_dir: Path) -> bytes:
    """The data folder's signing key, made on first use: created atomically with mode 0600
    (never world-readable, not even for an instant), refused if shorter than 32 bytes."""
    path = data_dir / "signing.key"
    data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        partial = data_dir / f".signing.key.{secrets.token_hex(4)}"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as sink:
            sink.write(secrets.token_bytes(MIN_SECRET))
        try:
            os.link(partial, path)  # fails if another process made one first: keep theirs
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    return checked_secret(path.read_bytes(), str(path))


def checked_secret(secret: bytes, where: str) -> bytes:
    if len(secret) < MIN_SECRET:
        raise InvalidOption(
            f"the signing key in {where} is {len(secret)} bytes; at least {MIN_SECRET} are "
            "needed (delete it to have a new one made; URLs signed with it stop working)"
        )
    return secret


class Signer:
    """Presigned URLs: ``?expires=<unix>&signature=<hmac(method path expires)>``."""

    def __init__(self, secret: bytes, public_url: str) -> None:
        self._secret = checked_secret(secret, "the settings")
        self._base = public_url.rstrip("/")

    def sign(self, method: str, path: str, expires: datetime) -> str:
        stamp = int(expires.timestamp())
        return f"{self._base}{path}?expires={stamp}&signature={self._mac(method, path, stamp)}"

    def check(self, method: str, path: str, expires: str | None, signature: str | None) -> None:
        # isdigit() alone takes "²"; a non-ASCII signature cannot be compared as str
        if not (expires and expires.isascii() and expires.isdigit() and len(expires) < 16):
            raise ApiError("unauthorized", "This URL is not signed", 403)
        if not signature or not signature.isascii():
            raise ApiError("unauthorized", "This URL is not signed", 403)
        if not hmac.compare_digest(self._mac(method, path, int(expires)), signature):
            raise ApiError("unauthorized", "The URL signature does not match", 403)
        if int(expires) < time.time():
            raise ApiError("unauthorized", "This URL has expired", 403)

    def _mac(self, method: str, path: str, expires: int) -> str:
        message = f"{method}\n{path}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class SignedUrls:
    """The engine's url_factory on a server: presigned http URLs instead of file:// ones."""

    signer: Signer

    def __call__(self, kind: str, item_id: str, path: Path, expires: datetime) -> str:
        prefix, method = (RESULTS, "GET") if kind == "result" else (UPLOADS, "PUT")
        return self.signer.sign(method, f"{prefix}/{quote(item_id)}/{quote(path.name)}", expires)


def server_hooks(settings: ServerSettings, data_dir: str | os.PathLike[str]) -> EngineHooks:
    """What an engine behind this server is built with: signed URLs, balance charging."""
    signer = Signer(settings.secret or load_secret(Path(data_dir)), settings.public_url)
    charge = _charger(settings) if settings.balances is not None else None
    return EngineHooks(url_factory=SignedUrls(signer), on_completed=charge)


def _charger(settings: ServerSettings) -> Callable[[Any, str | None], None]:
    """Charges a completed job's cost to the prepaid balance of the token that owns it."""
    balances = settings.balances if settings.balances is not None else {}

    def charge(job: Any, owner: str | None) -> None:
        with settings._lock:
            for token in balances:
                if owner_of(token) == owner:
                    balances[token] -= job.cost_usd or 0.0

    return charge


def authenticate(settings: ServerSettings, header: str, writes: bool) -> str:
    """The caller's token from an Authorization header, counted against the rate limit of
    requests that create (``writes``) or of those that read."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or token not in settings.tokens:
        raise ApiError("unauthorized", "Invalid or expired API token", 401)
    rate_limit(settings, token, writes)
    return token


def rate_limit(settings: ServerSettings, token: str, writes: bool = True) -> None:
    limit = settings.rate_limit if writes else settings.read_rate_limit
    now = time.monotonic()
    with settings._lock:
        hits = settings._hits.setdefault((token, "write" if writes else "read"), deque())
        while hits and now - hits[0] >= 60:
            hits.popleft()
        if len(hits) >= limit:
            retry = max(1, int(60 - (now - hits[0])) + 1)
            raise ApiError(
                "rate_limited",
                f"Too many requests. Maximum {limit} requests per minute.",
                429,
                {"Retry-After": str(retry)},
            )
        hits.append(now)


def tokens_from(cli_tokens: list[str] | None) -> set[str]:
    tokens = set(cli_tokens or ())
    tokens |= {
        t.strip() for t in os.environ.get("DUBENGINE_API_TOKENS", "").split(",") if t.strip()
    }
    return tokens
