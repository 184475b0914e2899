"""``dub()`` on real recordings, checked the way a user would check the result."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SPEECH, require

from dubengine import dub
from dubengine.media import decode_audio, probe

CAP = 1.3


@pytest.fixture(scope="module")
def pipeline(warm_pipeline):
    """The session's models, loaded once for every dub."""
    return warm_pipeline


@pytest.fixture(scope="module")
def jfk_es_live(pipeline, tmp_path_factory):
    """The "live interpreter" options: 1 s lag, original speech at 0.1 underneath."""
    out = tmp_path_factory.mktemp("dub") / "jfk.es.live.wav"
    return dub(
        require(SPEECH / "jfk_en.flac"),
        "es",
        out=out,
        translation_lag_time=1.0,
        original_speech_volume=0.1,
        pipeline=pipeline,
        stems=True,
    )


def envelope(samples: np.ndarray, rate: int, window: float = 0.02) -> np.ndarray:
    hop = int(rate * window)
    frames = len(samples) // hop
    return np.sqrt((samples[: frames * hop].reshape(frames, hop) ** 2).mean(axis=1))


def without_background(result) -> np.ndarray:
    """The output (16 kHz mono) with the background stem taken out: what the dub added."""
    out = decode_audio(result.output, 16_000).mono()
    background = decode_audio(result.files.stem_background_wav, 16_000).mono()
    n = min(len(out), len(background))
    return out[:n] - background[:n]


def onset_after(
    samples: np.ndarray, rate: int, start: float, level: float, previous_end: float = 0.0
) -> float:
    """First time at or after ``start - 0.3`` s (and after the previous line has ended)
    where the 20 ms envelope passes ``level``."""
    env = envelope(samples, rate)
    first = max(0, int(max(start - 0.3, previous_end + 0.02) / 0.02))
    above = np.flatnonzero(env[first:] > level)
    return (first + above[0]) * 0.02 if len(above) else float("inf")


def test_output_keeps_the_input_duration(jfk_es):
    assert jfk_es.output.suffix == ".wav"  # FLAC in, lossless out
    assert probe(jfk_es.output).duration == pytest.approx(11.0, abs=0.05)


def test_dubbed_speech_is_heard_as_spanish(jfk_es, transcriber):
    heard = transcriber.transcribe(decode_audio(jfk_es.output, 16_000))
    assert heard.language == "es"
    assert jfk_es.source_language == "en"


def test_every_line_starts_where_its_original_did(jfk_es):
    dubbed = without_background(jfk_es)
    level = 0.1 * envelope(dubbed, 16_000).max()
    assert len(jfk_es.fits) == len(jfk_es.transcript.segments) >= 2  # no line dropped
    previous_end = 0.0
    for fit, segment in zip(jfk_es.fits, jfk_es.transcript.segments, strict=True):
        assert fit.start == pytest.approx(segment.start, abs=1e-3)
        heard_at = onset_after(dubbed, 16_000, fit.start, level, previous_end)
        previous_end = fit.end
        assert abs(heard_at - segment.start) <= 0.1, (fit, heard_at)
        assert fit.speed <= CAP + 1e-3
        assert fit.end > fit.start  # the line was placed, not dropped


def test_subtitles_and_transcript_are_written_beside_the_output(jfk_es):
    files = jfk_es.files
    assert all(path.is_file() for path in files.paths())
    srt = files.subtitles_target_srt.read_text()
    assert srt.startswith("1\n00:00:00,000 --> ")
    assert files.subtitles_target_vtt.read_text().startswith("WEBVTT")
    assert "ask not" in files.subtitles_source_srt.read_text().lower()
    data = json.loads(files.transcript_json.read_text())
    assert data["target_language"] == "es"
    assert len(data["fits"]) == len(data["transcript"]["segments"])
    assert [s["name"] for s in data["stages"]] == [
        "Separating",
        "Transcribing",
        "Matching voices",
        "Translating",
        "Synthesizing",
        "Aligning",
        "Mixing",
    ]
    for stage in data["stages"]:  # the parts of a stage's time never add up to more than it
        assert stage["load_seconds"] + stage["inference_seconds"] <= stage["seconds"] + 0.01
    assert data["voices"]["SPEAKER_00"]["voice"]
    assert not any("no separator ran" in w for w in data["warnings"])


def test_lag_starts_every_line_one_second_later(jfk_es, jfk_es_live):
    plain, live = without_background(jfk_es), without_background(jfk_es_live)
    # The original runs underneath at 0.1 (-20 dB): a level well above it finds the dub.
    for fit_plain, fit_live in zip(jfk_es.fits, jfk_es_live.fits, strict=True):
        assert fit_live.start == pytest.approx(fit_plain.start + 1.0, abs=1e-3)
        at_plain = onset_after(plain, 16_000, fit_plain.start, 0.3 * envelope(plain, 16_000).max())
        at_live = onset_after(live, 16_000, fit_live.start, 0.3 * envelope(live, 16_000).max())
        assert at_live - at_plain == pytest.approx(1.0, abs=0.1)


def test_original_speech_is_audible_underneath_at_the_asked_volume(jfk_es, jfk_es_live):
    original = decode_audio(require(SPEECH / "jfk_en.flac"), 16_000).mono()

    def share_of_original(result) -> float:
        """Least-squares weight of the original in what is neither background nor dub, where
        the original speaks and no dubbed line plays."""
        out = decode_audio(result.output, 16_000).mono()
        rest = sum(
            decode_audio(getattr(result.files, k), 16_000).mono()[: len(out)]
            for k in ("stem_background_wav", "stem_dubbed_speech_wav")
        )
        n = min(len(out), len(original), len(rest))
        quiet = np.zeros(n, dtype=bool)
        for segment in result.transcript.segments:
            quiet[int(segment.start * 16_000) : int(segment.end * 16_000)] = True
        for fit in result.fits:
            quiet[int(fit.start * 16_000) : int(fit.end * 16_000) + 1] = False
        o, x = (out[:n] - rest[:n])[quiet], original[:n][quiet]
        return float(np.dot(o, x) / np.dot(x, x))

    assert share_of_original(jfk_es) == pytest.approx(0.0, abs=0.01)
    assert share_of_original(jfk_es_live) == pytest.approx(0.1, abs=0.02)


def test_video_is_dubbed_into_mp4_with_the_same_picture(speech_video, pipeline, tmp_path):
    result = dub(speech_video, "de", out=tmp_path / "jfk_chaplin.de.mp4", pipeline=pipeline)
    before, after = probe(speech_video), probe(result.output)
    assert after.container == "mp4"
    assert (after.video.codec, after.audio.codec) == ("h264", "aac")
    assert (after.video.width, after.video.height) == (before.video.width, before.video.height)
    assert after.video.frame_rate == before.video.frame_rate
    assert abs(after.duration - before.duration) <= 1 / before.video.frame_rate
    assert result.target_language == "de"
