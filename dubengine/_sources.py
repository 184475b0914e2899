"""Where a job's input comes from: a local path, a file:// URL, an upload, or http(s).

Remote URLs must resolve to public addresses only (no loopback, private, link-local,
multicast or reserved ranges), unless the engine is told to trust private networks.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ._errors import DownloadFailed, InvalidUrl, MediaError
from .media import Limits
from .media.validate import human_size

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Source:
    """A checked job source: ``path`` for local files, ``url`` for remote ones."""

    text: str
    path: Path | None = None
    url: str | None = None


def parse_source(source: str | os.PathLike[str], trust_private: bool = False) -> Source:
    """Checks the form of a source at job creation.

    Raises:
        InvalidUrl: not a path to an existing file nor an http(s) or file URL, or a remote
            host that is not public.
    """
    text = os.fspath(source).strip()
    if not text:
        raise InvalidUrl("The provided source URL is not a valid URL")
    parts = urlsplit(text)
    if parts.scheme in {"http", "https"}:
        if not parts.hostname:
            raise InvalidUrl(f"The provided source URL is not a valid URL: {text}")
        if not trust_private:
            check_public_host(
                parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
            )
        return Source(text, url=text)
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
    elif parts.scheme and len(parts.scheme) > 1:  # "c:" is a Windows drive, not a scheme
        raise InvalidUrl(f"unsupported URL scheme {parts.scheme!r}: use http(s), file or a path")
    else:
        path = Path(text).expanduser()
    if not path.is_file():
        raise InvalidUrl(f"no such file: {path}")
    return Source(text, path=path.resolve())


def check_public_host(host: str, port: int) -> list[str]:
    """The host's addresses, all of them public; else InvalidUrl."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidUrl(f"cannot resolve host {host!r}") from exc
    addresses = sorted({info[4][0] for info in infos})
    for address in addresses:
        if not is_public(ipaddress.ip_address(address.split("%")[0])):
            raise InvalidUrl(
                f"private network URLs are rejected: {host} resolves to {address}, "
                "which is not a public address"
            )
    return addresses


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally routable unicast: not loopback, private, link-local, multicast, reserved or
    unspecified, also when written as IPv4-mapped or 6to4-embedded IPv6."""
    mapped = getattr(ip, "ipv4_mapped", None) or getattr(ip, "sixtofour", None)
    if mapped is not None and not is_public(mapped):
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def fetch(source: Source, dest: Path, limits: Limits, trust_private: bool = False) -> Path:
    """A local path to the source's bytes: the file itself, or a download into ``dest``.

    Raises:
        DownloadFailed: the URL did not return media (error status, HTML page, network error).
        MediaError: ``video_too_large`` when the download passes the size limit.
    """
    if source.path is not None:
        return source.path
    assert source.url is not None
    import httpx

    parts = urlsplit(source.url)
    if not trust_private:
        check_public_host(parts.hostname or "", parts.port or 0)
    name = Path(unquote(parts.path)).name or "source"
    target = dest / name
    try:
        with (
            httpx.stream("GET", source.url, follow_redirects=False, timeout=60) as response,
            target.open("wb") as sink,
        ):
            _check_response(response, source.url)
            received = 0
            for chunk in response.iter_bytes(_CHUNK):
                received += len(chunk)
                if received > limits.max_file_size_bytes:
                    raise MediaError(
                        "video_too_large",
                        f"download passed the {human_size(limits.max_file_size_bytes)} limit",
                    )
                sink.write(chunk)
    except httpx.HTTPError as exc:
        target.unlink(missing_ok=True)
        raise DownloadFailed(f"could not download {source.url}: {exc}") from exc
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def _check_response(response: object, url: str) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    if status >= 300:
        raise DownloadFailed(f"{url} answered HTTP {status}, not the media file")
    kind = response.headers.get("content-type", "").split(";")[0].strip()  # type: ignore[attr-defined]
    if kind in {"text/html", "application/xhtml+xml"}:
        raise DownloadFailed(f"{url} returned an HTML page, not the media file itself")
