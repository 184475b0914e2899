"""``dubengine serve`` over real HTTP on 127.0.0.1: the reference's client works unchanged."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from conftest import DATA, SPEECH, require

from dubengine import Engine
from dubengine.media import probe
from dubengine.server import ServerSettings, create_app, server_hooks

TOKENS = {"token-a", "token-b"}
REFERENCE = DATA.parent / "reference" / "dubbing-api.txt"
SHORT = SPEECH / "short_en.wav"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningServer:
    def __init__(self, engine: Engine, settings: ServerSettings) -> None:
        import uvicorn

        self.url = settings.public_url
        port = urlsplit(self.url).port
        config = uvicorn.Config(
            create_app(engine, settings), host="127.0.0.1", port=port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def served_engine(data_dir: Path, settings: ServerSettings, **engine) -> Engine:
    """An engine built the way ``dubengine serve`` builds it, with the server's hooks."""
    return Engine(data_dir, hooks=server_hooks(settings, data_dir), **engine)


def start(tmp_path: Path, warm_pipeline, **settings) -> tuple[RunningServer, Engine]:
    port = free_port()
    chosen = ServerSettings(
        tokens=set(TOKENS),
        public_url=f"http://127.0.0.1:{port}",
        **({"rate_limit": 1000} | settings),
    )
    engine = served_engine(
        tmp_path / "data", chosen, workers=1, pipeline_factory=lambda: warm_pipeline
    )
    return RunningServer(engine, chosen), engine


@pytest.fixture(scope="module")
def server(tmp_path_factory, warm_pipeline):
    running, engine = start(tmp_path_factory.mktemp("server"), warm_pipeline)
    yield running
    running.stop()
    engine.close()


def auth(token: str = "token-a") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def reference_workflow(base_url: str, token: str) -> str:
    """The reference's "Full Workflow" JavaScript, with only the base URL and token changed
    (and its two placeholders filled: the file to upload, and saving the download)."""
    text = require(REFERENCE).read_text()
    start = text.index("const API_KEY")
    end = text.index("Guides", start)
    script = text[start:end].strip()
    script = script.replace("'<your-api-token>'", repr(token)).replace(
        "'https://api.startpinch.com'", repr(base_url)
    )
    script = script.replace(
        "const videoFile = /* your File or Blob */;",
        "const videoFile = new Blob([readFileSync(process.argv[2])]);",
    )
    script = script.replace(
        "// Save or use the blob as needed",
        "writeFileSync(process.argv[3], Buffer.from(await blob.arrayBuffer()));",
    )
    return "import { readFileSync, writeFileSync } from 'node:fs';\n" + script


def run_reference_client(
    base_url: str, source: Path, out: Path, timeout: float, token: str = "token-a"
) -> subprocess.CompletedProcess:
    """The reference's workflow run by node: uploads ``source``, dubs it, saves ``out``."""
    script = out.with_name("workflow.mjs")
    script.write_text(reference_workflow(base_url, token))
    return subprocess.run(
        ["node", str(script), str(source), str(out)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_reference_javascript_client_dubs_a_real_file(server, speech_video, tmp_path):
    out = tmp_path / "dubbed.mp4"
    result = run_reference_client(server.url, speech_video, out, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Job created: dub_" in result.stdout
    assert "Status: completed" in result.stdout
    assert "Download URL:" in result.stdout
    dubbed = probe(out)
    assert (dubbed.container, dubbed.video.codec, dubbed.audio.codec) == ("mp4", "h264", "aac")


ROUTES = [
    ("POST", "/api/dubbing/upload-url", {"filename": "a.mp4", "content_type": "video/mp4"}),
    ("POST", "/api/dubbing/jobs", {"source_url": "https://example.com/a.mp4", "target_lang": "es"}),
    ("GET", "/api/dubbing/jobs/dub_x", None),
    ("GET", "/api/dubbing/jobs", None),
    ("GET", "/api/dubbing/jobs/dub_x/result", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize("headers", [{}, auth("wrong"), {"Authorization": "token-a"}])
def test_every_route_rejects_a_missing_or_wrong_token(server, method, path, body, headers):
    response = httpx.request(method, server.url + path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "unauthorized", "message": "Invalid or expired API token"}
    }


def test_one_token_cannot_see_another_tokens_jobs(server, tmp_path):
    target = upload_target(server)
    assert httpx.put(target["upload_url"], content=SHORT.read_bytes()).status_code == 200
    created = httpx.post(
        server.url + "/api/dubbing/jobs",
        json={"source_url": target["source_url"], "target_lang": "fr"},
        headers=auth("token-a"),
    )
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"job_id", "status", "source_lang", "target_lang", "created_at", "limits"}
    assert body["status"] == "pending" and body["source_lang"] == "auto"
    job_id = body["job_id"]
    mine = httpx.get(f"{server.url}/api/dubbing/jobs/{job_id}", headers=auth("token-a"))
    assert mine.status_code == 200 and mine.json()["job_id"] == job_id
    theirs = httpx.get(f"{server.url}/api/dubbing/jobs/{job_id}", headers=auth("token-b"))
    assert theirs.status_code == 404
    assert theirs.json()["error"]["code"] == "not_found"
    listed = httpx.get(server.url + "/api/dubbing/jobs", headers=auth("token-b")).json()
    assert job_id not in [j["job_id"] for j in listed["jobs"]]


def test_request_errors_use_the_reference_codes(server):
    bad = [
        ({"source_url": "not a url", "target_lang": "es"}, "invalid_url"),
        ({"source_url": "https://example.com/a.mp4", "target_lang": "xx"}, "unsupported_language"),
        ({"target_lang": "es"}, "invalid_request"),
        ({"source_url": str(SHORT), "target_lang": "es"}, "invalid_url"),  # a server-side path
    ]
    for body, code in bad:
        response = httpx.post(server.url + "/api/dubbing/jobs", json=body, headers=auth())
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == code


def test_the_eleventh_request_in_a_minute_is_rate_limited(tmp_path, warm_pipeline):
    """10 a minute for what creates (upload URLs, jobs); reads have their own, generous
    limit (test_hardening covers it), so a polling client is never cut off."""
    running, engine = start(tmp_path, warm_pipeline, rate_limit=10)
    body = {"filename": "a.wav", "content_type": "audio/wav"}
    try:
        url = running.url + "/api/dubbing/upload-url"
        codes = [httpx.post(url, json=body, headers=auth()).status_code for _ in range(10)]
        assert codes == [200] * 10
        eleventh = httpx.post(running.url + "/api/dubbing/upload-url", json=body, headers=auth())
        assert eleventh.status_code == 429
        assert eleventh.json() == {
            "error": {
                "code": "rate_limited",
                "message": "Too many requests. Maximum 10 requests per minute.",
            }
        }
        assert 1 <= int(eleventh.headers["Retry-After"]) <= 61
        assert httpx.get(running.url + "/api/dubbing/jobs", headers=auth()).status_code == 200
        other = httpx.post(
            running.url + "/api/dubbing/upload-url", json=body, headers=auth("token-b")
        )
        assert other.status_code == 200  # the limit is per token
    finally:
        running.stop()
        engine.close()


def upload_target(server) -> dict[str, str]:
    response = httpx.post(
        server.url + "/api/dubbing/upload-url",
        json={"filename": "clip.wav", "content_type": "audio/wav"},
        headers=auth(),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["max_file_size_bytes"] == 500_000_000 and body["expires_in_sec"] == 3600
    return body


def tamper(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(pair.split("=") for pair in parts.query.split("&"))
    return urlunsplit(
        parts._replace(query="&".join(f"{k}={v}" for k, v in (query | changes).items()))
    )


def test_tampered_or_expired_upload_urls_are_refused(server):
    target = upload_target(server)
    data = require(SPEECH / "short_en.wav").read_bytes()
    signature = re.search(r"signature=([0-9a-f]+)", target["upload_url"]).group(1)
    forged = tamper(
        target["upload_url"], signature=signature[:-1] + ("0" if signature[-1] != "0" else "1")
    )
    expired = tamper(target["upload_url"], expires="1000")
    unsigned = target["upload_url"].split("?")[0]
    for url in (forged, expired, unsigned):
        response = httpx.put(url, content=data)
        assert response.status_code == 403, url
        assert response.json()["error"]["code"] == "unauthorized"
    assert httpx.put(target["upload_url"], content=data).status_code == 200


def test_an_upload_over_the_cap_is_refused_without_filling_the_disk(tmp_path, warm_pipeline):
    from dubengine.media import Limits

    port = free_port()
    settings = ServerSettings(tokens=set(TOKENS), public_url=f"http://127.0.0.1:{port}")
    engine = served_engine(
        tmp_path / "data",
        settings,
        workers=0,
        start=False,
        limits=Limits(max_file_size_bytes=100_000),
    )
    running = RunningServer(engine, settings)
    try:
        target = upload_target_at(running.url)

        def body():  # streamed, with no Content-Length, so the cap is enforced while receiving
            for _ in range(50):
                yield b"\0" * 10_000

        response = httpx.put(target["upload_url"], content=body())
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "video_too_large"
        folder = engine.data_dir / "uploads" / target["upload_id"]
        kept = [p for p in folder.iterdir() if p.name != ".upload.json"]  # what it was issued for
        assert sum(p.stat().st_size for p in kept) == 0
    finally:
        running.stop()


def upload_target_at(url: str) -> dict[str, str]:
    response = httpx.post(
        url + "/api/dubbing/upload-url",
        json={"filename": "big.mp4", "content_type": "video/mp4"},
        headers=auth(),
    )
    return response.json()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/a.mp4",
        "http://localhost:8080/a.mp4",
        "http://10.1.2.3/a.mp4",
        "http://172.16.5.4/a.mp4",
        "http://192.168.0.10/a.mp4",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/a.mp4",
        "http://224.0.0.1/a.mp4",
        "http://240.0.0.1/a.mp4",
        "http://[::1]/a.mp4",
        "http://[fc00::1]/a.mp4",
        "http://[fe80::1]/a.mp4",
        "http://[::ffff:127.0.0.1]/a.mp4",
        "http://[::ffff:10.0.0.1]/a.mp4",
        "http://2130706433/a.mp4",
        "http://0x7f000001/a.mp4",
        "http://0177.0.0.1/a.mp4",
        "ftp://example.com/a.mp4",
        "file:///etc/passwd",
    ],
)
def test_source_urls_to_private_or_odd_places_are_rejected(server, url):
    response = httpx.post(
        server.url + "/api/dubbing/jobs",
        json={"source_url": url, "target_lang": "es"},
        headers=auth(),
    )
    assert response.status_code == 400, (url, response.text)
    assert response.json()["error"]["code"] == "invalid_url"


def test_the_servers_own_upload_url_is_accepted_as_a_source(server):
    target = upload_target(server)
    assert (
        httpx.put(
            target["upload_url"], content=require(SPEECH / "short_en.wav").read_bytes()
        ).status_code
        == 200
    )
    response = httpx.post(
        server.url + "/api/dubbing/jobs",
        json={"source_url": target["source_url"], "target_lang": "it"},
        headers=auth(),
    )
    assert response.status_code == 201, response.text


def test_openapi_is_served_with_the_reference_field_names(server):
    spec = httpx.get(server.url + "/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/dubbing/upload-url",
        "/api/dubbing/jobs",
        "/api/dubbing/jobs/{job_id}",
        "/api/dubbing/jobs/{job_id}/result",
    ):
        assert path in paths
    schemas = spec["components"]["schemas"]
    assert {
        "source_url",
        "target_lang",
        "source_lang",
        "reduce_accent",
        "translation_lag_time",
        "original_speech_volume",
    } <= set(schemas["JobRequest"]["properties"])
    assert {"job_id", "status", "progress", "output_url", "output_expires_at", "cost_usd"} <= set(
        schemas["JobStatusResponse"]["properties"]
    )


def test_balances_refuse_an_empty_account_and_charge_completed_jobs(tmp_path, warm_pipeline):
    balances = {"token-a": 0.0, "token-b": 1.0}
    running, engine = start(tmp_path, warm_pipeline, balances=balances)
    try:
        target = upload_target_at(running.url)
        assert httpx.put(target["upload_url"], content=SHORT.read_bytes()).status_code == 200
        body = {"source_url": target["source_url"], "target_lang": "es"}
        broke = httpx.post(running.url + "/api/dubbing/jobs", json=body, headers=auth("token-a"))
        assert broke.status_code == 402
        assert broke.json() == {
            "error": {
                "code": "insufficient_balance",
                "message": "Your account balance is too low to process this file",
            }
        }
        asked = {"filename": "b.wav", "content_type": "audio/wav"}
        url = running.url + "/api/dubbing/upload-url"
        theirs = httpx.post(url, headers=auth("token-b"), json=asked).json()
        assert httpx.put(theirs["upload_url"], content=SHORT.read_bytes()).status_code == 200
        body = {"source_url": theirs["source_url"], "target_lang": "es"}  # uploads are per token
        paid = httpx.post(running.url + "/api/dubbing/jobs", json=body, headers=auth("token-b"))
        assert paid.status_code == 201
        done = engine.wait(paid.json()["job_id"], timeout=300)
        assert done.status.value == "completed"
        assert balances["token-b"] == pytest.approx(1.0 - done.cost_usd)
        assert balances["token-a"] == 0.0
    finally:
        running.stop()
        engine.close()


def test_dubengine_serve_command_starts_and_takes_tokens_from_the_environment(tmp_path):
    import os

    port = free_port()
    env = os.environ | {"DUBENGINE_API_TOKENS": "env-token-1, env-token-2"}
    command = [
        "dubengine",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path / "d"),
        "--workers",
        "1",
        "--token",
        "cli-token",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/api/dubbing/jobs"
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(url, headers=auth("env-token-2"))
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "dubengine serve did not start"
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json() == {"jobs": [], "total": 0, "limit": 20, "offset": 0}
        assert httpx.get(url, headers=auth("cli-token")).status_code == 200
        assert httpx.get(url, headers=auth("nobody")).status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=30)
