"""Words → lines a dubber would speak.

Whisper cuts audio into 30-second windows and its segments follow them, not the speech. We
regroup its timed words: a line ends at a sentence end or a long pause; a line too long to
dub as one is split at its last clause mark, else at its widest pause; a fragment too short
to stand alone joins its neighbour.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._types import Segment, Word

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
