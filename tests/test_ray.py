"""Jobs on Ray: a local cluster started here (two CPUs), the engine's workers backed by actors.

The actors run the fake pipeline (``fakes.paced_pipeline``: every stage a fake, transcription
as long as the input) because these tests are about where work runs, what moves between
processes and what happens when a worker dies; the real pipeline on Ray is measured by
``benchmarks/ray_pool.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import ray
from conftest import SPEECH, require
from fakes import paced_pipeline, register_fakes, unregister_fakes

from dubengine import Engine
from dubengine._progress import TRANSCRIBING
from dubengine.jobs import JobStatus
from dubengine.media import probe

TESTS = Path(__file__).resolve().parent
SHORT = SPEECH / "short_en.wav"  # 2.7 s
LONG = SPEECH / "jfk_en.flac"  # 11 s
LIFECYCLE = ["pending", "downloading", "processing", "uploading", "completed"]


@pytest.fixture(scope="module")
def cluster():
    """A two-CPU Ray cluster whose workers can import the tests' fakes."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(TESTS)}},
    )
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def on_ray(data: Path, workers: int) -> Engine:
    return Engine(data, workers=workers, executor="ray", pipeline_factory=paced_pipeline)


def watch(engine: Engine, job_ids: list[str], timeout: float = 120) -> dict[str, list]:
    """Every (status, stage, percent) each job showed while polled, until all ended."""
    seen: dict[str, list] = {job_id: [] for job_id in job_ids}
    deadline = time.monotonic() + timeout
    while True:
        jobs = [engine.get_job(job_id) for job_id in job_ids]
        for job in jobs:
            state = (job.status.value, job.progress.get("stage"), job.progress.get("percent"))
            if not seen[job.job_id] or seen[job.job_id][-1] != state:
                seen[job.job_id].append(state)
        if all(j.status in (JobStatus.COMPLETED, JobStatus.FAILED) for j in jobs):
            return seen
        assert time.monotonic() < deadline, seen
        time.sleep(0.05)


def test_three_jobs_run_on_two_actors_with_models_loaded_once_each(cluster, tmp_path, speech_video):
    engine = on_ray(tmp_path / "data", workers=2)
    try:
        sources = [require(SHORT), speech_video, require(SHORT)]
        jobs = [engine.create_job(str(s), "fr") for s in sources]
        seen = watch(engine, [j.job_id for j in jobs])
        stats = engine.worker_stats()
        for job, source in zip(jobs, sources, strict=True):
            done = engine.get_job(job.job_id)
            assert done.status is JobStatus.COMPLETED, done.to_dict()
            assert [status for status, _ in engine.history(job.job_id)] == LIFECYCLE
            percents = [percent for _, _, percent in seen[job.job_id]]
            assert percents == sorted(percents) and percents[-1] == 100
            out, original = probe(engine.get_result(job.job_id).path), probe(source)
            assert abs(out.duration - original.duration) < 0.1
            assert bool(out.video_streams) == bool(original.video_streams)
            sidecars = {p.suffix for p in engine.get_result(job.job_id).path.parent.iterdir()}
            assert {".srt", ".vtt", ".json"} <= sidecars
        # The video job sat in transcription for its 9.6 s: progress came back from the actor.
        assert any(stage == TRANSCRIBING.key for _, stage, _ in seen[jobs[1].job_id]), seen
        # What editing needs came back from the actor too: the dub renders here after an edit.
        register_fakes()
        engine.edit_segment(jobs[1].job_id, 0, translation="EDITADO TRAS RAY.")
        assert engine.render(jobs[1].job_id, wait=True)["state"] == "done"
        assert probe(engine.get_result(jobs[1].job_id).path).video_streams
    finally:
        engine.close()
        unregister_fakes()
    assert [s["executor"] for s in stats] == ["ray", "ray"]
    assert sum(s["jobs"] for s in stats) == 3
    assert {s["pid"] for s in stats}.isdisjoint({os.getpid()})
    assert len({s["pid"] for s in stats}) == 2
    for actor in stats:  # each backend made once per actor, however many jobs it ran
        assert actor["jobs"] == 0 or set(actor["loads"].values()) == {1}, stats


def test_a_worker_killed_mid_job_fails_that_job_and_the_next_one_runs(cluster, tmp_path):
    engine = on_ray(tmp_path / "data", workers=1)
    try:
        doomed = engine.create_job(str(require(LONG)), "fr")
        deadline = time.monotonic() + 60
        while engine.get_job(doomed.job_id).progress.get("stage") != TRANSCRIBING.key:
            assert time.monotonic() < deadline, engine.get_job(doomed.job_id).to_dict()
            time.sleep(0.05)
        os.kill(engine.worker_stats()[0]["pid"], signal.SIGKILL)  # as the OOM killer would
        failed = engine.wait(doomed.job_id, timeout=60)
        assert failed.status is JobStatus.FAILED
        assert failed.error == "processing_failed"
        assert "Ray worker running this job was lost" in failed.error_message
        assert failed.progress["failed_stage"] == TRANSCRIBING.key
        following = engine.create_job(str(require(SHORT)), "de")
        assert engine.wait(following.job_id, timeout=60).status is JobStatus.COMPLETED
        stats = engine.worker_stats()[0]
    finally:
        engine.close()
    assert stats["alive"] and stats["actors_started"] == 2 and stats["jobs"] == 1


ENGINE_ON_RAY = """
import sys, time
import ray
ray.init(address=sys.argv[2], runtime_env={"env_vars": {"PYTHONPATH": sys.argv[3]}})
sys.path.insert(0, sys.argv[3])
from fakes import paced_pipeline, register_fakes, unregister_fakes
from dubengine import Engine
engine = Engine(sys.argv[1], workers=1, executor="ray", pipeline_factory=paced_pipeline)
job = engine.create_job(sys.argv[4], "fr")
while engine.get_job(job.job_id).progress.get("stage") != "stage_2":  # transcribing
    time.sleep(0.05)
print(job.job_id, engine.worker_stats()[0]["pid"], flush=True)
time.sleep(600)
"""


def test_an_engine_killed_mid_job_leaves_it_failed_and_no_actor(cluster, tmp_path):
    data = tmp_path / "data"
    child = subprocess.Popen(
        [sys.executable, "-c", ENGINE_ON_RAY, str(data), cluster, str(TESTS), str(require(LONG))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        job_id, actor_pid = child.stdout.readline().split()
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    restarted = Engine(data, workers=0, start=False)
    after = restarted.get_job(job_id)
    assert (after.status, after.error) == (JobStatus.FAILED, "processing_failed")
    assert "stopped" in after.error_message
    deadline = time.monotonic() + 30  # Ray ends the actors of a driver that died
    while Path(f"/proc/{actor_pid}").exists():
        assert time.monotonic() < deadline, f"actor {actor_pid} outlived its engine"
        time.sleep(0.2)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_reference_client_flow_works_against_a_server_on_ray(cluster, tmp_path):
    from test_server import RunningServer, free_port, run_reference_client, served_engine

    from dubengine.server import ServerSettings

    port = free_port()
    settings = ServerSettings(tokens={"token-a"}, public_url=f"http://127.0.0.1:{port}")
    engine = served_engine(
        tmp_path / "data", settings, workers=1, executor="ray", pipeline_factory=paced_pipeline
    )
    server = RunningServer(engine, settings)
    try:
        out = tmp_path / "dubbed.mp3"
        result = run_reference_client(server.url, require(SHORT), out, timeout=120)
    finally:
        server.stop()
        engine.close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Status: completed" in result.stdout
    assert abs(probe(out).duration - probe(require(SHORT)).duration) < 0.1


def test_an_unknown_executor_is_refused_before_anything_starts(tmp_path):
    from dubengine import InvalidOption

    with pytest.raises(InvalidOption, match="executor must be one of threads, ray"):
        Engine(tmp_path / "data", executor="dask")


def test_without_ray_the_executor_says_how_to_install_it(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.modules["ray"] = None  # as if not installed
        from dubengine import Engine, BackendUnavailable
        try:
            Engine({str(tmp_path / "data")!r}, executor="ray")
        except BackendUnavailable as exc:
            print(exc)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert "pip install 'dubengine[ray]'" in result.stdout, result.stderr


def test_dubengine_serve_on_a_local_ray_cluster_answers_and_stops(tmp_path):
    import httpx
    from test_server import free_port

    port = free_port()
    command = [
        "dubengine",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path / "d"),
        "--workers",
        "2",
        "--token",
        "t",
        "--ray",
        "local",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/api/dubbing/jobs"
        deadline = time.monotonic() + 90
        while True:
            try:
                response = httpx.get(url, headers={"Authorization": "Bearer t"})
                break
            except httpx.ConnectError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.monotonic() < deadline, "dubengine serve --ray did not start"
                time.sleep(0.2)
        assert response.status_code == 200 and response.json()["total"] == 0
    finally:
        process.terminate()
        assert process.wait(timeout=60) is not None
