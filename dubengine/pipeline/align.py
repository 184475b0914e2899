"""Stage 6, Aligning: fit every dubbed line into the time its original took.

For each line, in this order, stopping at the first that fits:

1. the speech as synthesized at the voice's natural pace;
2. the synthesizer's own speed control (it keeps the voice natural), up to the cap;
3. a Rubber Band time-stretch for what is left, the total still within the cap (1.3x);
4. the silence after the line, up to shortly before the next one starts, spoken at the
   least speed-up that then fits;
5. a shorter translation from the translator, and again from 1 (the lines that need one
   are shortened together, in one batch per round).

A line is never dropped: if nothing fits it is placed at the cap speed and its overflow is
recorded. Every line starts at its source start plus the lag, on the absolute timeline, so
errors never accumulate; but a line that fits nowhere may start up to MAX_LEAD_SEC early,
into the silence before it, and push the next one up to MAX_SLIP_SEC late, sped up (within
the cap) to end on time.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

from .._options import AlignOptions
from .._progress import Progress, ProgressEvent, no_progress
from .._types import LineFit, PlacedLine, Segment, Speak
from ..media.decode import Audio
from ..toolkit.budget import MIN_CHARS, spoken_length

__all__ = ["AlignOptions", "LineFit", "PlacedLine", "Shorten", "align", "time_stretch"]

# (lines, max spoken characters of each) → a shorter text for each, in one batch
Shorten = Callable[[Sequence[Segment], Sequence[int]], list[str]]
CAP_TOLERANCE = 1.01  # _render may land up to 1% over the cap; beyond it a window is hopeless
MAX_SLIP_SEC = 0.3  # the most a line starts late to let an overflowing one before it finish
MAX_LEAD_SEC = 0.2  # the most an overflowing line starts early, into the silence before it


@dataclass(slots=True)
class _Line:
    """One line while it is being fitted."""

    segment: Segment
    speak: Speak
    text: str
    natural: Audio  # ``text`` at speed 1.0
    slot: float  # the original line's duration
    borrow: float  # the slot plus the silence after it that may be borrowed
    shortened: int = 0
    last: tuple[Audio, float, float] | None = None  # the borrow-window render of ``text``


def align(
    segments: Sequence[Segment],
    natural: dict[int, Audio],
    speak_for: Callable[[Segment], Speak],
    shorten: Shorten | None,
    duration: float,
    lag: float = 0.0,
    options: AlignOptions | None = None,
    progress: Progress = no_progress,
    only: Collection[int] | None = None,
) -> list[PlacedLine]:
    """Fits every line (or those whose ids are in ``only``, the others' windows unchanged);
    ``natural`` holds each line's speech at speed 1.0, by segment id.

    Lines are fitted in rounds: all that fit are placed, then every line that does not is
    shortened in one batch (a translator is far faster on a batch than line by line)."""
    options = options or AlignOptions()
    todo = [
        _line(segments, i, natural, speak_for(segment), duration, lag, options)
        for i, segment in enumerate(segments)
        if only is None or segment.id in only
    ]
    wanted = [line.segment for line in todo]
    lines = {line.segment.id: line for line in todo}
    placed: dict[int, PlacedLine] = {}
    for attempt in range(options.shorten_rounds + 1):
        left = []
        for line in todo:
            fitted = _attempt(line, lag, options)
            if fitted is None:
                left.append(line)
            else:
                placed[line.segment.id] = fitted
                progress(ProgressEvent("aligning", len(placed), len(wanted)))
        todo = left
        if not todo or shorten is None or attempt == options.shorten_rounds:
            break
        # Ask for what fits the borrowed window at the cap, and try again from the start.
        asked = [_chars_that_fit(line, options) for line in todo]
        shorter = shorten([line.segment for line in todo], asked)
        todo, stuck = _take_shorter(todo, shorter)
        for line in stuck:
            placed[line.segment.id] = _overflow(line, lag, options)
    for line in todo:
        placed[line.segment.id] = _overflow(line, lag, options)
    progress(ProgressEvent("aligning", 1, 1))
    if only is None:
        _make_room(placed, lines, segments, options)
    return [placed[segment.id] for segment in wanted]


def _make_room(
    placed: dict[int, PlacedLine],
    lines: dict[int, _Line],
    segments: Sequence[Segment],
    options: AlignOptions,
) -> None:
    """Room for each overflowing line next to it: it starts up to MAX_LEAD_SEC early into
    the silence before it, and the line after it starts up to MAX_SLIP_SEC late, sped up
    (within the cap) to end where it would have. A dubber's cue comes a beat early or late
    rather than two voices at once."""
    for i, segment in enumerate(segments):
        line = placed[segment.id]
        if line.fit.overflow <= 0:
            continue
        before = placed[segments[i - 1].id].fit.end if i else 0.0
        lead = min(MAX_LEAD_SEC, line.fit.overflow, line.fit.start - before - options.gap)
        if lead > 0:
            line = placed[segment.id] = _moved(line, lines[segment.id], -lead)
        if line.fit.overflow <= 0 or i + 1 == len(segments):
            continue
        after = segments[i + 1].id
        late = min(MAX_SLIP_SEC, round(line.fit.end + options.gap - placed[after].fit.start, 4))
        slipped = _slipped(placed[after], lines[after], late, options) if late > 0 else None
        if slipped is not None:
            placed[after] = slipped
            placed[segment.id] = _moved(line, lines[segment.id], 0.0, room=late)


def _slipped(
    placed: PlacedLine, line: _Line, late: float, options: AlignOptions
) -> PlacedLine | None:
    """The line started ``late`` seconds late, sped up if it must be to end within its
    window; None if it cannot."""
    window = line.borrow - late
    if placed.audio.duration > window + 1e-3:
        rendered = _within_reach(line, window, options)
        if rendered is None or rendered[0].duration > window + 1e-3:
            return None
        audio, tts_speed, stretch = rendered
        method = _method(tts_speed, stretch, False, line.shortened)
        placed = _placed(
            line, audio, placed.fit.start - line.segment.start, tts_speed, stretch, method
        )
    return _moved(placed, line, late)


def _moved(placed: PlacedLine, line: _Line, by: float, room: float = 0.0) -> PlacedLine:
    """The line started ``by`` seconds later (earlier if negative), with ``room`` more
    seconds after its window; what it borrows and overflows counted again."""
    fit, duration = placed.fit, placed.audio.duration
    reach = fit.slipped + by + duration  # where it ends, from its source start
    window = line.borrow + room
    overflow = round(max(0.0, reach - window), 4)
    method = fit.method
    if fit.method in ("overflow", "borrowed"):
        method = "overflow" if overflow > 0 else "borrowed"
    return PlacedLine(
        dataclasses.replace(
            fit,
            start=round(fit.start + by, 4),
            end=round(fit.end + by, 4),
            slipped=round(fit.slipped + by, 4),
            overflow=overflow,
            method=method,
            borrowed=round(max(0.0, min(reach, window) - line.slot), 4),
        ),
        placed.audio,
    )


def _line(
    segments: Sequence[Segment],
    i: int,
    natural: dict[int, Audio],
    speak: Speak,
    duration: float,
    lag: float,
    options: AlignOptions,
) -> _Line:
    segment = segments[i]
    next_start = segments[i + 1].start if i + 1 < len(segments) else duration
    # The window may not shrink below the line's own slot, even when lines overlap.
    limit = max(segment.end, min(next_start - options.gap, duration - lag))
    slot = max(segment.duration, 0.05)
    text = segment.translation or segment.text
    return _Line(segment, speak, text, natural[segment.id], slot, max(slot, limit - segment.start))


def _attempt(line: _Line, lag: float, options: AlignOptions) -> PlacedLine | None:
    """The line placed in its slot, else in the borrowed window, at the least speed-up that
    fits; None if neither fits. A window the line cannot fit even at the cap is not tried:
    synthesizing it would be wasted."""
    line.last = None
    for window in (line.slot, line.borrow):
        rendered = _within_reach(line, window, options)
        if rendered is None:
            continue
        audio, tts_speed, stretch = rendered
        if window == line.borrow:
            line.last = rendered
        if audio.duration <= window + 1e-3:
            borrowed = window > line.slot
            method = _method(tts_speed, stretch, borrowed, line.shortened)
            return _placed(line, audio, lag, tts_speed, stretch, method)
    return None


def _within_reach(
    line: _Line, window: float, options: AlignOptions
) -> tuple[Audio, float, float] | None:
    """The line rendered for ``window``; None, and nothing synthesized, when even the cap
    cannot fit it there."""
    if line.natural.duration > window * options.max_speed * CAP_TOLERANCE + 1e-3:
        return None
    return _render(line.text, line.natural, line.speak, window, options)


def _overflow(line: _Line, lag: float, options: AlignOptions) -> PlacedLine:
    """A line that fits nowhere: at the cap speed, running past its window."""
    audio, tts_speed, stretch = line.last or _render(
        line.text, line.natural, line.speak, line.borrow, options
    )
    return _placed(line, audio, lag, tts_speed, stretch, "overflow")


def _chars_that_fit(line: _Line, options: AlignOptions) -> int:
    """Spoken characters that fit the borrowed window at the cap, at the pace this voice
    speaks this line: measured, the language's average pace (budget_chars) overestimated it
    for slower voices, so the translator was asked for a length the line already had."""
    pace = spoken_length(line.text) / max(line.natural.duration, 1e-3)
    return max(MIN_CHARS, math.floor(pace * line.borrow * options.max_speed))


def _take_shorter(lines: list[_Line], shorter: list[str]) -> tuple[list[_Line], list[_Line]]:
    """(lines that got a shorter text, spoken anew; lines that did not)."""
    taken, stuck = [], []
    for line, text in zip(lines, shorter, strict=True):
        if not text or len(text) >= len(line.text):
            stuck.append(line)
            continue
        line.text, line.shortened = text, line.shortened + 1
        line.natural = line.speak(text, 1.0)
        taken.append(line)
    return taken, stuck


def _render(
    text: str, natural: Audio, speak: Speak, window: float, options: AlignOptions
) -> tuple[Audio, float, float]:
    """The line at the least speed-up that fits ``window``, never beyond the cap."""
    needed = natural.duration / window
    if needed <= 1.0:
        return natural, 1.0, 1.0
    tts_speed = max(1.0, min(needed, options.tts_max_speed, options.max_speed))
    audio = natural if tts_speed == 1.0 else speak(text, tts_speed)
    achieved = natural.duration / max(audio.duration, 1e-6)
    if achieved > options.max_speed * 1.01:  # the voice sped up more than asked: ask less
        tts_speed *= options.max_speed / achieved
        audio = speak(text, tts_speed)
        achieved = natural.duration / max(audio.duration, 1e-6)
    stretch = min(audio.duration / window, options.max_speed / achieved)
    if achieved <= options.max_speed:
        stretch = max(stretch, 1.0)  # else below 1: a voice past the cap is slowed back to it
    if abs(stretch - 1.0) > 0.005:
        audio = time_stretch(audio, stretch)
    else:
        stretch = 1.0
    return audio, tts_speed, stretch


def time_stretch(audio: Audio, factor: float) -> Audio:
    """``factor`` times faster, same pitch (Rubber Band, via pedalboard)."""
    import pedalboard

    stretched = pedalboard.time_stretch(
        np.ascontiguousarray(audio.samples, dtype=np.float32),
        float(audio.sample_rate),
        stretch_factor=float(factor),
        high_quality=True,
    )
    return Audio(stretched.astype(np.float32, copy=False), audio.sample_rate)


def _method(tts_speed: float, stretch: float, borrowed: bool, shortened: int) -> str:
    if shortened:
        return "shortened"
    if borrowed:
        return "borrowed"
    if stretch > 1.0:
        return "stretched"
    return "tts-speed" if tts_speed > 1.0 else "natural"


def _placed(
    line: _Line, audio: Audio, lag: float, tts_speed: float, stretch: float, method: str
) -> PlacedLine:
    segment = line.segment
    start = segment.start + lag
    fit = LineFit(
        id=segment.id,
        source_start=segment.start,
        source_end=segment.end,
        start=round(start, 4),
        end=round(start + audio.duration, 4),
        text=line.text,
        speed=round(line.natural.duration / max(audio.duration, 1e-6), 4),
        tts_speed=round(tts_speed, 4),
        stretch=round(stretch, 4),
        borrowed=round(max(0.0, min(audio.duration, line.borrow) - line.slot), 4),
        overflow=round(max(0.0, audio.duration - line.borrow), 4),
        shortened=line.shortened,
        method=method,
    )
    return PlacedLine(fit, audio)
