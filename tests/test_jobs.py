"""The job façade: the reference's lifecycle, fields, errors, pagination and crash recovery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta

import pytest
from conftest import SPEECH, require, write_silence_wav

from dubengine import (
    Engine,
    InvalidOption,
    InvalidUrl,
    JobNotCompleted,
    JobNotFound,
    JobStatus,
    UnsupportedLanguage,
)

LIFECYCLE = ["pending", "downloading", "processing", "uploading", "completed"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory, warm_pipeline):
    with Engine(
        tmp_path_factory.mktemp("engine"), workers=1, pipeline_factory=lambda: warm_pipeline
    ) as running:
        yield running


def parse(stamp: str) -> datetime:
    assert stamp.endswith("Z")
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_a_job_goes_through_every_status_in_order(engine):
    job = engine.create_job(require(SPEECH / "short_en.wav"), "es")
    assert job.status is JobStatus.PENDING
    assert job.created()["limits"] == {
        "max_duration_sec": 600.0,
        "max_file_size_bytes": 500_000_000,
    }
    seen, percents = [], []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        polled = engine.get_job(job.job_id)
        if not seen or seen[-1] != polled.status.value:
            seen.append(polled.status.value)
        if polled.status is JobStatus.PROCESSING:
            assert polled.progress["stage"].startswith("stage_")
            assert polled.progress["stage_name"]
            percents.append(polled.progress["percent"])
        if polled.status in (JobStatus.COMPLETED, JobStatus.FAILED):
            break
        time.sleep(0.05)
    assert polled.status is JobStatus.COMPLETED, polled.to_dict()
    assert seen == [s for s in LIFECYCLE if s in seen], seen  # in order, none repeated
    assert "processing" in seen
    assert percents == sorted(percents)
    assert [status for status, _ in engine.history(job.job_id)] == LIFECYCLE

    data = polled.to_dict()
    assert data["progress"] == {"stage": "completed", "percent": 100}
    assert data["error"] is None
    assert data["input_duration_sec"] == pytest.approx(2.7, abs=0.1)
    assert data["cost_usd"] == round(data["input_duration_sec"] / 60 * 0.5, 2)
    assert parse(data["output_expires_at"]) - parse(data["updated_at"]) == timedelta(hours=48)
    assert data["output_url"].startswith("file://")

    result = engine.get_result(job.job_id)
    assert result.path.is_file() and result.path.suffix == ".wav"
    assert parse(result.expires_at) > parse(data["updated_at"]) + timedelta(hours=47)
    report = engine.get_report(job.job_id)
    assert report["target_language"] == "es" and report["fits"]


def test_too_long_input_fails_with_video_too_long(engine, tmp_path):
    job = engine.create_job(write_silence_wav(tmp_path / "long.wav", 664), "fr")
    done = engine.wait(job.job_id, timeout=60)
    assert done.status is JobStatus.FAILED
    assert done.error == "video_too_long"
    assert done.error_message == "input is 11 min 4 s; the limit is 10 min"
    assert done.output_url is None
    with pytest.raises(JobNotCompleted):
        engine.get_result(job.job_id)
    assert not list((engine.data_dir / "results").glob(f"*{job.job_id}*"))


def test_list_jobs_paginates_newest_first(engine, tmp_path):
    ids = [
        engine.create_job(write_silence_wav(tmp_path / f"s{i}.wav", 0.5), "it").job_id
        for i in range(3)
    ]
    first = engine.list_jobs(limit=2, offset=0)
    second = engine.list_jobs(limit=2, offset=2)
    assert first.total == second.total >= 3
    assert [j.job_id for j in first.jobs] == ids[::-1][:2]
    assert ids[0] in [j.job_id for j in second.jobs]
    assert set(first.to_dict()["jobs"][0]) == {
        "job_id",
        "status",
        "source_lang",
        "target_lang",
        "created_at",
        "updated_at",
    }
    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}):
        with pytest.raises(InvalidOption):
            engine.list_jobs(**bad)
    for job_id in ids:
        assert engine.wait(job_id, timeout=60).error == "video_too_short"


@pytest.mark.parametrize(
    ("source", "target", "options", "error"),
    [
        ("/no/such/file.mp4", "es", {}, InvalidUrl),
        ("ftp://example.com/a.mp4", "es", {}, InvalidUrl),
        ("http://127.0.0.1/video.mp4", "es", {}, InvalidUrl),
        ("http://192.168.1.20/video.mp4", "es", {}, InvalidUrl),
        ("SPEECH", "xx", {}, UnsupportedLanguage),
        ("SPEECH", "es", {"source_lang": "klingon"}, UnsupportedLanguage),
        ("SPEECH", "es", {"translation_lag_time": 3.5}, InvalidOption),
        ("SPEECH", "es", {"original_speech_volume": -0.1}, InvalidOption),
    ],
)
def test_bad_requests_are_refused_with_the_reference_codes(engine, source, target, options, error):
    source = str(SPEECH / "short_en.wav") if source == "SPEECH" else source
    before = engine.list_jobs().total
    with pytest.raises(error) as caught:
        engine.create_job(source, target, **options)
    assert caught.value.code in {"invalid_url", "unsupported_language", "invalid_request"}
    assert engine.list_jobs().total == before  # nothing was queued


def test_unknown_job_is_not_found(engine):
    with pytest.raises(JobNotFound):
        engine.get_job("dub_nope")


def test_an_uploaded_file_becomes_a_job_source(engine):
    target = engine.upload_url("talk.wav", "audio/wav")
    assert target.max_file_size_bytes == 500_000_000 and target.expires_in_sec == 3600
    target.path.write_bytes(require(SPEECH / "short_en.wav").read_bytes())
    job = engine.create_job(target.source_url, "de")
    done = engine.wait(job.job_id, timeout=300)
    assert done.status is JobStatus.COMPLETED, done.to_dict()


def test_a_killed_process_leaves_no_job_processing(tmp_path):
    data = tmp_path / "data"
    script = textwrap.dedent(f"""
        import time
        from dubengine import Engine, PipelineConfig
        engine = Engine({str(data)!r}, workers=1, config=PipelineConfig(device="cpu"))
        job = engine.create_job({str(require(SPEECH / "jfk_en.flac"))!r}, "fr")
        print(job.job_id, flush=True)
        time.sleep(600)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        job_id = child.stdout.readline().strip()
        watcher = Engine(data, workers=0, start=False)
        deadline = time.monotonic() + 120
        while watcher.get_job(job_id).status is not JobStatus.PROCESSING:
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.1)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    restarted = Engine(data, workers=0, start=False)
    after = restarted.get_job(job_id)
    assert after.status is JobStatus.FAILED
    assert after.error == "processing_failed"
    assert "stopped" in after.error_message


STUCK_SERVER = """
import sys, time
from dubengine import Engine

class Stuck:  # a pipeline that never finishes: the job stays processing until killed
    def run(self, *args, **kwargs):
        time.sleep(3600)
    def close(self):
        pass

engine = Engine(sys.argv[1], workers=1, pipeline_factory=Stuck)
job = engine.create_job(sys.argv[2], "fr")
print(job.job_id, flush=True)
time.sleep(3600)
"""
RESTARTED = """
import sys, time
from dubengine import Engine
engine = Engine(sys.argv[1], workers=1, stale_after=1.0)
time.sleep(7)  # one heartbeat period: the orphan's own heartbeat is older than stale_after
print(engine.get_job(sys.argv[2]).status.value)
"""


def test_a_killed_server_running_as_pid_1_leaves_no_job_processing(tmp_path):
    """In a container the server is PID 1 before and after the restart: a PID proves nothing."""
    as_pid_1 = ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c"]
    if subprocess.run([*as_pid_1, "pass"], capture_output=True).returncode != 0:
        pytest.skip("cannot create a PID namespace here")
    data = str(tmp_path / "data")
    command = [*as_pid_1, STUCK_SERVER, data, str(SPEECH / "short_en.wav")]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        job_id = server.stdout.readline().strip()
        deadline = time.monotonic() + 60
        while Engine(data, workers=0, start=False).get_job(job_id).status is not (
            JobStatus.PROCESSING
        ):
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.2)
        assert Engine(data, workers=0, start=False).get_job(job_id).status is (
            JobStatus.PROCESSING
        ), "a live server's job is left alone"
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    restarted = subprocess.run(
        [*as_pid_1, RESTARTED, data, job_id], capture_output=True, text=True, check=True
    )
    assert restarted.stdout.strip() == "failed", restarted.stderr


def test_a_job_of_a_closed_engine_in_this_process_is_recovered(tmp_path):
    from dubengine.jobs.store import JobStore

    first = JobStore(tmp_path / "jobs.sqlite3")
    first.insert("dub_x", None, "/nowhere.wav", "fr", "auto", {})
    assert first.claim() == "dub_x"
    first.close()  # its engine is gone; the PID (ours) is not
    assert JobStore(tmp_path / "jobs.sqlite3").recover() == ["dub_x"]
