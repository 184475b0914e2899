"""Where a job's input comes from: a local path, a file:// URL, an upload, or http(s).

Remote URLs must resolve to public addresses only (no loopback, private, link-local,
multicast, reserved or unspecified ranges, in IPv4 or IPv6, IPv4-mapped forms included;
numeric hosts such as ``2130706433`` or ``0x7f000001`` resolve like any other and are caught
the same way), unless the operator trusts some networks. A download connects to the very
address that was checked (no second DNS lookup that a hostile resolver could answer
differently), follows redirects only after checking each new host, and stops at the size cap.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from .._errors import DownloadFailed, InvalidUrl, MediaError
from ..media import Limits
from ..media.validate import human_size

_CHUNK = 1 << 20
MAX_REDIRECTS = 5
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which addresses a remote source may resolve to: public ones, plus ``trusted``
    networks an operator allows (e.g. ``10.0.0.0/8`` for a storage server on the LAN)."""

    trusted: tuple[IPNetwork, ...] = ()

    @classmethod
    def of(cls, trusted: bool | Iterable[str] = False) -> AddressPolicy:
        if trusted is True:
            return cls((ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")))
        if trusted is False:
            return cls()
        return cls(tuple(ipaddress.ip_network(n, strict=False) for n in trusted))

    def allows(self, ip: IPAddress) -> bool:
        return is_public(ip) or any(
            ip in network for network in self.trusted if network.version == ip.version
        )

    def resolve(self, host: str, port: int) -> list[str]:
        """The host's addresses, all of them allowed; else InvalidUrl."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise InvalidUrl(f"cannot resolve host {host!r}") from exc
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        for address in addresses:
            if not self.allows(ipaddress.ip_address(address.split("%")[0])):
                raise InvalidUrl(
                    f"private network URLs are rejected: {host} resolves to {address}, "
                    "which is not a public address"
                )
        return addresses


def is_public(ip: IPAddress) -> bool:
    """Globally routable unicast: not loopback, private, link-local, multicast, reserved or
    unspecified, also when written as IPv4-mapped or 6to4-embedded IPv6."""
    mapped = getattr(ip, "ipv4_mapped", None) or getattr(ip, "sixtofour", None)
    if mapped is not None and not is_public(mapped):
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


@dataclass(frozen=True, slots=True)
class Source:
    """A checked job source: ``path`` for local files, ``url`` for remote ones."""

    text: str
    path: Path | None = None
    url: str | None = None


def parse_source(source: str | os.PathLike[str], policy: AddressPolicy | None = None) -> Source:
    """Checks the form of a source at job creation.

    Raises:
        InvalidUrl: not a path to an existing file nor an http(s) or file URL, or a remote
            host that resolves to an address the policy does not allow.
    """
    text = os.fspath(source).strip()
    if not text:
        raise InvalidUrl("The provided source URL is not a valid URL")
    parts = urlsplit(text)
    if parts.scheme in {"http", "https"}:
        if not parts.hostname:
            raise InvalidUrl(f"The provided source URL is not a valid URL: {text}")
        (policy or AddressPolicy()).resolve(parts.hostname, _port(parts))
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


def fetch(source: Source, dest: Path, limits: Limits, policy: AddressPolicy | None = None) -> Path:
    """A local path to the source's bytes: the file itself, or a download into ``dest``.

    Raises:
        DownloadFailed: the URL did not return media (error status, HTML page, a redirect to a
            forbidden address, too many redirects, a network error).
        MediaError: ``video_too_large`` when the download passes the size limit.
    """
    if source.path is not None:
        return source.path
    assert source.url is not None
    import httpx

    policy = policy or AddressPolicy()
    url = source.url
    target = dest / (Path(unquote(urlsplit(url).path)).name or "source")
    try:
        with httpx.Client(timeout=60, follow_redirects=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                with _pinned_stream(client, url, policy) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    _check_response(response, source.url)
                    _save(response, target, limits.max_file_size_bytes)
                    return target
    except InvalidUrl as exc:  # a redirect to a forbidden place
        raise DownloadFailed(f"could not download {source.url}: {exc.message}") from exc
    except httpx.HTTPError as exc:
        raise DownloadFailed(f"could not download {source.url}: {exc}") from exc
    finally:
        if target.exists() and target.stat().st_size == 0:
            target.unlink()
    raise DownloadFailed(f"could not download {source.url}: more than {MAX_REDIRECTS} redirects")


def _pinned_stream(client: object, url: str, policy: AddressPolicy) -> object:
    """GET ``url`` on the address just checked: the URL names the IP, the Host header and
    TLS SNI/certificate check name the host."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidUrl(f"redirect to a URL that is not http(s): {url}")
    address = policy.resolve(parts.hostname, _port(parts))[0]
    literal = f"[{address}]" if ":" in address else address
    pinned = urlunsplit(parts._replace(netloc=f"{literal}:{_port(parts)}"))
    return client.stream(  # type: ignore[attr-defined]
        "GET",
        pinned,
        headers={"Host": parts.netloc.rsplit("@", 1)[-1]},
        extensions={"sni_hostname": parts.hostname},
    )


def _save(response: object, target: Path, cap: int) -> None:
    received = 0
    try:
        with target.open("wb") as sink:
            for chunk in response.iter_bytes(_CHUNK):  # type: ignore[attr-defined]
                received += len(chunk)
                if received > cap:
                    raise MediaError(
                        "video_too_large", f"download passed the {human_size(cap)} limit"
                    )
                sink.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _port(parts: object) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)  # type: ignore[attr-defined]


def _check_response(response: object, url: str) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    if status >= 300:
        raise DownloadFailed(f"{url} answered HTTP {status}, not the media file")
    kind = response.headers.get("content-type", "").split(";")[0].strip()  # type: ignore[attr-defined]
    if kind in {"text/html", "application/xhtml+xml"}:
        raise DownloadFailed(f"{url} returned an HTML page, not the media file itself")
