"""The quality report of ``dub(jfk_en.flac, target="es", quality=True)``: every field measured,
in range, and consistent with the audio actually written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dubengine.media import decode_audio

CAP = 1.3


def test_every_line_is_reported_with_measured_timing_and_speed(jfk_es):
    report = jfk_es.quality.to_dict()
    assert len(report["lines"]) == len(jfk_es.transcript.segments) == len(jfk_es.fits)
    for line, fit in zip(report["lines"], jfk_es.fits, strict=True):
        assert line["id"] == fit.id and line["start"] == fit.start
        assert abs(line["measured_offset"]) <= 0.1
        assert 1.0 <= line["speed"] <= CAP + 1e-3
        assert line["overflow"] >= 0 and line["method"]
    assert report["max_abs_offset"] == max(abs(x["measured_offset"]) for x in report["lines"])
    assert report["max_speed"] <= CAP + 1e-3


def test_reported_offsets_match_the_written_audio(jfk_es):
    """Find each line's onset in the output file independently; it agrees with the report."""
    out = decode_audio(jfk_es.output, 16_000).mono()
    background = decode_audio(jfk_es.files.stem_background_wav, 16_000).mono()
    audio = out[: len(background)] - background[: len(out)]  # what the dub added
    hop = 160
    env = np.sqrt((audio[: len(audio) // hop * hop].reshape(-1, hop) ** 2).mean(axis=1))
    ends = {fit.id: fit.end for fit in jfk_es.fits}
    previous_end = 0.0
    for line in jfk_es.quality.to_dict()["lines"]:
        first = int(max(line["start"] - 0.3, previous_end + 0.01) * 100)
        previous_end = ends[line["id"]]
        window = env[max(0, first) : first + 100]
        onset = (max(0, first) + np.flatnonzero(window > 0.1 * window.max())[0]) / 100
        assert onset - line["source_start"] == pytest.approx(line["measured_offset"], abs=0.03)


def test_dubbed_lines_are_intelligible_spanish(jfk_es):
    report = jfk_es.quality.to_dict()
    for line in report["lines"]:
        assert 0.0 <= line["cer"] <= 2.0 and line["heard"].strip()
    assert report["mean_cer"] == pytest.approx(
        np.mean([x["cer"] for x in report["lines"]]), abs=1e-3
    )
    assert report["mean_cer"] <= 0.3
    # heard right, so no line is reported as not understood
    assert not [g for g in report["guards"] if "not heard back as" in g]


def test_a_line_not_heard_as_its_text_is_reported(jfk_es):
    from dataclasses import replace

    from dubengine.quality.report import _heard_wrong

    line = jfk_es.quality.lines[0]
    misheard = replace(line, heard="Joseph He", cer=1.5)
    (guard,) = _heard_wrong([line, misheard], "es")
    assert guard.startswith("[guard] line") and "CER 1.50" in guard and "'Joseph He'" in guard


def test_speaker_similarity_is_measured_per_speaker(jfk_es):
    similarity = jfk_es.quality.to_dict()["speaker_similarity"]
    assert set(similarity) == {"SPEAKER_00"}
    assert -1.0 <= similarity["SPEAKER_00"] <= 1.0
    # the matcher's own before/after: its choices never end farther than the stock voice
    matched = jfk_es.quality.to_dict()["matched_similarity"]["SPEAKER_00"]
    assert matched["before"] <= matched["after"]
    assert matched["after"] == jfk_es.voices["SPEAKER_00"].similarity


def test_timeline_picture_and_report_are_stored_with_the_result(jfk_es):
    png = jfk_es.files.timeline_png
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000
    stored = json.loads(jfk_es.files.transcript_json.read_text())
    assert stored["quality"]["lines"] == jfk_es.quality.to_dict()["lines"]
    background = stored["quality"]["background"]
    assert background["separated"] is True
    # where no dubbed line plays the mix is the background, so it follows it closely
    assert background["correlation_outside_lines"] >= 0.99
    assert background["background_share_db"] < 0  # JFK's recording is mostly speech
    assert set(stored["quality"]["dubbed_voice_similarity"]) == set()  # one speaker, no pairs
