"""SRT and WebVTT subtitles from timed lines."""

from __future__ import annotations

from collections.abc import Iterable

Cue = tuple[float, float, str]  # start, end (seconds), text


def _stamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(cues: Iterable[Cue]) -> str:
    blocks = [
        f"{i}\n{_stamp(start, ',')} --> {_stamp(end, ',')}\n{text.strip()}\n"
        for i, (start, end, text) in enumerate(cues, 1)
    ]
    return "\n".join(blocks)


def to_vtt(cues: Iterable[Cue]) -> str:
    blocks = [
        f"{_stamp(start, '.')} --> {_stamp(end, '.')}\n{text.strip()}\n"
        for start, end, text in cues
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)
