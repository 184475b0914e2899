"""The pipeline's orchestration through its real code paths, with small fake backends from
the registry: stage order, one progress stream, warnings, errors mapped to codes, models
loaded once and released. Real media in and out; no model runs, so this is part of the fast
suite (``-m "not slow"``)."""

from __future__ import annotations

from dataclasses import replace

import fakes
import pytest
from conftest import SPEECH, require

from dubengine import (
    STAGES,
    DubOptions,
    Engine,
    InvalidOption,
    JobStatus,
    MediaError,
    Pipeline,
    dub,
)
from dubengine._progress import overall_percent
from dubengine.media import decode_audio, probe
from dubengine.pipeline.separate import NOT_SEPARATED

FAKE = fakes.CONFIG  # every role on its fake backend


pytestmark = pytest.mark.usefixtures("fake_backends")


@pytest.fixture
def short_wav():
    return require(SPEECH / "short_en.wav")


def test_the_seven_stages_run_in_order_and_report(short_wav, tmp_path):
    events = []
    result = dub(short_wav, "es", out=tmp_path / "out.wav", config=FAKE, progress=events.append)
    assert [s.name for s in result.stages] == [s.name for s in STAGES]
    assert [s.stage for s in result.stages] == [s.key for s in STAGES]
    for report in result.stages:
        assert report.load_seconds + report.inference_seconds <= report.seconds + 0.01
    keys = [s.key for s in STAGES]
    assert [keys.index(e.stage) for e in events] == sorted(keys.index(e.stage) for e in events)
    percents = [overall_percent(e) for e in events]
    assert percents == sorted(percents) and percents[0] == 0 and percents[-1] == 100
    assert {e.stage for e in events} == set(keys)


def test_the_dub_is_real_media_with_subtitles_and_both_speakers(short_wav, tmp_path):
    result = dub(short_wav, "es", out=tmp_path / "out.wav", config=FAKE)
    assert probe(result.output).duration == pytest.approx(probe(short_wav).duration, abs=0.05)
    assert abs(decode_audio(result.output, 16_000).mono()).max() > 0.01
    assert {s.speaker for s in result.transcript.segments} == {"SPEAKER_00", "SPEAKER_01"}
    assert {v.voice for v in result.voices.values()} == {"low", "high"}
    assert result.files.subtitles_target_srt.read_text().count("-->") == 2
    assert "HELLO THERE." in result.files.subtitles_target_srt.read_text()
    assert result.files.transcript_json.is_file()


def test_every_model_is_loaded_once_per_run_and_released(short_wav, tmp_path):
    result = dub(short_wav, "es", out=tmp_path / "out.wav", config=FAKE)
    assert fakes.SHORTENED == [1]  # the long line went back to the translator while aligning
    assert result.fits[1].method == "shortened"
    # the translator too: no reload. The synthesizer speaks in Matching voices (their paces),
    # from Synthesizing, and after the line is shortened: it is not held while the
    # translator, the largest, runs.
    assert dict(fakes.LOADS) == dict.fromkeys(fakes.FAKES, 1) | {"synthesizer": 3}
    assert fakes.CLOSED == fakes.LOADS


def test_warm_models_stay_loaded_across_runs(short_wav, tmp_path):
    pipeline = Pipeline(replace(FAKE, keep_models_warm=True))
    for n in range(2):
        dub(short_wav, "es", out=tmp_path / f"out{n}.wav", pipeline=pipeline)
    assert dict(fakes.LOADS) == dict.fromkeys(fakes.FAKES, 1) and not fakes.CLOSED
    pipeline.close()
    assert fakes.CLOSED == fakes.LOADS


def test_the_matcher_gets_the_pools_embedder(short_wav, tmp_path):
    pipeline = Pipeline(replace(FAKE, keep_models_warm=True))
    dub(short_wav, "es", out=tmp_path / "out.wav", pipeline=pipeline)
    assert fakes.FakeMatcher.seen_embedder is pipeline.models.get("embedder", "fake")
    pipeline.close()


def test_warnings_name_what_the_user_should_know(short_wav, tmp_path):
    fakes.FakeTranslator.empty_ids = frozenset({0})
    result = dub(short_wav, "es", out=tmp_path / "out.wav", config=replace(FAKE, separator=None))
    assert NOT_SEPARATED in result.warnings
    assert any("lines [0] came back untranslated" in w for w in result.warnings)
    assert result.transcript.segments[0].translation == "Hello there."


def test_backend_options_are_keyed_by_role_and_checked(short_wav, tmp_path):
    config = replace(FAKE, backend_options={("translator", "fake"): {"beam": 4}})
    with pytest.raises(InvalidOption, match="translator backend 'fake' takes no option 'beam'"):
        dub(short_wav, "es", out=tmp_path / "out.wav", config=config)
    # options for one role's "fake" never reach another role's "fake"
    config = replace(FAKE, backend_options={("voice_matcher", "fake"): {"embedder": None}})
    dub(short_wav, "es", out=tmp_path / "out.wav", config=config)
    assert fakes.LOADS["embedder"] == 1


def test_options_are_checked_before_anything_runs(short_wav, tmp_path):
    with pytest.raises(InvalidOption, match="unknown option 'lag'"):
        dub(short_wav, "es", config=FAKE, lag=1.0)
    with pytest.raises(InvalidOption):
        DubOptions.build("es", translation_lag_time=4)
    assert not fakes.LOADS


def test_a_job_goes_through_the_lifecycle_with_stage_progress(short_wav, tmp_path):
    with Engine(tmp_path / "data", workers=1, config=FAKE) as engine:
        job = engine.wait(engine.create_job(short_wav, "es", reduce_accent=True).job_id, 60)
        assert job.status is JobStatus.COMPLETED, job.error_message
        assert [s for s, _ in engine.history(job.job_id)] == [
            "pending",
            "downloading",
            "processing",
            "uploading",
            "completed",
        ]
        assert engine.get_report(job.job_id)["target_language"] == "es"
        assert engine.get_result(job.job_id).path.is_file()
    assert fakes.CLOSED == fakes.LOADS


def test_a_stage_that_finds_nothing_fails_the_job_with_the_apis_code(tmp_path):
    from conftest import write_silence_wav

    silent = write_silence_wav(tmp_path / "silence.wav", 2.0)
    with pytest.raises(MediaError) as caught:
        dub(silent, "es", out=tmp_path / "out.wav", config=FAKE)
    assert caught.value.code == "unsupported_format"
    assert not (tmp_path / "out.wav").exists()
    assert fakes.CLOSED == fakes.LOADS  # released on failure too
    with Engine(tmp_path / "data", workers=1, config=FAKE) as engine:
        job = engine.wait(engine.create_job(silent, "es").job_id, 60)
    assert (job.status, job.error) == (JobStatus.FAILED, "unsupported_format")


def test_a_crashing_backend_fails_the_job_as_an_internal_error(short_wav, tmp_path, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("synthesizer exploded")

    monkeypatch.setattr(fakes.FakeSynthesizer, "synthesize", broken)
    with Engine(tmp_path / "data", workers=1, config=FAKE) as engine:
        job = engine.wait(engine.create_job(short_wav, "es").job_id, 60)
    assert (job.status, job.error) == (JobStatus.FAILED, "processing_failed")
    assert "internal error: RuntimeError: synthesizer exploded" in job.error_message
    # the stage it failed in: the first to speak, measuring each voice's pace
    assert job.progress["stage_name"] == "Matching voices"
    assert not list((tmp_path / "data" / "results").iterdir())


def test_the_timing_report_gives_each_lines_overlap_and_the_overflowing_count(short_wav, tmp_path):
    from dubengine import LineFit

    fit = LineFit(0, 1.0, 3.0, 1.5, 3.5, "x", 1.0, 1.0, 1.0, 0.0, 0.0, 0, "natural")
    assert fit.iou == pytest.approx(1.5 / 2.5)  # 1.5 s shared of 2.5 s spanned
    result = dub(short_wav, "es", out=tmp_path / "out.wav", config=FAKE)
    timing = result.to_dict()["timing"]
    assert timing["lines"] == len(result.fits)
    assert timing["mean_iou"] == pytest.approx(
        sum(f.iou for f in result.fits) / len(result.fits), abs=1e-4
    )
    assert timing["overflowing"] == sum(f.overflow > 0.05 for f in result.fits)
    assert all("iou" in f for f in result.to_dict()["fits"])


def test_a_cloning_synthesizer_gets_each_speakers_own_speech_and_no_matching(short_wav, tmp_path):
    config = replace(FAKE, synthesizer="fake-cloner")
    result = dub(short_wav, "es", out=tmp_path / "out.wav", config=config)
    assert fakes.LOADS["voice_matcher"] == 0  # matching skipped: the voice is the speaker's
    lines = {s.speaker: (s.start, s.end) for s in result.transcript.segments}
    for speaker, voice in result.voices.items():
        assert voice.voice == f"cloned:{speaker}" and voice.similarity is None
        ((start, end),) = voice.reference_spans  # one line each, not overlapped: all of it
        assert (start, end) == pytest.approx(lines[speaker], abs=0.01)
    spoken = {round(d, 2) for d in fakes.FakeCloner.references}  # a refit line is spoken again
    assert spoken == {round(end - start, 2) for start, end in lines.values()}
    assert probe(result.output).duration == pytest.approx(probe(short_wav).duration, abs=0.05)


def test_cloning_references_are_the_longest_clean_stretches_up_to_30_s():
    from dubengine._types import Segment, Transcript
    from dubengine.pipeline.voices import clone_spans

    transcript = Transcript(
        language="en",
        segments=(
            Segment(0, 0.0, 10.0, "a", speaker="A"),
            Segment(1, 8.0, 9.0, "b", speaker="B"),  # B talks over A
            Segment(2, 12.0, 14.0, "a", speaker="A"),
            Segment(3, 20.0, 45.0, "a", speaker="A"),
        ),
    )
    # A: 25 s from the longest line, then 5 s of the next longest clean stretch (0-8 s)
    assert clone_spans(transcript, "A") == [(0.0, 5.0), (20.0, 45.0)]
    # B has no clean speech at all: under 6 s clean, so all of it, overlapped or not
    assert clone_spans(transcript, "B") == [(8.0, 9.0)]
