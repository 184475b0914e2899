"""SRT and WebVTT subtitles from timed lines."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ._errors import InvalidOption

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


_TIMING = re.compile(
    r"^\s*((?:\d+:)?\d{1,2}:\d{2}[,.]\d{1,3})\s*-->\s*((?:\d+:)?\d{1,2}:\d{2}[,.]\d{1,3})(\s.*)?$"
)
_TAGS = re.compile(r"<[^>]*>|\{\\[^}]*\}")  # <i>, <c.yellow>, <v Name>, {\an8}


def parse_subtitles(text: str, name: str = "subtitles") -> list[Cue]:
    """The cues of an SRT or WebVTT file, in time order, their markup removed.

    Raises:
        InvalidOption: not SRT or WebVTT, a cue without text, or times that do not make a
            cue (end before start); the message names ``name`` and the line.
    """
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    vtt = lines[0].startswith("WEBVTT")
    cues: list[Cue] = []
    block: list[tuple[int, str]] = []
    for number, line in [*enumerate(lines, 1), (len(lines) + 1, "")]:
        if line.strip():
            block.append((number, line))
        elif block:
            cue = _cue(block, vtt, name)
            if cue is not None:
                cues.append(cue)
            block = []
    if not cues:
        raise InvalidOption(f"{name}: no subtitle cues found (SRT or WebVTT expected)")
    return sorted(cues, key=lambda c: c[0])


def _cue(block: list[tuple[int, str]], vtt: bool, name: str) -> Cue | None:
    first = block[0][1].strip()
    if vtt and (first.startswith(("WEBVTT", "NOTE", "STYLE", "REGION"))):
        return None
    timed = [i for i, (_, line) in enumerate(block) if "-->" in line]
    if not timed or timed[0] > 1:
        raise InvalidOption(
            f"{name} line {block[0][0]}: expected a cue's times "
            f"('00:00:01,000 --> 00:00:02,500'), got {first[:60]!r}"
        )
    number, timing = block[timed[0]]
    match = _TIMING.match(timing)
    if match is None:
        raise InvalidOption(f"{name} line {number}: malformed times {timing.strip()[:60]!r}")
    start, end = _seconds(match.group(1)), _seconds(match.group(2))
    if end <= start:
        raise InvalidOption(f"{name} line {number}: the cue ends before it starts")
    words = " ".join(_TAGS.sub("", line).strip() for _, line in block[timed[0] + 1 :]).strip()
    if not words:
        raise InvalidOption(f"{name} line {number}: the cue has no text")
    return start, end, " ".join(words.split())


def _seconds(stamp: str) -> float:
    parts = stamp.replace(",", ".").split(":")  # [hours:]minutes:seconds.millis
    hours = int(parts[0]) if len(parts) == 3 else 0
    return hours * 3600 + int(parts[-2]) * 60 + float(parts[-1])
