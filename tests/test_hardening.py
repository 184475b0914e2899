"""The findings of a hostile review of the CLI and ``dubengine serve``, each a test that failed
before its fix. The server runs its real code over fake backends (fast suite), except the
reference client's long job, which goes through a real HTTP server and node."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import fakes
import httpx
import pytest
from conftest import SPEECH, require
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dubengine import Engine
from dubengine.cli import app as cli
from dubengine.server import ServerSettings, create_app, server_hooks
from dubengine.server.security import load_secret

FAKE = fakes.CONFIG  # every role on its fake backend
AUTH = {"Authorization": "Bearer token-a"}
SHORT = SPEECH / "short_en.wav"
DUBENGINE = [sys.executable, "-c", "from dubengine.cli import main; main()"]


pytestmark = pytest.mark.usefixtures("fake_backends")


def serve(tmp_path: Path, **settings) -> tuple[TestClient, Engine]:
    chosen = ServerSettings(
        tokens={"token-a", "token-b"}, public_url="http://testserver", **settings
    )
    data = tmp_path / "data"
    engine = Engine(data, workers=1, config=FAKE, hooks=server_hooks(chosen, data))
    return TestClient(create_app(engine, chosen), raise_server_exceptions=False), engine


@pytest.fixture
def client(tmp_path):
    client, engine = serve(tmp_path, rate_limit=1000)
    yield client
    engine.close()


def is_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body


def create(client: TestClient, source_url: str, headers=AUTH) -> httpx.Response:
    return client.post(
        "/api/dubbing/jobs", headers=headers, json={"source_url": source_url, "target_lang": "es"}
    )


def upload(client: TestClient, token: str = "token-a", name: str = "clip.wav") -> dict:
    response = client.post(
        "/api/dubbing/upload-url",
        headers={"Authorization": f"Bearer {token}"},
        json={"filename": name, "content_type": "audio/wav"},
    )
    assert response.status_code == 200, response.text
    return response.json()


# 2, 10, 11: the CLI refuses up front, in one line, exit 2


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--out", "x.mp4"], "WAV or MP3"),
        (["--out", "missing/folder/x.wav"], "does not exist"),
        (["--speakers", "0"], "at least 1"),
        (["--device", "tpu"], "device must be"),
    ],
)
def test_dub_refuses_bad_output_paths_and_options_before_any_model(args, says, tmp_path):
    started = time.perf_counter()
    result = CliRunner().invoke(
        cli, ["dub", str(require(SHORT)), "--target", "es", *args], catch_exceptions=False
    )
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert time.perf_counter() - started < 5


def test_an_audio_input_may_be_written_as_mp3_or_wav(tmp_path):
    from dubengine import dub
    from dubengine.media import probe

    out = dub(require(SHORT), "es", out=tmp_path / "x.mp3", config=FAKE).output
    assert probe(out).audio.codec == "mp3"


def test_cuda_without_a_gpu_is_a_user_error():
    from dubengine.toolkit.device import check_device

    with pytest.raises(Exception) as caught:
        check_device("cuda")
    assert getattr(caught.value, "code", None) is not None
    result = CliRunner().invoke(cli, ["dub", str(SHORT), "--target", "es", "--device", "cuda"])
    assert result.exit_code == 2, result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--port", "99999"],
        ["--workers", "-1"],
        ["--workers", "0"],
        ["--upload-ttl", "-5"],
        ["--rate-limit", "0"],
        ["--public-url", "notaurl"],
        ["--device", "tpu"],
        ["--trusted-network", "notacidr"],
    ],
)
def test_serve_refuses_bad_options_in_one_line(args, tmp_path):
    result = subprocess.run(
        [*DUBENGINE, "serve", "--token", "t", "--data-dir", str(tmp_path / "d"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_serve_refuses_a_corrupt_database(tmp_path):
    (tmp_path / "jobs.sqlite3").write_bytes(b"this is not a database" * 100)
    result = subprocess.run(
        [*DUBENGINE, "serve", "--token", "t", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "cannot be read" in result.stderr, result.stderr


def test_jobs_list_piped_keeps_whole_ids(tmp_path):
    engine = Engine(tmp_path, workers=0, start=False)
    job = engine.create_job(str(require(SHORT)), "es")
    result = CliRunner().invoke(cli, ["jobs", "list", "--data-dir", str(tmp_path)])
    assert job.job_id in result.output.split()


# 3: reads have their own, generous limit


def test_polling_is_not_limited_like_creating(tmp_path):
    client, engine = serve(tmp_path, rate_limit=2)
    try:
        target = upload(client)
        assert client.put(target["upload_url"], content=SHORT.read_bytes()).status_code == 200
        job = create(client, target["source_url"])
        assert job.status_code == 201, job.text
        status = f"/api/dubbing/jobs/{job.json()['job_id']}"
        for _ in range(30):  # far more reads than the creating limit
            assert client.get(status, headers=AUTH).is_success
        second = {"filename": "b.wav", "content_type": "audio/wav"}
        is_error(client.post("/api/dubbing/upload-url", headers=AUTH, json=second), 429)
    finally:
        engine.close()


# 4, 9: uploads


@pytest.mark.parametrize("trick", ["/../signing.key", "/%2E%2E/signing.key", "/../../jobs.sqlite3"])
def test_an_upload_source_cannot_climb_out_of_its_folder(client, trick):
    target = upload(client)
    url = target["source_url"].rsplit("/", 1)[0] + trick
    is_error(create(client, url), 400)


def test_missing_and_foreign_uploads_read_the_same(client):
    mine = upload(client)
    nothing = create(client, mine["source_url"])
    theirs = upload(client, token="token-b")
    client.put(theirs["upload_url"], content=SHORT.read_bytes())
    foreign = create(client, theirs["source_url"])
    is_error(nothing, 400)
    is_error(foreign, 400)
    assert nothing.json() == foreign.json()


def test_an_upload_url_takes_one_file_of_the_declared_type(client):
    target = upload(client)
    wrong = client.put(target["upload_url"], content=b"x", headers={"Content-Type": "text/html"})
    is_error(wrong, 400)
    ok = client.put(
        target["upload_url"], content=SHORT.read_bytes(), headers={"Content-Type": "audio/wav"}
    )
    assert ok.status_code == 200
    is_error(client.put(target["upload_url"], content=b"other bytes"), 409)
    assert create(client, target["source_url"]).status_code == 201


@pytest.mark.parametrize("name", ["..", "a\x00b.wav", "x" * 300 + ".wav", ".hidden", "a/b.wav"])
def test_upload_names_that_could_never_work_are_refused(client, name):
    is_error(
        client.post(
            "/api/dubbing/upload-url",
            headers=AUTH,
            json={"filename": name, "content_type": "audio/wav"},
        ),
        400,
    )


def test_expired_unused_uploads_are_removed(tmp_path):
    from datetime import timedelta

    engine = Engine(tmp_path, workers=0, start=False, upload_ttl=timedelta(seconds=-1))
    target = engine.upload_url("a.wav", "audio/wav")
    engine._sweep()
    assert not target.path.parent.exists()


# 5: authenticate first, cap bodies


def test_a_big_body_without_a_token_is_refused_unread(client):
    body = b'{"source_url": "' + b"a" * 5_000_000 + b'"}'
    is_error(client.post("/api/dubbing/jobs", content=body), 401)
    is_error(client.post("/api/dubbing/jobs", content=b"{not json"), 401)
    is_error(client.post("/api/dubbing/jobs", headers=AUTH, content=body), 413)


# 6, 8: no 500s, no FastAPI error shapes


def test_odd_values_get_the_error_shape_not_a_500(client):
    is_error(client.get("/api/dubbing/jobs?offset=9223372036854775808", headers=AUTH), 400)
    target = upload(client)
    base = target["upload_url"].split("?")[0]
    is_error(client.put(base + "?expires=%C2%B2&signature=ab", content=b"x"), 403)
    is_error(client.put(base + "?expires=99999999999&signature=%C3%A9", content=b"x"), 403)
    is_error(client.get("/api/dubbing/nowhere", headers=AUTH), 404)
    is_error(client.delete("/api/dubbing/jobs", headers=AUTH), 405)
    is_error(client.post("/api/dubbing/jobs", headers=AUTH, content=b"{not json"), 400)
    head = client.head("/api/dubbing/jobs", headers=AUTH)
    assert head.status_code == 200
    allow = client.put("/api/dubbing/jobs", headers=AUTH).headers["allow"]
    assert {"GET", "POST"} <= set(allow.replace(" ", "").split(","))


def test_loose_types_are_refused(client):
    for extra in ({"reduce_accent": "yes"}, {"translation_lag_time": True}):
        body = {"source_url": "https://example.com/a.mp4", "target_lang": "es"} | extra
        is_error(client.post("/api/dubbing/jobs", headers=AUTH, json=body), 400)


def test_a_full_disk_during_an_upload_is_507(client, monkeypatch):
    import errno

    target = upload(client)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("dubengine.server.uploads.os.replace", full)
    is_error(client.put(target["upload_url"], content=SHORT.read_bytes()), 507)


# 7: the signing key


def test_a_short_signing_key_is_refused_and_a_new_one_is_private(tmp_path):
    from dubengine import InvalidOption

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "signing.key").write_bytes(b"")
    with pytest.raises(InvalidOption, match="at least 32"):
        load_secret(tmp_path / "a")
    key = load_secret(tmp_path / "b")
    assert len(key) >= 32 and (tmp_path / "b" / "signing.key").stat().st_mode & 0o777 == 0o600


# 12: OpenAPI says what is sent; /docs does not need a CDN


def test_openapi_documents_real_responses_and_bearer_auth(client):
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    create = schema["paths"]["/api/dubbing/jobs"]["post"]["responses"]
    assert {"201", "400", "401", "402", "413", "429"} <= set(create) and "422" not in create
    assert client.get("/docs").status_code == 404


# 13: logs, modes, progress of a failed job


def test_presigned_signatures_are_not_logged():
    import logging

    from dubengine.cli import RedactSignatures

    record = logging.LogRecord(
        "uvicorn.access",
        20,
        "",
        0,
        '%s "%s %s"',
        ("127.0.0.1", "GET", "/api/dubbing/results/x/y.mp4?expires=1&signature=abcdef"),
        None,
    )
    RedactSignatures().filter(record)
    assert "abcdef" not in record.getMessage() and "REDACTED" in record.getMessage()


def test_one_mode_for_what_the_data_folder_holds(tmp_path):
    from dubengine import dub

    result = dub(require(SHORT), "es", out=tmp_path / "x.wav", config=FAKE)
    modes = {oct(p.stat().st_mode & 0o777) for p in result.files.paths()}
    assert len(modes) == 1, modes
    Engine(tmp_path / "data", workers=0, start=False)
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700


def test_a_failed_job_does_not_say_it_is_downloading(tmp_path):
    engine = Engine(tmp_path, workers=1, config=FAKE, start=False)
    source = tmp_path / "soon_gone.wav"
    shutil.copy(require(SHORT), source)
    job = engine.create_job(str(source), "es")
    source.unlink()  # the job fails while downloading
    engine.start()
    done = engine.wait(job.job_id, timeout=60)
    engine.close()
    assert done.status.value == "failed" and done.progress["stage"] == "failed"


# 3, on a real server: the reference's own client, unchanged, on a job of over 90 s


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_reference_client_survives_a_long_job(tmp_path):
    from test_server import RunningServer, free_port, run_reference_client

    from dubengine import Pipeline

    class Slow(Pipeline):
        def run(self, *args, **kwargs):
            time.sleep(95)
            return super().run(*args, **kwargs)

    port = free_port()
    settings = ServerSettings(tokens={"token-a"}, public_url=f"http://127.0.0.1:{port}")
    data = tmp_path / "data"
    engine = Engine(
        data, workers=1, hooks=server_hooks(settings, data), pipeline_factory=lambda: Slow(FAKE)
    )
    server = RunningServer(engine, settings)
    try:
        out = tmp_path / "dubbed.mp3"
        result = run_reference_client(server.url, require(SHORT), out, timeout=300)
    finally:
        server.stop()
        engine.close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Status: completed" in result.stdout and out.stat().st_size > 1000
