"""What a media file holds: container, duration, size and streams, read with PyAV."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from .._errors import MediaError


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """One stream of a media file. Fields that do not apply to its type are None."""

    index: int
    type: str  # "audio", "video", "subtitle", "data"
    codec: str  # FFmpeg's canonical codec name, e.g. "h264", "aac", "pcm_s16le"
    bit_rate: int | None = None
    duration: float | None = None  # seconds
    sample_rate: int | None = None
    channels: int | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: Fraction | None = None  # the base rate (ffprobe's r_frame_rate)
    average_frame_rate: Fraction | None = None  # frames / duration
    rotation: int = 0  # degrees, counter-clockwise, from the display matrix
    is_cover_art: bool = False  # an attached picture (MP3/M4A artwork), not a video


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """A probed media file.

    ``container`` is one label per accepted format ("mp4", "mov", "mkv", "webm", "avi", "flv",
    "ts", "wav", "mp3", "flac", "ogg", "m4a", "aac", "wma"), or FFmpeg's demuxer name for
    anything else.
    """

    path: Path
    container: str
    format_name: str  # FFmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    duration: float  # seconds; 0.0 when the container gives none
    size_bytes: int
    streams: tuple[StreamInfo, ...]
    # Where the container's sample index says the media data ends (MP4/MOV only): a file
    # shorter than that was cut off.
    indexed_bytes: int | None = None

    @property
    def video_streams(self) -> tuple[StreamInfo, ...]:
        return tuple(s for s in self.streams if s.type == "video" and not s.is_cover_art)

    @property
    def audio_streams(self) -> tuple[StreamInfo, ...]:
        return tuple(s for s in self.streams if s.type == "audio")

    @property
    def is_video(self) -> bool:
        return bool(self.video_streams)

    @property
    def video(self) -> StreamInfo | None:
        return self.video_streams[0] if self.video_streams else None

    @property
    def audio(self) -> StreamInfo | None:
        return self.audio_streams[0] if self.audio_streams else None


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Reads a file's container and streams without decoding more than one video frame.

    Raises:
        MediaError: ``unsupported_format`` when the file is missing, empty or not media.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise MediaError("unsupported_format", f"input file not found: {path}") from exc
    if size == 0:
        raise MediaError("unsupported_format", f"input file is empty (0 bytes): {path.name}")
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            streams = tuple(_stream_info(container, s) for s in container.streams)
            duration = _duration(container)
            format_name = container.format.name
            brand = container.metadata.get("major_brand", "")
            indexed = _indexed_bytes(container) if format_name.startswith("mov,mp4") else None
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(
            "unsupported_format",
            f"{path.name} is not a readable audio or video file ({_reason(exc)})",
        ) from exc
    has_video = any(s.type == "video" and not s.is_cover_art for s in streams)
    return MediaInfo(
        path=path,
        container=_container_label(format_name, brand, path.suffix.lower(), has_video),
        format_name=format_name,
        duration=duration,
        size_bytes=size,
        streams=streams,
        indexed_bytes=indexed,
    )


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _container_label(format_name: str, brand: str, suffix: str, has_video: bool) -> str:
    if format_name.startswith("mov,mp4"):
        if not has_video:
            return "m4a"
        return "mov" if brand.strip() == "qt" else "mp4"
    if format_name == "matroska,webm":
        return "webm" if suffix == ".webm" else "mkv"
    if format_name == "asf":
        return "asf" if has_video else "wma"
    return {"mpegts": "ts"}.get(format_name, format_name)


def _duration(container: av.container.InputContainer) -> float:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    durations = [
        float(s.duration * s.time_base)
        for s in container.streams
        if s.duration is not None and s.time_base is not None
    ]
    return max(durations, default=0.0)


def _indexed_bytes(container: av.container.InputContainer) -> int | None:
    ends = []
    for stream in container.streams:
        entries = stream.index_entries
        if len(entries):
            last = entries[len(entries) - 1]
            ends.append(last.pos + last.size)
    return max(ends, default=None)


def _stream_info(container: av.container.InputContainer, stream: av.stream.Stream) -> StreamInfo:
    ctx = stream.codec_context
    codec = ctx.codec.canonical_name if ctx is not None and ctx.codec else "unknown"
    duration = (
        float(stream.duration * stream.time_base)
        if stream.duration is not None and stream.time_base is not None
        else None
    )
    common = {
        "index": stream.index,
        "type": stream.type,
        "codec": codec,
        "bit_rate": (ctx.bit_rate or None) if ctx is not None else None,
        "duration": duration,
    }
    if stream.type == "audio":
        return StreamInfo(**common, sample_rate=ctx.sample_rate, channels=ctx.channels)
    if stream.type == "video":
        cover = bool(stream.disposition & av.stream.Disposition.attached_pic)
        rate = stream.guessed_rate or stream.average_rate
        return StreamInfo(
            **common,
            width=ctx.width,
            height=ctx.height,
            frame_rate=Fraction(rate) if rate else None,
            average_frame_rate=Fraction(stream.average_rate) if stream.average_rate else None,
            rotation=0 if cover else _rotation(container, stream),
            is_cover_art=cover,
        )
    return StreamInfo(**common)


def _rotation(container: av.container.InputContainer, stream: av.stream.Stream) -> int:
    """The display rotation, read off the first decoded frame (PyAV exposes it there)."""
    try:
        for frame in container.decode(stream):
            return int(frame.rotation) % 360
    except av.FFmpegError:
        return 0
    return 0
