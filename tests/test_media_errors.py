"""Bad inputs get the reference's job-level code, a message a person understands, and no output."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import SPEECH, VIDEO, require, write_silence_wav

from dubengine import MediaError, ProcessingFailed
from dubengine.media import (
    Limits,
    decode_audio,
    human_duration,
    output_suffix,
    validate,
    write_output,
)


def refuse(src: Path, out_dir: Path, limits: Limits | None = None) -> MediaError:
    """Runs the media steps of a dub and returns the error; checks nothing was written."""
    with pytest.raises(MediaError) as caught:
        info = validate(src, limits)
        audio = decode_audio(src, 48_000, 2)
        write_output(audio, info, out_dir / f"out{output_suffix(info)}")
    assert list(out_dir.iterdir()) == [], "a refused input left files behind"
    return caught.value


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


def test_zero_byte_file_is_unsupported_format(tmp_path, out_dir):
    src = tmp_path / "empty.mp4"
    src.touch()
    error = refuse(src, out_dir)
    assert error.code == "unsupported_format"
    assert "empty" in error.message


def test_truncated_mp4_is_unsupported_format(tmp_path, out_dir):
    data = require(VIDEO / "smpte_h264_aac_1080p2997_10s.mp4").read_bytes()
    src = tmp_path / "cut.mp4"
    src.write_bytes(data[: len(data) // 2])
    error = refuse(src, out_dir)
    assert error.code == "unsupported_format"
    assert "truncated" in error.message


def test_truncated_mp4_without_its_index_is_unsupported_format(make_media, tmp_path, out_dir):
    # PyAV writes the index (moov) at the end, so half a file has none.
    data = make_media(tmp_path / "whole.mp4", "mp4", "h264", "aac").read_bytes()
    src = tmp_path / "cut.mp4"
    src.write_bytes(data[: len(data) // 2])
    assert refuse(src, out_dir).code == "unsupported_format"


@pytest.mark.parametrize(
    "content",
    [
        "Meeting notes: bring the video.\n" * 50,
        "<!DOCTYPE html><html><head><title>Video</title></head>"
        "<body><video src='a.mp4'></video></body></html>\n" * 20,
    ],
    ids=["text", "html"],
)
def test_text_or_html_named_mp4_is_unsupported_format(content, tmp_path, out_dir):
    src = tmp_path / "video.mp4"
    src.write_text(content)
    assert refuse(src, out_dir).code == "unsupported_format"


def test_video_without_audio_track_is_unsupported_format(make_media, tmp_path, out_dir):
    src = make_media(tmp_path / "silent.mp4", "mp4", "h264", None)
    error = refuse(src, out_dir)
    assert error.code == "unsupported_format"
    assert "no audio track" in error.message


def test_half_second_of_audio_is_too_short(tmp_path, out_dir):
    full = require(SPEECH / "short_en.wav")
    audio = decode_audio(full, 16_000).with_duration(0.5)
    src = tmp_path / "half.wav"
    info = validate(full)
    write_output(audio, info, src)
    error = refuse(src, out_dir)
    assert error.code == "video_too_short"
    assert error.message == "input is 0.5 s; the minimum is 1 s"


def test_input_over_ten_minutes_is_too_long(tmp_path, out_dir):
    src = write_silence_wav(tmp_path / "long.wav", seconds=664)
    error = refuse(src, out_dir)
    assert error.code == "video_too_long"
    assert error.message == "input is 11 min 4 s; the limit is 10 min"


def test_file_over_size_limit_is_too_large(tmp_path, out_dir):
    src = shutil.copy(require(SPEECH / "jfk_en.flac"), tmp_path / "jfk.flac")
    error = refuse(Path(src), out_dir, Limits(max_file_size_bytes=100_000))
    assert error.code == "video_too_large"
    assert "the limit is 100 kB" in error.message


def test_unlisted_container_is_unsupported_format(tmp_path, out_dir):
    # AIFF is real audio, but not among the reference's audio formats.
    error = refuse(require(SPEECH / "short_fr.aiff"), out_dir)
    assert error.code == "unsupported_format"
    assert "aiff" in error.message


def test_limits_are_configurable(make_media, tmp_path):
    src = make_media(tmp_path / "in.mp4", "mp4", "h264", "aac")
    with pytest.raises(MediaError) as caught:
        validate(src, Limits(max_duration_sec=2.0))
    assert caught.value.code == "video_too_long"
    assert validate(src, Limits(max_duration_sec=3.0)).duration == pytest.approx(2.5, abs=0.1)


def test_failed_encode_leaves_no_partial_file(make_media, tmp_path, out_dir):
    src = make_media(tmp_path / "in.mp4", "mp4", "h264", "aac")
    info = validate(src)
    audio = decode_audio(src, 48_000, 2)
    src.write_bytes(b"")  # the source vanishes between probe and encode
    with pytest.raises(ProcessingFailed):
        write_output(audio, info, out_dir / "out.mp4")
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.5, "0.5 s"), (1, "1 s"), (59.9, "59.9 s"), (600, "10 min"), (664, "11 min 4 s")],
)
def test_durations_read_as_a_person_writes_them(seconds, text):
    assert human_duration(seconds) == text
