"""Editing a finished dub and rendering it again, on the fake backends (the plumbing): what
changes, what stays bit-identical, what is refused, and what survives a restart or a crash.
The same with the real models is in test_editing_real.py."""

from __future__ import annotations

import json
import time
from pathlib import Path

import fakes
import numpy as np
import pytest
from conftest import SPEECH, require
from typer.testing import CliRunner

from dubengine import Engine
from dubengine._errors import DubError
from dubengine.cli import app
from dubengine.editing.render import CROSSFADE_SEC, LOOKAHEAD_SEC
from dubengine.jobs.store import _LIVE_ENGINES
from dubengine.media import decode_audio

pytestmark = pytest.mark.usefixtures("fake_backends")
JFK = SPEECH / "jfk_en.flac"  # 11 s: the fakes make two lines of it, one per speaker
RATE = 48_000
EDGE_SEC = CROSSFADE_SEC + LOOKAHEAD_SEC + 0.002


@pytest.fixture
def engine(tmp_path):
    with Engine(tmp_path / "data", workers=1, config=fakes.CONFIG) as running:
        yield running


def dubbed(engine: Engine, owner: str | None = None) -> str:
    job = engine.create_job(str(require(JFK)), "es", owner=owner)
    assert engine.wait(job.job_id, timeout=60).status.value == "completed"
    return job.job_id


def output_of(engine: Engine, job_id: str) -> np.ndarray:
    return decode_audio(engine.get_result(job_id).path, sample_rate=RATE, channels=2).samples


def window(fit: dict) -> tuple[float, float]:
    return fit["start"], fit["end"]


def test_a_completed_dub_shows_its_lines_voices_and_revisions(engine):
    view = engine.segments(dubbed(engine))
    assert (view["revision"], view["output_revision"], view["render"]) == (0, 0, None)
    assert [s["index"] for s in view["segments"]] == [0, 1]
    assert (
        {s["speaker"] for s in view["segments"]}
        == set(view["speakers"])
        == {"SPEAKER_00", "SPEAKER_01"}
    )
    assert all(s["fit"] and not s["stale"] for s in view["segments"])
    assert view["segments"][1]["translation"] == "THIS LINE IS RATHER LONG TO SAY."
    assert view["voices_available"] == ["low", "high"]


def test_one_edited_translation_changes_the_output_only_inside_that_line(engine):
    job_id = dubbed(engine)
    before, old = output_of(engine, job_id), engine.segments(job_id)["segments"][1]["fit"]
    view = engine.edit_segment(job_id, 1, translation="UNA FRASE NUEVA Y BASTANTE MÁS LARGA.")
    assert (view["revision"], view["output_revision"]) == (1, 0)
    assert [s["stale"] for s in view["segments"]] == [False, True]

    status = engine.render(job_id, wait=True)
    assert status["state"] == "done", status
    view = engine.segments(job_id)
    assert (view["revision"], view["output_revision"]) == (1, 1)
    new = view["segments"][1]["fit"]
    assert new["text"] == "UNA FRASE NUEVA Y BASTANTE MÁS LARGA." and new["end"] > old["end"]

    after = output_of(engine, job_id)
    assert after.shape == before.shape
    changed = np.flatnonzero(np.any(after != before, axis=0)) / RATE
    assert len(changed), "the render changed nothing"
    lo, hi = min(old["start"], new["start"]) - EDGE_SEC, max(old["end"], new["end"]) + EDGE_SEC
    assert changed.min() >= lo and changed.max() <= hi, (changed.min(), changed.max(), lo, hi)
    report = engine.get_report(job_id)
    assert report["render"]["spoken"] == [1] and report["revision"] == 1
    assert report["fits"][1]["text"] == new["text"]
    srt = Path(report["files"]["subtitles_target_srt"]).read_text()
    assert "UNA FRASE NUEVA" in srt and "THIS LINE" not in srt


def test_a_render_speaks_again_only_what_changed(engine):
    job_id = dubbed(engine)
    engine.edit_segment(job_id, 0, text="Hello, there.")  # the source text: nothing to speak
    engine.render(job_id, wait=True)
    assert engine.get_report(job_id)["render"]["spoken"] == []
    before = output_of(engine, job_id)
    # Moving a line back where it was speaks nothing anew: its clips are in the cache.
    start = engine.segments(job_id)["segments"][1]["start"]
    engine.edit_segment(job_id, 1, start=start + 0.5)
    engine.render(job_id, wait=True)
    engine.edit_segment(job_id, 1, start=start)
    engine.render(job_id, wait=True)
    render = engine.get_report(job_id)["render"]
    assert render["spoken"] == [0, 1] and render["synthesized"] == 0, render
    assert np.array_equal(output_of(engine, job_id), before)


def test_split_merge_delete_insert_and_voice_edits_render(engine):
    job_id = dubbed(engine)
    line = engine.segments(job_id)["segments"][1]
    view = engine.split_segment(job_id, 1, (line["start"] + line["end"]) / 2)
    halves = view["segments"][1:]
    assert len(view["segments"]) == 3 and all(s["stale"] for s in halves)
    assert " ".join(s["translation"] for s in halves) == line["translation"]
    assert halves[0]["end"] == halves[1]["start"]
    view = engine.merge_segments(job_id, 1)
    assert len(view["segments"]) == 2 and view["segments"][1]["translation"] == line["translation"]
    view = engine.delete_segment(job_id, 0)
    assert [s["speaker"] for s in view["segments"]] == ["SPEAKER_01"]
    view = engine.insert_segment(job_id, 1.0, 3.0, "Hi.", "HOLA.", speaker="SPEAKER_00")
    assert [s["translation"] for s in view["segments"]] == ["HOLA.", line["translation"]]
    view = engine.set_voice(job_id, "SPEAKER_01", "high")
    assert view["speakers"]["SPEAKER_01"]["voice"] == "high"
    assert view["revision"] == 5

    assert engine.render(job_id, wait=True)["state"] == "done"
    view = engine.segments(job_id)
    assert view["output_revision"] == 5 and not any(s["stale"] for s in view["segments"])
    dub = output_of(engine, job_id).mean(axis=0)
    # SPEAKER_01 now speaks with the "high" fake voice (a 330 Hz tone, "low" is 220 Hz)
    start, end = window(view["segments"][1]["fit"])
    assert dominant_hz(dub[int(start * RATE) : int(end * RATE)]) == pytest.approx(330, abs=3)
    start, end = window(view["segments"][0]["fit"])
    assert dominant_hz(dub[int(start * RATE) : int(end * RATE)]) == pytest.approx(220, abs=3)


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / RATE)[spectrum.argmax()])


REFUSED = [
    ("edit_segment", (1,), {"start": -1.0}, "invalid_request", "0 or more"),
    ("edit_segment", (1,), {"start": 5.0}, "invalid_request", "overlaps line 0"),
    ("edit_segment", (0,), {"end": 9.0}, "invalid_request", "overlaps line 1"),
    ("edit_segment", (1,), {"end": 99.0}, "invalid_request", "past the end"),
    ("edit_segment", (1,), {"end": 5.6}, "invalid_request", "at least"),
    ("edit_segment", (1,), {"start": float("nan")}, "invalid_request", "number of seconds"),
    ("edit_segment", (1,), {"speaker": "SPEAKER_09"}, "invalid_request", "unknown speaker"),
    ("edit_segment", (1,), {"translation": "  "}, "invalid_request", "non-empty"),
    ("edit_segment", (1,), {"text": ""}, "invalid_request", "non-empty"),
    ("edit_segment", (1,), {"colour": "red"}, "invalid_request", "unknown field"),
    ("edit_segment", (1,), {}, "invalid_request", "nothing to change"),
    ("edit_segment", (7,), {"text": "x"}, "not_found", "no line 7"),
    ("edit_segment", (-1,), {"text": "x"}, "not_found", "no line -1"),
    ("split_segment", (1, 20.0), {}, "invalid_request", "inside line 1"),
    ("split_segment", (1, "8"), {}, "invalid_request", "number of seconds"),
    ("merge_segments", (0,), {}, "invalid_request", "different speakers"),
    ("merge_segments", (1,), {}, "not_found", "no line 2"),
    ("delete_segment", (2,), {}, "not_found", "no line 2"),
    ("insert_segment", (0.5, 2.0, "Hi.", "HOLA."), {"speaker": "X"}, "invalid_request", "unknown"),
    (
        "insert_segment",
        (4.0, 6.0, "Hi.", "HOLA."),
        {"speaker": "SPEAKER_00"},
        "invalid_request",
        "overlaps",
    ),
    ("insert_segment", (0.5, 2.0, "Hi.", "HOLA."), {}, "invalid_request", "whose line"),
    ("set_voice", ("SPEAKER_00", "nobody"), {}, "invalid_request", "unknown voice"),
    ("set_voice", ("SPEAKER_05", "high"), {}, "invalid_request", "unknown speaker"),
]


def test_refused_edits_say_why_and_change_nothing(engine):
    job_id = dubbed(engine)
    before = engine.segments(job_id)
    for method, args, kwargs, code, words in REFUSED:
        with pytest.raises(DubError) as refused:
            getattr(engine, method)(job_id, *args, **kwargs)
        assert refused.value.code == code, (method, args, kwargs, refused.value.message)
        assert words in refused.value.message, refused.value.message
        assert engine.segments(job_id) == before, (method, args, kwargs)


def test_a_job_not_completed_cannot_be_edited_or_rendered(tmp_path):
    idle = Engine(tmp_path / "data", workers=0, start=False, config=fakes.CONFIG)
    job = idle.create_job(str(require(JFK)), "es")
    for call in (
        lambda: idle.segments(job.job_id),
        lambda: idle.edit_segment(job.job_id, 0, translation="x"),
        lambda: idle.render(job.job_id),
    ):
        with pytest.raises(DubError) as refused:
            call()
        assert (refused.value.code, refused.value.status) == ("job_not_completed", 409)
        assert "pending" in refused.value.message


def test_while_a_render_runs_another_render_and_edits_get_409(engine):
    job_id = dubbed(engine)
    engine.edit_segment(job_id, 1, translation="OTRA.")
    with engine._editor._one_render:  # the render thread waits here, the job marked rendering
        engine.render(job_id)
        for call in (
            lambda: engine.render(job_id),
            lambda: engine.edit_segment(job_id, 0, translation="NO."),
        ):
            with pytest.raises(DubError) as refused:
                call()
            assert (refused.value.code, refused.value.status) == ("render_in_progress", 409)
        assert engine.segments(job_id)["render"]["state"] == "rendering"
    view = engine.wait_render(job_id, timeout=30)
    assert view["render"]["state"] == "done" and view["output_revision"] == 1


def test_edits_and_renders_survive_a_restart_and_a_crash_mid_render(tmp_path):
    data = tmp_path / "data"
    with Engine(data, workers=1, config=fakes.CONFIG) as first:
        job_id = dubbed(first)
        first.edit_segment(job_id, 1, translation="DESPUÉS DE REINICIAR.")
    with Engine(data, workers=0, start=False, config=fakes.CONFIG) as second:
        view = second.segments(job_id)
        assert view["revision"] == 1 and view["segments"][1]["stale"]
        # This engine dies mid-render: its claim stays in the store with no one behind it.
        second.store.claim_render(job_id, None)
        _LIVE_ENGINES.discard(second.store.worker_id)
    third = Engine(data, workers=0, start=False, config=fakes.CONFIG)
    try:
        render = third.segments(job_id)["render"]
        assert render["state"] == "failed" and "render again" in render["error"]
        assert third.render(job_id, wait=True)["state"] == "done"
        assert third.segments(job_id)["output_revision"] == 1
    finally:
        third.close()


def test_the_cli_edits_and_renders_a_job_in_a_data_folder(tmp_path):
    data = tmp_path / "data"
    with Engine(data, workers=1, config=fakes.CONFIG) as engine:
        job_id = dubbed(engine)
    runner = CliRunner()
    listed = runner.invoke(app, ["segments", job_id, "--data-dir", str(data), "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output)["segments"][1]["translation"].startswith("THIS LINE")
    edited = runner.invoke(
        app, ["edit", job_id, "1", "--translation", "DESDE LA TERMINAL.", "--data-dir", str(data)]
    )
    assert edited.exit_code == 0 and "revision 1: 1 line(s) to render" in edited.output
    refused = runner.invoke(app, ["edit", job_id, "9", "--text", "x", "--data-dir", str(data)])
    assert refused.exit_code == 2 and "no line 9" in refused.output
    assert "Traceback" not in refused.output and len(refused.output.strip().splitlines()) == 1
    split = runner.invoke(app, ["edit", job_id, "1", "--split-at", "8", "--data-dir", str(data)])
    undone = runner.invoke(app, ["edit", job_id, "--undo", "--data-dir", str(data)])
    assert split.exit_code == undone.exit_code == 0, undone.output
    assert "revision 3: 1 line(s) to render" in undone.output  # the split undone, not the edit
    rendered = runner.invoke(app, ["render", job_id, "--data-dir", str(data)])
    assert rendered.exit_code == 0, rendered.output
    assert "revision 3 rendered" in rendered.output and "[1]" in rendered.output
    with Engine(data, workers=0, start=False) as engine:
        assert engine.segments(job_id)["output_revision"] == 3


@pytest.fixture
def served(tmp_path):
    """(engine, test client, auth headers, a dubbed job's id, its routes' base path)."""
    from fastapi.testclient import TestClient

    from dubengine.server import ServerSettings, create_app, server_hooks
    from dubengine.server.security import owner_of

    settings = ServerSettings(tokens={"t"}, public_url="http://testserver", rate_limit=1000)
    data = tmp_path / "data"
    with Engine(data, workers=1, config=fakes.CONFIG, hooks=server_hooks(settings, data)) as engine:
        job_id = dubbed(engine, owner=owner_of("t"))
        client = TestClient(create_app(engine, settings))
        yield engine, client, {"Authorization": "Bearer t"}, job_id, f"/api/dubbing/jobs/{job_id}"


def test_the_rest_routes_edit_render_and_serve_the_new_output(served):
    _, client, auth, _, base = served
    first = client.get(client.get(base + "/result", headers=auth).json()["download_url"])
    assert client.get(base + "/segments").status_code == 401
    view = client.get(base + "/segments", headers=auth).json()
    assert len(view["segments"]) == 2

    for path, body, status, code in (
        ("/segments/1", {"start": -2}, 400, "invalid_request"),
        ("/segments/1", {"translation": None}, 400, "invalid_request"),
        ("/segments/1", {"colour": "red"}, 400, "invalid_request"),
        ("/segments/5", {"text": "x"}, 404, "not_found"),
        ("/speakers/SPEAKER_00", {"voice": "nobody"}, 400, "invalid_request"),
    ):
        answer = client.patch(base + path, json=body, headers=auth)
        assert answer.status_code == status, (path, body, answer.text)
        assert answer.json()["error"]["code"] == code and answer.json()["error"]["message"]
    assert client.get(base + "/segments", headers=auth).json()["revision"] == 0

    edited = client.patch(base + "/segments/1", json={"translation": "POR LA API."}, headers=auth)
    assert edited.status_code == 200 and edited.json()["revision"] == 1
    started = client.post(base + "/render", headers=auth)
    assert started.status_code == 202 and started.json()["revision"] == 1
    deadline = time.monotonic() + 30
    while client.get(base + "/segments", headers=auth).json()["output_revision"] != 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    second = client.get(client.get(base + "/result", headers=auth).json()["download_url"])
    assert second.status_code == 200 and second.content != first.content

    for track in ("original", "dub"):
        played = client.get(base + f"/segments/1/audio?track={track}", headers=auth)
        assert played.status_code == 200 and played.content[:4] == b"RIFF"
    assert client.get(base + "/segments/1/audio?track=x", headers=auth).status_code == 400
    missing = client.get(base + "/segments/9/audio", headers=auth)
    assert missing.status_code == 404 and "no line 9" in missing.json()["error"]["message"]
    paths = client.get("/openapi.json").json()["paths"]
    assert "409" in paths["/api/dubbing/jobs/{job_id}/render"]["post"]["responses"]
    assert "/api/dubbing/jobs/{job_id}/segments/{index}" in paths
    page = client.get("/studio")
    assert page.status_code == 200 and "dubengine studio" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing external


def test_undo_restores_the_dub_before_its_last_edit_once(engine):
    job_id = dubbed(engine)
    before = engine.segments(job_id)
    assert before["can_undo"] is False
    edited = engine.split_segment(job_id, 1, 8.0)
    assert len(edited["segments"]) == 3 and edited["can_undo"]
    undone = engine.undo(job_id)
    assert undone["revision"] == 2 and not undone["can_undo"]
    assert undone["segments"] == before["segments"]  # fits, stale flags and all
    with pytest.raises(DubError, match="no edit to undo"):
        engine.undo(job_id)
    engine.edit_segment(job_id, 1, translation="OTRA.")
    engine.render(job_id, wait=True)
    with pytest.raises(DubError, match="since its last render"):  # the mix is the new state's
        engine.undo(job_id)


def test_the_studio_routes_serve_waveforms_whole_tracks_and_voice_previews(served):
    import base64
    import io
    import wave

    from dubengine.editing.tracks import PEAKS_PER_SEC, PLAY_RATE

    engine, client, auth, job_id, base = served
    duration = engine.segments(job_id)["duration"]
    waves = {}
    for track in ("original", "dub"):
        got = client.get(base + f"/peaks?track={track}", headers=auth).json()
        waves[track] = np.frombuffer(base64.b64decode(got["peaks"]), np.uint8)
        assert got["per_second"] == PEAKS_PER_SEC
        assert len(waves[track]) == pytest.approx(duration * PEAKS_PER_SEC, abs=1)
        played = client.get(base + f"/audio?track={track}", headers=auth)
        with wave.open(io.BytesIO(played.content)) as handle:
            assert (handle.getnchannels(), handle.getframerate()) == (1, PLAY_RATE)
            assert handle.getnframes() / PLAY_RATE == pytest.approx(duration, abs=0.01)
    # the fake dub is a tone where each line is spoken: loud there, quiet in the gap
    fit = engine.segments(job_id)["segments"][1]["fit"]
    inside = waves["dub"][int(fit["start"] * 100) + 5 : int(fit["end"] * 100) - 5]
    assert inside.min() > 0 and waves["dub"].max() > 0
    assert client.get(base + "/peaks?track=x", headers=auth).status_code == 400

    first = client.post(base + "/speakers/SPEAKER_01/preview", json={"voice": "low"}, headers=auth)
    second = client.post(
        base + "/speakers/SPEAKER_01/preview", json={"voice": "high"}, headers=auth
    )
    assert first.status_code == second.status_code == 200
    assert first.content[:4] == b"RIFF" and first.content != second.content
    assert engine.segments(job_id)["revision"] == 0  # hearing a voice changes nothing
    refused = client.post(base + "/speakers/SPEAKER_01/preview", json={"voice": "x"}, headers=auth)
    assert refused.status_code == 400 and "unknown voice" in refused.json()["error"]["message"]

    assert client.post(base + "/undo", headers=auth).status_code == 400
    client.delete(base + "/segments/0", headers=auth)
    undone = client.post(base + "/undo", headers=auth)
    assert undone.status_code == 200 and len(undone.json()["segments"]) == 2

    # a render changes the dub's waveform, not the original's (the cache follows the mix)
    client.patch(base + "/segments/1", json={"translation": "CORTA."}, headers=auth)
    engine.render(job_id, wait=True)
    for track, changed in (("original", False), ("dub", True)):
        got = client.get(base + f"/peaks?track={track}", headers=auth).json()
        now = np.frombuffer(base64.b64decode(got["peaks"]), np.uint8)
        assert (not np.array_equal(now, waves[track])) == changed, track
