"""Remote sources over real HTTP on 127.0.0.1: media, HTML pages, 404s, redirects, the cap."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from conftest import SPEECH, require

from dubengine import DownloadFailed, Engine, InvalidUrl, JobStatus, MediaError
from dubengine.jobs.sources import AddressPolicy, fetch, parse_source
from dubengine.media import Limits

LOCAL_ONLY = AddressPolicy.of(["127.0.0.1/32"])  # the test server, and nothing else private


class Handler(BaseHTTPRequestHandler):
    clip = b""
    hosts: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        Handler.hosts.append(self.headers.get("Host", ""))
        if self.path == "/big.wav":
            return self._endless()
        port = self.server.server_address[1]
        routes = {
            "/clip.wav": (200, "audio/wav", Handler.clip),
            "/page.mp4": (200, "text/html; charset=utf-8", b"<html><body>video</body></html>"),
            "/to-clip": (302, "", b""),
            "/to-private": (302, "", b""),
            "/loop": (302, "", b""),
        }
        status, kind, body = routes.get(self.path, (404, "text/plain", b"not found"))
        self.send_response(status)
        if self.path == "/to-clip":
            self.send_header("Location", "/clip.wav")
        elif self.path == "/to-private":
            self.send_header("Location", f"http://127.0.0.2:{port}/clip.wav")
        elif self.path == "/loop":
            self.send_header("Location", "/loop")
        if kind:
            self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _endless(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.end_headers()
        try:
            for _ in range(1000):
                self.wfile.write(b"\0" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def origin():
    Handler.clip = require(SPEECH / "short_en.wav").read_bytes()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def get(url: str, tmp_path: Path, cap: int = 500_000_000) -> Path:
    return fetch(
        parse_source(url, LOCAL_ONLY), tmp_path, Limits(max_file_size_bytes=cap), LOCAL_ONLY
    )


def test_media_is_downloaded(origin, tmp_path):
    assert get(origin + "/clip.wav", tmp_path).read_bytes() == Handler.clip


def test_a_redirect_to_an_allowed_host_is_followed(origin, tmp_path):
    assert get(origin + "/to-clip", tmp_path).read_bytes() == Handler.clip


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/page.mp4", "HTML page"),
        ("/missing.mp4", "HTTP 404"),
        ("/to-private", "127.0.0.2"),
        ("/loop", "redirects"),
    ],
)
def test_what_is_not_media_fails_the_download(origin, tmp_path, path, words):
    with pytest.raises(DownloadFailed, match=words):
        get(origin + path, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_download_over_the_cap_stops_and_leaves_nothing(origin, tmp_path):
    with pytest.raises(MediaError) as caught:
        get(origin + "/big.wav", tmp_path, cap=1_000_000)
    assert caught.value.code == "video_too_large"
    assert list(tmp_path.iterdir()) == []


def test_the_checked_address_is_the_one_connected_to(origin, tmp_path, monkeypatch):
    """One lookup per hop, and the request goes to that address with the original Host."""
    port = int(origin.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    lookups: list[str] = []

    def fake(host, *args, **kwargs):
        lookups.append(host)
        if host == "media.example":
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    Handler.hosts.clear()
    path = get(f"http://media.example:{port}/clip.wav", tmp_path)
    assert path.read_bytes() == Handler.clip
    assert Handler.hosts == [f"media.example:{port}"]
    assert lookups.count("media.example") == 2  # once at job creation, once for the download


def test_private_addresses_are_refused_without_a_trusted_network(origin):
    with pytest.raises(InvalidUrl, match="private network"):
        parse_source(origin + "/clip.wav")


def test_a_job_whose_url_returns_a_page_fails_with_download_failed(origin, tmp_path):
    with Engine(tmp_path / "data", workers=1, trust_private_urls=["127.0.0.1/32"]) as engine:
        job = engine.create_job(origin + "/page.mp4", "es")
        done = engine.wait(job.job_id, timeout=60)
    assert done.status is JobStatus.FAILED
    assert done.error == "download_failed"
    assert "HTML" in done.error_message
