"""Stage 6, Aligning: fit every dubbed line into the time its original took.

For each line, in this order, stopping at the first that fits:

1. the speech as synthesized at the voice's natural pace;
2. the synthesizer's own speed control (it keeps the voice natural), up to the cap;
3. a Rubber Band time-stretch for what is left, the total still within the cap (1.3x);
4. the silence after the line, up to shortly before the next one starts, spoken at the
   least speed-up that then fits;
5. a shorter translation from the translator, and again from 1.

A line is never dropped: if nothing fits it is placed at the cap speed and its overflow is
recorded. Every line starts at its source start plus the lag, on the absolute timeline, so
errors never accumulate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ._budget import budget_chars
from ._types import Segment
from .media.decode import Audio

Speak = Callable[[str, float], Audio]  # (text, speed) → speech
Shorten = Callable[[Segment, int], str]  # (line, max spoken characters) → shorter text


@dataclass(frozen=True, slots=True)
class AlignOptions:
    """How far a line may be pushed to fit.

    Attributes:
        max_speed: the fastest a line may be spoken, relative to the voice's natural pace
            (1.3: at most 30% faster). Native speed and time-stretch together stay below it.
        tts_max_speed: how much of that the synthesizer's own speed control provides before
            the time-stretcher takes over.
        gap: seconds of silence kept before the next line when borrowing.
        shorten_rounds: times a line that still does not fit is sent back to the translator.
    """

    max_speed: float = 1.3
    tts_max_speed: float = 1.3
    gap: float = 0.1
    shorten_rounds: int = 2


@dataclass(frozen=True, slots=True)
class LineFit:
    """How one line was fitted. Times in seconds on the output timeline."""

    id: int
    source_start: float
    source_end: float
    start: float  # where the dubbed line begins: source_start + lag
    end: float  # where it ends
    text: str  # what is spoken (the translation, or its shortened form)
    speed: float  # total speed-up against the voice's natural pace (1.0 = none)
    tts_speed: float  # of which the synthesizer's own speed control
    stretch: float  # of which the time-stretcher
    borrowed: float  # seconds taken from the silence after the original line
    overflow: float  # seconds past what was available (overlaps the next line, or cut)
    shortened: int  # times the translation was shortened
    method: str  # natural | tts-speed | stretched | borrowed | shortened | overflow

    @property
    def offset(self) -> float:
        """Start error against the source line (0 by construction, lag aside)."""
        return self.start - self.source_start


@dataclass(frozen=True, slots=True)
class PlacedLine:
    fit: LineFit
    audio: Audio


def align(
    segments: Sequence[Segment],
    natural: dict[int, Audio],
    speak_for: Callable[[Segment], Speak],
    shorten: Shorten | None,
    duration: float,
    language: str,
    lag: float = 0.0,
    options: AlignOptions | None = None,
) -> list[PlacedLine]:
    """Fits every line; ``natural`` holds each line's speech at speed 1.0, by segment id."""
    options = options or AlignOptions()
    placed = []
    for i, segment in enumerate(segments):
        next_start = segments[i + 1].start if i + 1 < len(segments) else duration
        # The window may not shrink below the line's own slot, even when lines overlap.
        limit = max(segment.end, min(next_start - options.gap, duration - lag))
        placed.append(
            fit_line(
                segment,
                natural[segment.id],
                speak_for(segment),
                shorten,
                limit_end=limit,
                language=language,
                lag=lag,
                options=options,
            )
        )
    return placed


def fit_line(
    segment: Segment,
    natural: Audio,
    speak: Speak,
    shorten: Shorten | None,
    limit_end: float,
    language: str,
    lag: float = 0.0,
    options: AlignOptions | None = None,
) -> PlacedLine:
    """Fits one line into [start, end] of its source, borrowing up to ``limit_end``."""
    options = options or AlignOptions()
    text = segment.translation or segment.text
    slot = max(segment.duration, 0.05)
    borrow = max(slot, limit_end - segment.start)
    shortened = 0
    while True:
        for window in (slot, borrow):
            audio, tts_speed, stretch = _render(text, natural, speak, window, options)
            if audio.duration <= window + 1e-3:
                method = _method(tts_speed, stretch, borrowed=window > slot, shortened=shortened)
                return _placed(segment, audio, text, lag, natural, tts_speed, stretch,
                               slot, borrow, shortened, method)  # fmt: skip
        if shorten is None or shortened >= options.shorten_rounds:
            break
        # Ask for what fits the borrowed window at the cap, and try again from the start.
        target = budget_chars(borrow, language, speed=options.max_speed)
        shorter = shorten(segment, target)
        if not shorter or len(shorter) >= len(text):
            break
        text, shortened = shorter, shortened + 1
        natural = speak(text, 1.0)
    return _placed(segment, audio, text, lag, natural, tts_speed, stretch, slot, borrow,
                   shortened, "overflow")  # fmt: skip


def _render(
    text: str, natural: Audio, speak: Speak, window: float, options: AlignOptions
) -> tuple[Audio, float, float]:
    """The line at the least speed-up that fits ``window``, never beyond the cap."""
    needed = natural.duration / window
    if needed <= 1.0:
        return natural, 1.0, 1.0
    tts_speed = min(needed, options.tts_max_speed, options.max_speed)
    audio = speak(text, tts_speed)
    achieved = natural.duration / max(audio.duration, 1e-6)
    if achieved > options.max_speed * 1.01:  # the voice sped up more than asked: ask less
        tts_speed *= options.max_speed / achieved
        audio = speak(text, tts_speed)
        achieved = natural.duration / max(audio.duration, 1e-6)
    stretch = min(audio.duration / window, options.max_speed / achieved)
    if stretch > 1.005:
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
    segment: Segment,
    audio: Audio,
    text: str,
    lag: float,
    natural: Audio,
    tts_speed: float,
    stretch: float,
    slot: float,
    borrow: float,
    shortened: int,
    method: str,
) -> PlacedLine:
    start = segment.start + lag
    fit = LineFit(
        id=segment.id,
        source_start=segment.start,
        source_end=segment.end,
        start=round(start, 4),
        end=round(start + audio.duration, 4),
        text=text,
        speed=round(natural.duration / max(audio.duration, 1e-6), 4),
        tts_speed=round(tts_speed, 4),
        stretch=round(stretch, 4),
        borrowed=round(max(0.0, min(audio.duration, borrow) - slot), 4),
        overflow=round(max(0.0, audio.duration - borrow), 4),
        shortened=shortened,
        method=method,
    )
    return PlacedLine(fit, audio)
