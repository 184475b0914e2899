"""Dub units: words → lines a dubber would speak, each of one speaker.

Whisper cuts audio into 30-second windows and its segments follow them, not the speech. We
regroup its timed words: a line ends at a sentence end or a long pause; a line too long to
dub as one is split at its last clause mark, else at its widest pause; a fragment too short
to stand alone joins its neighbour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .._types import Segment, Word

SENTENCE_END = tuple(".!?。！？…")
CLAUSE_END = tuple(",;:、，；：")
PAUSE_SEC = 0.7  # a silence this long ends a line even without punctuation
MAX_LINE_SEC = 8.0  # longer lines are split; they are hard to fit and to follow
MIN_LINE_SEC = 0.8  # shorter fragments join a neighbour when the gap is small
JOIN_GAP_SEC = 0.4


def words_to_lines(words: Sequence[Word]) -> tuple[Segment, ...]:
    groups = _split_long([g for g in _by_sentence(words) if g])
    groups = _merge_short(groups)
    return tuple(
        Segment(id=i, start=g[0].start, end=g[-1].end, text=_join(g), words=tuple(g))
        for i, g in enumerate(groups)
    )


def _join(words: Sequence[Word]) -> str:
    # Whisper's words carry their own leading space where the language uses spaces.
    return "".join(w.text for w in words).strip()


def _by_sentence(words: Sequence[Word]) -> list[list[Word]]:
    groups: list[list[Word]] = [[]]
    for i, word in enumerate(words):
        groups[-1].append(word)
        nxt = words[i + 1] if i + 1 < len(words) else None
        ends = word.text.strip().endswith(SENTENCE_END)
        if nxt is not None and (ends or nxt.start - word.end >= PAUSE_SEC):
            groups.append([])
    return groups


def _split_long(groups: list[list[Word]]) -> list[list[Word]]:
    out: list[list[Word]] = []
    pending = list(groups)
    while pending:
        group = pending.pop(0)
        if group[-1].end - group[0].start <= MAX_LINE_SEC or len(group) < 2:
            out.append(group)
            continue
        cut = _cut_point(group)
        pending[:0] = [group[:cut], group[cut:]]
    return out


def _cut_point(group: list[Word]) -> int:
    """Index where the second half starts: after the last clause mark in the first
    MAX_LINE_SEC, else at the widest pause."""
    start = group[0].start
    candidates = [
        i + 1
        for i, w in enumerate(group[:-1])
        if w.text.strip().endswith(CLAUSE_END) and w.end - start <= MAX_LINE_SEC
    ]
    if candidates:
        return candidates[-1]
    gaps = [(group[i + 1].start - group[i].end, i + 1) for i in range(len(group) - 1)]
    return max(gaps)[1]


def _merge_short(groups: list[list[Word]]) -> list[list[Word]]:
    out: list[list[Word]] = []
    for group in groups:
        short = group[-1].end - group[0].start < MIN_LINE_SEC
        if out and short and group[0].start - out[-1][-1].end <= JOIN_GAP_SEC:
            merged = out[-1] + group
            if merged[-1].end - merged[0].start <= MAX_LINE_SEC:
                out[-1] = merged
                continue
        out.append(group)
    return out


MIN_TURN_SEC = 0.5  # a speaker change shorter than this inside a line is taken as noise


def assign_speakers(
    segments: Sequence[Segment], turns: Sequence[tuple[float, float, str]]
) -> tuple[Segment, ...]:
    """Each word takes the speaker whose turn overlaps it most (else the nearest turn); a line
    whose words change speaker is split there. Lines are renumbered from 0."""
    if not turns:
        return tuple(
            replace(s, id=i, speaker=s.speaker or "SPEAKER_00") for i, s in enumerate(segments)
        )
    out: list[Segment] = []
    for segment in segments:
        if not segment.words:
            out.append(replace(segment, speaker=_speaker_at(segment.start, segment.end, turns)))
            continue
        labels = [_speaker_at(w.start, w.end, turns) for w in segment.words]
        for speaker, words in _speaker_runs(list(segment.words), labels):
            out.append(
                replace(segment, start=words[0].start, end=words[-1].end, text=_join(words),
                        speaker=speaker, words=tuple(words))
            )  # fmt: skip
    return tuple(replace(s, id=i) for i, s in enumerate(out))


def _speaker_at(start: float, end: float, turns: Sequence[tuple[float, float, str]]) -> str:
    overlaps: dict[str, float] = {}
    for a, b, speaker in turns:
        overlaps[speaker] = overlaps.get(speaker, 0.0) + max(0.0, min(end, b) - max(start, a))
    best = max(overlaps, key=lambda s: overlaps[s])
    if overlaps[best] > 0:
        return best
    middle = (start + end) / 2
    return min(turns, key=lambda t: min(abs(middle - t[0]), abs(middle - t[1])))[2]


def _speaker_runs(words: list[Word], labels: list[str]) -> list[tuple[str, list[Word]]]:
    runs: list[tuple[str, list[Word]]] = []
    for word, label in zip(words, labels, strict=True):
        if runs and runs[-1][0] == label:
            runs[-1][1].append(word)
        else:
            runs.append((label, [word]))
    # A short run between or beside others is more likely a misheard boundary than a turn.
    merged: list[tuple[str, list[Word]]] = []
    for label, group in runs:
        if merged and (merged[-1][0] == label or _lasts(group) < MIN_TURN_SEC):
            merged[-1][1].extend(group)
        elif merged and _lasts(merged[-1][1]) < MIN_TURN_SEC:
            merged[-1] = (label, merged[-1][1] + group)
        else:
            merged.append((label, group))
    return merged


def _lasts(words: list[Word]) -> float:
    return words[-1].end - words[0].start
