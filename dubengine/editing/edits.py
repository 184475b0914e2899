"""Edits to a finished dub's lines and voices. Each checks what it is given first (nothing
changes when it is refused), then marks the lines it affects stale: the next render speaks
and fits them again (where the mix must change, the render finds by itself)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from .._errors import InvalidOption, LineNotFound
from .._types import CLONED, Segment
from .project import Line, Project, cloned_files

LINE_FIELDS = ("text", "translation", "speaker", "start", "end")
MIN_LINE_SEC = 0.2  # a line shorter than this cannot be spoken
TIME_EPS = 1e-3


def edit_segment(project: Project, index: int, changes: dict[str, Any]) -> Line:
    """Changes any of a line's text, translation, speaker, start and end."""
    line = line_at(project, index)
    unknown = sorted(set(changes) - set(LINE_FIELDS))
    if unknown:
        raise InvalidOption(f"unknown field {unknown[0]!r}; a line has {', '.join(LINE_FIELDS)}")
    if not changes:
        raise InvalidOption(f"nothing to change: give any of {', '.join(LINE_FIELDS)}")
    old = line.segment
    start, end = changes.get("start", old.start), changes.get("end", old.end)
    _check_times(project, index, start, end, moved=(start != old.start, end != old.end))
    text = _text(changes, "text", old.text)
    translation = _text(changes, "translation", old.translation or "")
    speaker = _speaker(project, changes.get("speaker", old.speaker))
    segment = dataclasses.replace(
        old,
        start=float(start),
        end=float(end),
        text=text,
        translation=translation,
        speaker=speaker,
        words=old.words if text == old.text else (),
    )
    before = (old.translation, old.speaker, old.start, old.end)
    spoken = (translation, speaker, start, end) != before
    if spoken:
        _stale(project, index)
        if (start, end) != (old.start, old.end) and index > 0:
            _stale(project, index - 1)  # its window ends where this line starts
    line.segment = segment
    return line


def split_segment(project: Project, index: int, at: float) -> tuple[Line, Line]:
    """Two lines of the same speaker, cut at ``at`` seconds; the text by its word times when
    known, the translation at the word nearest the same share of its length."""
    line = line_at(project, index)
    old = line.segment
    _seconds("at", at)
    if not old.start + MIN_LINE_SEC <= at <= old.end - MIN_LINE_SEC:
        raise InvalidOption(
            f"split time {at} must be inside line {index} ({old.start:.2f}-{old.end:.2f} s), "
            f"at least {MIN_LINE_SEC} s from either end"
        )
    share = (at - old.start) / old.duration
    words = [w for w in old.words if w.start < at], [w for w in old.words if w.start >= at]
    if all(words):
        texts = tuple("".join(w.text for w in half).strip() for half in words)
    else:
        texts = _cut(old.text, share)
    translations = _cut(old.translation or "", share)
    if not all((*texts, *translations)):
        raise InvalidOption(f"line {index} is too short to split at {at}: a half would be empty")
    first = dataclasses.replace(
        old,
        end=float(at),
        text=texts[0],
        translation=translations[0],
        words=tuple(words[0]) if all(words) else (),
    )
    second = dataclasses.replace(
        old,
        start=float(at),
        text=texts[1],
        translation=translations[1],
        words=tuple(words[1]) if all(words) else (),
    )
    project.lines[index : index + 1] = [Line(first, stale=True), Line(second, stale=True)]
    project.renumber()
    return project.lines[index], project.lines[index + 1]


def merge_segments(project: Project, index: int) -> Line:
    """Line ``index`` and the next as one line (same speaker only: a line never spans two)."""
    first, second = line_at(project, index), line_at(project, index + 1)
    a, b = first.segment, second.segment
    if a.speaker != b.speaker:
        raise InvalidOption(
            f"lines {index} and {index + 1} have different speakers ({a.speaker}, {b.speaker}); "
            "give them the same speaker first"
        )
    merged = dataclasses.replace(
        a,
        end=max(a.end, b.end),
        text=f"{a.text} {b.text}".strip(),
        translation=f"{a.translation or ''} {b.translation or ''}".strip(),
        words=a.words + b.words,
    )
    project.lines[index : index + 2] = [Line(merged, stale=True)]
    project.renumber()
    return project.lines[index]


def delete_segment(project: Project, index: int) -> None:
    line_at(project, index)
    del project.lines[index]
    project.renumber()
    if index > 0:
        _stale(project, index - 1)  # its window now reaches further


def insert_segment(
    project: Project,
    start: float,
    end: float,
    text: str,
    translation: str,
    speaker: str | None = None,
) -> Line:
    """A new line (speech the transcript missed), placed by its start time; ``speaker`` may
    be left out when the dub has one."""
    if speaker is None and len(project.speakers) == 1:
        speaker = next(iter(project.speakers))
    index = sum(line.segment.start <= start for line in project.lines)
    segment = Segment(
        index,
        float(start),
        float(end),
        _text({"text": text}, "text", ""),
        _speaker(project, speaker),
        _text({"translation": translation}, "translation", ""),
    )
    project.lines.insert(index, Line(segment, stale=True))
    try:
        _check_times(project, index, start, end, moved=(True, True))
    except InvalidOption:
        del project.lines[index]
        raise
    project.renumber()
    if index > 0:
        _stale(project, index - 1)
    return project.lines[index]


def set_voice(project: Project, speaker: str, voice: str) -> None:
    """``speaker`` spoken by the synthesizer's voice ``voice``, unadjusted; a cloned voice
    ("cloned:SPEAKER_01") is that speaker's reference and conditioning, as they are kept."""
    if speaker not in project.speakers:
        raise InvalidOption(f"unknown speaker {speaker!r}; this dub has {_speakers(project)}")
    if voice not in project.voices_available:
        raise InvalidOption(
            f"unknown voice {voice!r}; the synthesizer has {', '.join(project.voices_available)}"
        )
    reference, conditioning = _cloned_from(voice)
    project.speakers[speaker] = dataclasses.replace(
        project.speakers[speaker],
        voice=voice,
        pitch_ratio=1.0,
        formant_ratio=1.0,
        similarity=None,
        style=None,
        reference=reference,
        conditioning=conditioning,
    )
    for i, line in enumerate(project.lines):
        if line.segment.speaker == speaker:
            _stale(project, i)


def _cloned_from(voice: str) -> tuple[str | None, str | None]:
    """The files of the cloned voice ``voice`` (kept for the project's life), or none for a
    stock voice."""
    if not voice.startswith(CLONED):
        return None, None
    return cloned_files(voice.removeprefix(CLONED))


def line_at(project: Project, index: int) -> Line:
    """Line ``index``, or LineNotFound naming how many there are."""
    if not 0 <= index < len(project.lines):
        count = len(project.lines)
        raise LineNotFound(
            f"no line {index}: this dub has {count} line{'s' * (count != 1)}"
            + (f" (0-{count - 1})" if count else "")
        )
    return project.lines[index]


def _text(changes: dict[str, Any], name: str, current: str) -> str:
    value = changes.get(name, current)
    if not isinstance(value, str) or not value.strip():
        raise InvalidOption(f"{name} must be a non-empty string")
    return value.strip()


def _speaker(project: Project, speaker: Any) -> str | None:
    if speaker is None and not project.speakers:
        return None
    if speaker is None:
        raise InvalidOption(f"whose line is it? give its speaker: {_speakers(project)}")
    if speaker not in project.speakers:
        raise InvalidOption(f"unknown speaker {speaker!r}; this dub has {_speakers(project)}")
    return speaker


def _speakers(project: Project) -> str:
    return ", ".join(project.speakers) or "no speakers"


def _check_times(
    project: Project, index: int, start: Any, end: Any, moved: tuple[bool, bool]
) -> None:
    _seconds("start", start)
    _seconds("end", end)
    if start < 0:
        raise InvalidOption(f"start must be 0 or more, not {start}")
    if end > project.duration + TIME_EPS:
        raise InvalidOption(f"end {end} is past the end of the media ({project.duration:.2f} s)")
    if end - start < MIN_LINE_SEC:
        raise InvalidOption(f"a line lasts at least {MIN_LINE_SEC} s (start {start}, end {end})")
    lines = project.lines
    if moved[0] and index > 0 and start < lines[index - 1].segment.end - TIME_EPS:
        raise InvalidOption(
            f"start {start} overlaps line {index - 1}, which ends at {lines[index - 1].segment.end}"
        )
    if moved[1] and index + 1 < len(lines) and end > lines[index + 1].segment.start + TIME_EPS:
        raise InvalidOption(
            f"end {end} overlaps line {index + 1}, which starts at {lines[index + 1].segment.start}"
        )


def _seconds(name: str, value: Any) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value):
        raise InvalidOption(f"{name} must be a number of seconds")


def _stale(project: Project, index: int) -> None:
    project.lines[index].stale = True


def _cut(text: str, share: float) -> tuple[str, str]:
    """``text`` in two at the space nearest ``share`` of its length (any character for
    scripts written without spaces)."""
    text = text.strip()
    if len(text) < 2:
        return text, ""
    target = round(len(text) * share)
    spaces = [i for i, c in enumerate(text) if c == " "]
    if spaces:
        at = min(spaces, key=lambda i: abs(i - target))
    else:
        at = min(max(target, 1), len(text) - 1)
    return text[:at].strip(), text[at:].strip()
