"""Editing a real dub: JFK dubbed into Spanish with the real models, one line's translation
rewritten and rendered. Everywhere but that line the output is sample for sample the old one,
and the line is heard back saying the new text."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SPEECH, require

from dubengine import Engine, PipelineConfig
from dubengine.editing.render import CROSSFADE_SEC, LOOKAHEAD_SEC
from dubengine.media import Audio, decode_audio
from dubengine.media.resample import resample
from dubengine.quality.metrics import character_error_rate

RATE = 48_000
NEW_TEXT = "Pregunten qué pueden hacer ustedes por su país."


@pytest.fixture(scope="module")
def edited(tmp_path_factory, warm_pipeline):
    """(engine, job id, output before, output after, the line's fits before and after)."""
    data = tmp_path_factory.mktemp("studio")
    with Engine(
        data, workers=1, config=PipelineConfig(device="cpu"), pipeline_factory=lambda: warm_pipeline
    ) as engine:
        job = engine.create_job(str(require(SPEECH / "jfk_en.flac")), "es")
        assert engine.wait(job.job_id, timeout=600).status.value == "completed"
        before = decode_audio(engine.get_result(job.job_id).path, RATE, 2).samples
        last = len(engine.segments(job.job_id)["segments"]) - 1
        old = engine.segments(job.job_id)["segments"][last]
        engine.edit_segment(job.job_id, last, translation=NEW_TEXT)
        status = engine.render(job.job_id, wait=True)
        assert status["state"] == "done", status
        after = decode_audio(engine.get_result(job.job_id).path, RATE, 2).samples
        new = engine.segments(job.job_id)["segments"][last]
        yield engine, job.job_id, before, after, old, new


def test_the_output_changes_only_inside_the_edited_line(edited):
    engine, job_id, before, after, old, new = edited
    assert after.shape == before.shape
    changed = np.flatnonzero(np.any(after != before, axis=0)) / RATE
    assert len(changed) > RATE * 0.5, "the edited line was not spoken again"
    edge = CROSSFADE_SEC + LOOKAHEAD_SEC + 0.002
    lo = min(old["fit"]["start"], new["fit"]["start"]) - edge
    hi = max(old["fit"]["end"], new["fit"]["end"]) + edge
    assert lo <= changed.min() and changed.max() <= hi, (changed.min(), changed.max(), lo, hi)
    report = engine.get_report(job_id)
    assert report["render"]["spoken"] == [new["index"]]


def test_the_edited_line_is_heard_back_with_its_new_text(edited, transcriber):
    after, new = edited[3], edited[5]
    start, end = new["fit"]["start"], new["fit"]["end"]
    line = Audio(after[:, int(start * RATE) : int(end * RATE) + RATE // 4], RATE)
    heard = transcriber.transcribe(resample(line, 16_000, 1), language="es")
    text = " ".join(s.text for s in heard.segments)
    assert character_error_rate(NEW_TEXT, text, "es") <= 0.2, text
    assert new["fit"]["speed"] <= 1.3 + 1e-6
