"""Checks an input against the limits, with a message a person understands."""

from __future__ import annotations

import os
from pathlib import Path

from .._errors import MediaError
from .limits import Limits, codec_family
from .probe import MediaInfo, StreamInfo, probe


def validate(path: str | os.PathLike[str], limits: Limits | None = None) -> MediaInfo:
    """Probes ``path`` and checks it against ``limits``.

    The size is checked before the file is opened, so an oversized file is refused cheaply.

    Returns:
        The probed media, known to have a usable audio track (``usable_audio_stream``).

    Raises:
        MediaError: with code ``video_too_large``, ``unsupported_format``, ``video_too_long`` or
            ``video_too_short``.
    """
    limits = limits or Limits()
    path = Path(path)
    if path.exists():
        size = path.stat().st_size
        if size > limits.max_file_size_bytes:
            raise MediaError(
                "video_too_large",
                f"input is {human_size(size)}; "
                f"the limit is {human_size(limits.max_file_size_bytes)}",
            )
    info = probe(path)
    check_format(info, limits)
    check_duration(info.duration, limits)
    return info


def check_format(info: MediaInfo, limits: Limits) -> None:
    """Container, codecs, completeness and the presence of an audio track."""
    if info.indexed_bytes is not None and info.indexed_bytes > info.size_bytes:
        raise MediaError(
            "unsupported_format",
            f"{info.path.name} is truncated: it has {human_size(info.size_bytes)} of the "
            f"{human_size(info.indexed_bytes)} its index describes",
        )
    if info.is_video:
        if info.container not in limits.video_containers:
            raise MediaError(
                "unsupported_format",
                f"video container {info.container!r} is not supported; accepted: "
                f"{_names(limits.video_containers)}",
            )
        video = info.video
        assert video is not None  # is_video says so
        if video.codec not in limits.video_codecs:
            raise MediaError(
                "unsupported_format",
                f"video codec {video.codec!r} is not supported; accepted: "
                f"{_names(limits.video_codecs)}",
            )
    elif info.container not in limits.audio_formats | limits.video_containers:
        raise MediaError(
            "unsupported_format",
            f"format {info.container!r} is not supported; accepted audio formats: "
            f"{_names(limits.audio_formats)}",
        )
    if not info.audio_streams:
        what = "video" if info.is_video else "file"
        raise MediaError(
            "unsupported_format",
            f"the {what} has no audio track; dubbing needs one with speech",
        )
    if usable_audio_stream(info, limits) is None:
        codecs = ", ".join(s.codec for s in info.audio_streams)
        accepted = limits.audio_codecs if info.is_video else limits.audio_file_codecs
        raise MediaError(
            "unsupported_format",
            f"audio codec {codecs} is not supported; accepted: {_names(accepted)}",
        )


def check_duration(duration: float, limits: Limits) -> None:
    if duration > limits.max_duration_sec:
        raise MediaError(
            "video_too_long",
            f"input is {human_duration(duration)}; the limit is "
            f"{human_duration(limits.max_duration_sec)}",
        )
    if duration < limits.min_duration_sec:
        raise MediaError(
            "video_too_short",
            f"input is {human_duration(duration)}; the minimum is "
            f"{human_duration(limits.min_duration_sec)}",
        )


def usable_audio_stream(info: MediaInfo, limits: Limits | None = None) -> StreamInfo | None:
    """The first audio stream with an accepted codec and a known rate and channel count."""
    limits = limits or Limits()
    accepted = limits.audio_codecs if info.is_video else limits.audio_file_codecs
    for stream in info.audio_streams:
        if codec_family(stream.codec) in accepted and stream.sample_rate and stream.channels:
            return stream
    return None


def human_duration(seconds: float) -> str:
    """11 min 4 s, 10 min, 0.5 s."""
    if seconds < 60:
        return f"{seconds:.1f}".rstrip("0").rstrip(".") + " s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def human_size(size_bytes: float) -> str:
    """Decimal units, as the reference counts its 500 MB."""
    for unit in ("bytes", "kB", "MB"):
        if size_bytes < 1000:
            return f"{size_bytes:.0f} {unit}"
        size_bytes /= 1000
    return f"{size_bytes:.1f} GB"


def _names(values: frozenset[str]) -> str:
    return ", ".join(sorted(values))
