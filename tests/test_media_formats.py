"""Every accepted container, codec and audio format decodes and re-encodes by the rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FRAME_RATE, FRAME_SIZE, VIDEO, require, similarity

from dubengine.media import Audio, decode_audio, output_suffix, probe, validate, write_output

# (container, video codec, audio codec): together they cover every accepted container, video
# codec and audio codec of the reference at least once.
VIDEO_CASES = [
    ("mp4", "h264", "aac"),
    ("mov", "prores", "pcm"),
    ("mkv", "hevc", "flac"),
    ("webm", "vp9", "opus"),
    ("webm", "vp8", "vorbis"),
    ("avi", "mpeg4", "mp3"),
    ("flv", "h264", "mp3"),
    ("ts", "h264", "ac3"),
    ("mkv", "av1", "ac3"),
    ("mp4", "hevc", "aac"),
]
# (format, codec, expected output suffix): lossless in → WAV, lossy in → MP3.
AUDIO_CASES = [
    ("wav", "pcm", ".wav"),
    ("flac", "flac", ".wav"),
    ("mp3", "mp3", ".mp3"),
    ("ogg", "vorbis", ".mp3"),
    ("ogg", "opus", ".mp3"),
    ("m4a", "aac", ".mp3"),
    ("aac", "aac", ".mp3"),
    ("wma", "wma", ".mp3"),
]


def redub(src: Path, out_dir: Path) -> tuple[Path, Audio]:
    """What the pipeline does around the models: validate, decode, write the new soundtrack."""
    info = validate(src)
    audio = decode_audio(src, sample_rate=48_000, channels=2)
    out = write_output(audio, info, out_dir / f"{src.stem}.dub{output_suffix(info)}")
    return out, audio


def assert_same_sound(original: Audio, out: Path) -> None:
    back = decode_audio(out, sample_rate=16_000)
    # 48 kHz → 16 kHz by taking every third sample is enough for a correlation check.
    assert similarity(original.mono()[::3], back.mono(), 16_000) > 0.9


@pytest.mark.parametrize(("container", "vcodec", "acodec"), VIDEO_CASES)
def test_video_input_comes_back_as_h264_aac_mp4_with_same_picture_timing(
    container, vcodec, acodec, make_media, tmp_path
):
    src = make_media(tmp_path / f"in.{container}", container, vcodec, acodec)
    info = probe(src)
    assert info.container == container
    assert info.video.codec == vcodec
    assert info.audio.codec.startswith("pcm" if acodec == "pcm" else acodec)

    out, audio = redub(src, tmp_path)

    assert audio.duration == pytest.approx(2.5, abs=0.1)
    result = probe(out)
    assert out.suffix == ".mp4" and result.container == "mp4"
    assert result.video.codec == "h264"
    assert result.audio.codec == "aac"
    assert (result.video.width, result.video.height) == FRAME_SIZE
    assert result.video.frame_rate == FRAME_RATE
    assert result.video.average_frame_rate == pytest.approx(FRAME_RATE, rel=0.01)
    assert abs(result.duration - info.duration) <= 1 / FRAME_RATE
    assert result.audio.bit_rate == pytest.approx(192_000, rel=0.15)
    assert_same_sound(audio, out)


@pytest.mark.parametrize(("fmt", "codec", "suffix"), AUDIO_CASES)
def test_audio_input_comes_back_as_wav_when_lossless_and_mp3_when_lossy(
    fmt, codec, suffix, make_media, tmp_path
):
    src = make_media(tmp_path / f"in.{fmt}", fmt, None, codec)
    info = probe(src)
    assert info.container == fmt
    assert not info.is_video

    out, audio = redub(src, tmp_path)

    result = probe(out)
    assert out.suffix == suffix
    if suffix == ".wav":
        assert result.container == "wav" and result.audio.codec == "pcm_s16le"
    else:
        assert result.container == "mp3" and result.audio.codec == "mp3"
        assert result.audio.bit_rate == pytest.approx(192_000, rel=0.05)
    assert result.duration == pytest.approx(info.duration, abs=0.06)
    assert_same_sound(audio, out)


@pytest.mark.parametrize(
    ("name", "size", "rate"),
    [
        ("bbb_vp8_vorbis_30s.webm", (1280, 720), 24),
        ("chaplin_h264_mp3_10s.mp4", (640, 360), 25),
        ("smpte_h264_aac_1080p2997_10s.mp4", (1920, 1080), 25),
    ],
)
def test_real_videos_keep_resolution_frame_rate_and_duration(name, size, rate, tmp_path):
    src = require(VIDEO / name)
    info = probe(src)
    assert (info.video.width, info.video.height) == size
    assert info.video.frame_rate == rate

    out, _ = redub(src, tmp_path)

    result = probe(out)
    assert (result.video.codec, result.audio.codec) == ("h264", "aac")
    assert (result.video.width, result.video.height) == size
    assert result.video.frame_rate == rate
    assert abs(result.duration - info.duration) <= 1 / rate


def test_h264_input_is_copied_not_reencoded(tmp_path):
    src = require(VIDEO / "chaplin_h264_mp3_10s.mp4")
    out, _ = redub(src, tmp_path)
    # Copied packets keep the source's exact bit rate; a re-encode would not.
    assert probe(out).video.bit_rate == probe(src).video.bit_rate


@pytest.mark.parametrize("vcodec", ["h264", "vp9"])  # copied and re-encoded
def test_rotation_metadata_survives(vcodec, make_media, tmp_path):
    container = "mp4" if vcodec == "h264" else "webm"
    src = make_media(tmp_path / f"rot.{container}", container, vcodec, "opus", rotation=90)
    assert probe(src).video.rotation == 90
    out, _ = redub(src, tmp_path)
    assert probe(out).video.rotation == 90


def test_audio_shorter_than_the_video_is_padded_to_its_length(make_media, tmp_path):
    src = make_media(tmp_path / "in.mp4", "mp4", "h264", "aac")
    info = validate(src)
    short = decode_audio(src, 48_000, 2).with_duration(1.0)
    out = write_output(short, info, tmp_path / "out.mp4")
    assert probe(out).audio.duration == pytest.approx(info.duration, abs=0.05)
