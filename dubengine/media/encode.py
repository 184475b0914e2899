"""Writing the dubbed result by the reference's rule.

Video in → MP4 with H.264 video and AAC 192 kbps audio; the input's video is copied when it is
already H.264 (it fits MP4 as it is), re-encoded with libx264 otherwise, keeping resolution,
frame rate and rotation. Audio-only in → WAV when the input was lossless (PCM, FLAC, ALAC),
MP3 192 kbps when it was lossy. Every file is written under a temporary name and renamed on
success, so a failure never leaves a partial output.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .._errors import InvalidOption, ProcessingFailed
from .decode import Audio
from .limits import LOSSLESS_AUDIO_CODECS, codec_family
from .probe import MediaInfo

AUDIO_BIT_RATE = 192_000
VIDEO_AUDIO_RATE = 48_000
MP3_RATES = (48_000, 44_100, 32_000, 24_000, 22_050, 16_000)
# Containers whose H.264 packets carry reliable timestamps; AVI's often lack pts, so re-encode.
_H264_COPY_CONTAINERS = frozenset({"mp4", "mov", "mkv", "webm", "flv", "ts"})


@dataclass(frozen=True, slots=True)
class VideoEncoding:
    """libx264 settings for re-encoded video (copied H.264 is untouched)."""

    preset: str = "veryfast"
    crf: int = 20


def output_suffix(info: MediaInfo) -> str:
    """The output's file extension for this input: ".mp4", ".wav" or ".mp3"."""
    if info.is_video:
        return ".mp4"
    audio = info.audio
    lossless = audio is not None and codec_family(audio.codec) in LOSSLESS_AUDIO_CODECS
    return ".wav" if lossless else ".mp3"


def output_suffixes(info: MediaInfo) -> tuple[str, ...]:
    """The extensions an output for this input may have, the default first: MP4 for video;
    WAV or MP3 for audio."""
    if info.is_video:
        return (".mp4",)
    default = output_suffix(info)
    return (default, *(s for s in (".wav", ".mp3") if s != default))


def check_output(out_path: str | os.PathLike[str], info: MediaInfo) -> Path:
    """Refuses, before any work, an output path that could not be written for this input.

    Raises:
        InvalidOption: a suffix this input cannot have, a missing folder, a folder as the
            output, or the input itself.
    """
    out_path = Path(out_path)
    allowed = output_suffixes(info)
    if out_path.suffix.lower() not in allowed:
        kinds = " or ".join(s.lstrip(".").upper() for s in allowed)
        raise InvalidOption(
            f"output {out_path.name!r}: this input can be written as {kinds} "
            f"({', '.join(allowed)}), not {out_path.suffix or 'a file without an extension'}"
        )
    if out_path.is_dir():
        raise InvalidOption(f"output {str(out_path)!r} is a folder; name a file")
    if not out_path.parent.is_dir():
        raise InvalidOption(f"output folder {str(out_path.parent)!r} does not exist")
    if out_path.exists() and out_path.resolve() == info.path.resolve():
        raise InvalidOption("the output would overwrite the input; name another file")
    return out_path


def write_output(
    audio: Audio,
    source: MediaInfo,
    out_path: str | os.PathLike[str],
    video: VideoEncoding | None = None,
) -> Path:
    """Writes ``audio`` as the new soundtrack of ``source`` to ``out_path``.

    The suffix of ``out_path`` must be one of ``output_suffixes(source)``.

    Raises:
        InvalidOption: wrong suffix for this input (``check_output`` says so up front).
        ProcessingFailed: the encoder or muxer failed; nothing is left at ``out_path``.
    """
    out_path = Path(out_path)
    if out_path.suffix.lower() not in output_suffixes(source):
        check_output(out_path, source)
    tmp = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        if source.is_video:
            # The video sets the timeline: the soundtrack ends where the picture does.
            audio = audio.with_duration(source.duration)
            _write_video(audio, source, tmp, video or VideoEncoding())
        else:
            _write_audio(audio, source, tmp, out_path.suffix.lower())
        os.replace(tmp, out_path)
    except av.FFmpegError as exc:
        raise ProcessingFailed(f"could not write {out_path.name}: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return out_path


def write_wav(audio: Audio, path: str | os.PathLike[str]) -> Path:
    """``audio`` as a 32-bit float WAV (exact: for stems meant for further editing)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    layout = "mono" if audio.channels == 1 else "stereo"
    try:
        with av.open(str(tmp), "w", format="wav") as out:
            stream = out.add_stream("pcm_f32le", rate=audio.sample_rate, layout=layout)
            for packet in _encode_audio(stream, audio, layout):
                out.mux(packet)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _write_audio(audio: Audio, source: MediaInfo, tmp: Path, suffix: str) -> None:
    channels = min(audio.channels, 2)
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(tmp), "w", format=suffix.lstrip(".")) as out:
        if suffix == ".wav":
            stream = out.add_stream("pcm_s16le", rate=audio.sample_rate, layout=layout)
        else:
            rate = min(MP3_RATES, key=lambda r: abs(r - audio.sample_rate))
            stream = out.add_stream("libmp3lame", rate=rate, layout=layout)
            stream.bit_rate = AUDIO_BIT_RATE
        for packet in _encode_audio(stream, audio, layout):
            out.mux(packet)


def _write_video(audio: Audio, source: MediaInfo, tmp: Path, settings: VideoEncoding) -> None:
    video_info = source.video
    assert video_info is not None  # caller checked is_video
    with (
        av.open(str(source.path), metadata_errors="ignore") as inp,
        av.open(str(tmp), "w", format="mp4") as out,
    ):
        vin = inp.streams[video_info.index]
        copy = video_info.codec == "h264" and source.container in _H264_COPY_CONTAINERS
        if copy:
            vout = out.add_stream_from_template(vin)
            video_packets = _copied_packets(inp, vin, vout)
        else:
            vout = _x264_stream(out, vin, video_info.rotation, settings)
            video_packets = _reencoded_packets(inp, vin, vout)
        aout = out.add_stream("aac", rate=VIDEO_AUDIO_RATE, layout="stereo")
        aout.bit_rate = AUDIO_BIT_RATE
        audio_packets = _encode_audio(aout, audio, "stereo")
        _mux_interleaved(out, video_packets, audio_packets)


def _x264_stream(
    out: av.container.OutputContainer,
    vin: av.video.stream.VideoStream,
    rotation: int,
    settings: VideoEncoding,
) -> av.video.stream.VideoStream:
    vout = out.add_stream(
        "libx264",
        rate=_frame_rate(vin),
        options={"preset": settings.preset, "crf": str(settings.crf)},
    )
    # 4:2:0 needs even sizes; an odd one loses its last row or column.
    vout.width = vin.codec_context.width // 2 * 2
    vout.height = vin.codec_context.height // 2 * 2
    vout.pix_fmt = "yuv420p"
    if rotation:
        vout.set_display_rotation(rotation)
    return vout


def _frame_rate(vin: av.video.stream.VideoStream) -> Fraction:
    rate = vin.guessed_rate or vin.average_rate or vin.base_rate
    return Fraction(rate) if rate else Fraction(25)


def _copied_packets(
    inp: av.container.InputContainer,
    vin: av.video.stream.VideoStream,
    vout: av.video.stream.VideoStream,
) -> Iterator[av.Packet]:
    for packet in inp.demux(vin):
        if packet.dts is None and packet.pts is None:
            continue  # the demuxer's end-of-stream marker
        packet.stream = vout
        yield packet


def _reencoded_packets(
    inp: av.container.InputContainer,
    vin: av.video.stream.VideoStream,
    vout: av.video.stream.VideoStream,
) -> Iterator[av.Packet]:
    """Frames go on a constant-rate grid at the input's frame rate, as ffmpeg's cfr mode does.

    A frame is placed in the slot nearest its time; a gap in the source (AVI drops, jittery
    millisecond timestamps in WebM or FLV) repeats the previous frame, and a second frame for
    a taken slot is dropped. So the output has exactly the input's frame rate and length.
    """
    vin.thread_type = "AUTO"
    rate = _frame_rate(vin)
    next_slot = 0
    previous: av.VideoFrame | None = None
    for frame in inp.decode(vin):
        slot = round(frame.time * rate) if frame.time is not None else next_slot
        if slot < next_slot:
            continue
        while previous is not None and next_slot < slot:
            yield from vout.encode(_at_slot(previous, next_slot, rate))
            next_slot += 1
        previous = frame
        yield from vout.encode(_at_slot(frame, next_slot, rate))
        next_slot += 1
    yield from vout.encode(None)


def _at_slot(frame: av.VideoFrame, slot: int, rate: Fraction) -> av.VideoFrame:
    frame.pts = slot
    frame.time_base = 1 / rate
    return frame


def _encode_audio(
    stream: av.audio.stream.AudioStream, audio: Audio, layout: str
) -> Iterator[av.Packet]:
    """Encodes in one-second chunks; PyAV refits them to the codec's frame size and rate."""
    channels = 1 if layout == "mono" else 2
    samples = _with_channels(audio.samples, channels)
    step = audio.sample_rate
    for start in range(0, samples.shape[1], step):
        chunk = np.ascontiguousarray(samples[:, start : start + step])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate = audio.sample_rate
        frame.pts = start
        frame.time_base = Fraction(1, audio.sample_rate)
        yield from stream.encode(frame)
    yield from stream.encode(None)


def _with_channels(samples: np.ndarray, channels: int) -> np.ndarray:
    if samples.shape[0] == channels:
        return samples.astype(np.float32, copy=False)
    if channels == 1:
        return samples.mean(axis=0, keepdims=True).astype(np.float32)
    return np.repeat(samples[:1], channels, axis=0).astype(np.float32)


def _mux_interleaved(
    out: av.container.OutputContainer,
    video_packets: Iterator[av.Packet],
    audio_packets: Iterator[av.Packet],
) -> None:
    """Writes packets in time order, so players need no large buffers."""
    pending_audio = next(audio_packets, None)
    for vpacket in video_packets:
        vtime = _time(vpacket)
        while pending_audio is not None and _time(pending_audio) <= vtime:
            out.mux(pending_audio)
            pending_audio = next(audio_packets, None)
        out.mux(vpacket)
    while pending_audio is not None:
        out.mux(pending_audio)
        pending_audio = next(audio_packets, None)


def _time(packet: av.Packet) -> float:
    ts = packet.dts if packet.dts is not None else packet.pts
    if ts is None or packet.time_base is None:
        return 0.0
    return float(ts * packet.time_base)
