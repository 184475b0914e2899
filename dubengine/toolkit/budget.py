"""Length budgets for translated lines, and cleaning what an LLM adds around a translation.

A line must be speakable in the time the original took. We budget characters at the natural
rate of the default voice (Kokoro at speed 1.0, measured over dubengine.samples), plus a
little of the speed-up the timing fit may apply (it goes up to 1.3x), so the translator keeps
meaning rather than clipping every line to the bone.
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections.abc import Mapping

from .._options import AlignOptions
from .._types import DEFAULT_SPEAKER, Transcript

# Spoken characters per second (see spoken_length) that Kokoro speaks at speed 1.0.
CHARS_PER_SECOND: dict[str, float] = {
    "en": 17.5,
    "es": 14.0,
    "fr": 17.0,
    "de": 13.5,
    "it": 13.0,
    "pt": 13.0,
    "ru": 12.0,
    "ja": 5.5,
    "ko": 6.5,
    "zh": 4.5,
}
SLACK = 1.1  # of the timing fit's 1.3x speed-up, the budget spends a tenth
# A translation over its budget is asked again, shorter, only past what the timing fit
# places unshortened: this fast, in the line's time and some of the pause after. Asking again
# for lines it can place cost half the translating time and lost meaning ("Okay, I thought I
# heard a beep." -> "Entiendo.").
LIMIT_SPEED = 1.25
BORROW_SEC = 0.5  # of the pause after a line, what its translation may count on
MIN_CHARS = 4  # even a 0.2 s "Yes." gets a word
# Paces: spoken characters per second of each speaker's voice, measured when voices are
# matched (before translating), so a line is budgeted at the pace it will be spoken at.
Paces = Mapping[str, float]


def budget_chars(
    duration: float, language: str, speed: float = SLACK, rate: float | None = None
) -> int:
    """How many spoken characters fit ``duration`` seconds in ``language`` at ``speed``
    (1.0 = the voice's natural rate; the default leaves room for a slight speed-up), for a
    voice speaking ``rate`` characters a second (default: the language's average)."""
    rate = rate or CHARS_PER_SECOND.get(language, 15.0)
    return max(MIN_CHARS, math.floor(duration * rate * speed))


def line_budgets(transcript: Transcript, language: str, paces: Paces | None = None) -> list[int]:
    """Each line's budget, at its speaker's voice's pace where it was measured."""
    paces = paces or {}
    return [
        budget_chars(s.duration, language, rate=paces.get(s.speaker or DEFAULT_SPEAKER))
        for s in transcript.segments
    ]


def line_rooms(transcript: Transcript) -> list[float]:
    """Seconds each line may take: its own, and up to BORROW_SEC of the pause after it."""
    segments, gap = transcript.segments, AlignOptions().gap
    pauses = [max(0.0, after.start - gap - s.end) for s, after in itertools.pairwise(segments)]
    pauses += [0.0] * (len(segments) - len(pauses))
    return [s.duration + min(pause, BORROW_SEC) for s, pause in zip(segments, pauses, strict=True)]


def line_limits(transcript: Transcript, language: str, paces: Paces | None = None) -> list[int]:
    """Each line's limit: the most the timing fit places without shortening it, at up to
    LIMIT_SPEED in its room (line_rooms)."""
    paces = paces or {}
    rooms = line_rooms(transcript)
    return [
        budget_chars(room, language, LIMIT_SPEED, paces.get(s.speaker or DEFAULT_SPEAKER))
        for s, room in zip(transcript.segments, rooms, strict=True)
    ]


def spoken_length(text: str) -> int:
    """Characters that take time to say: letters, digits and spaces, not punctuation."""
    return sum(1 for c in text.strip() if not unicodedata.category(c).startswith("P"))


def fits(text: str, budget: int) -> bool:
    return spoken_length(text) <= budget


def best_fit(options: list[str], budget: int) -> str:
    """The first option (the best-scored, by convention) that fits, else the shortest."""
    options = [o for o in options if o.strip()] or [""]
    return next((o for o in options if fits(o, budget)), min(options, key=spoken_length))


_PREFIX = re.compile(
    r"^\s*(?:(?:here is|here's|sure|okay|ok)[^:\n]*:|"
    r"(?:translation|translated text|traducción|traduction|übersetzung|traduzione|tradução|"
    r"перевод|翻訳|번역|翻译|译文)\s*[:：])\s*",
    re.IGNORECASE,
)
_NOTE = re.compile(
    r"\s*(?:\((?:note|nota|remarque|hinweis|примечание|注)[^)]*\)|"
    r"(?:^|\n)\s*(?:note|nota|remarque|hinweis|примечание|注)\s*[:：].*)",
    re.IGNORECASE | re.DOTALL,
)
_QUOTES = "\"'“”„«»「」『』‘’"


def clean_translation(text: str) -> str:
    """The translation alone: no preamble, notes, surrounding quotes or extra lines."""
    text = _NOTE.sub("", text.strip())
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # "Ecco la traduzione in italiano:" and the like introduce the real answer.
    while len(lines) > 1 and lines[0].endswith((":", "：")):
        lines.pop(0)
    text = _PREFIX.sub("", lines[0]) if lines else ""
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text
