"""Dub units: words → lines a dubber would speak, each of one speaker.

Whisper cuts audio into 30-second windows and its segments follow them, not the speech. We
regroup its timed words: a line ends at a sentence end or a long pause; a line too long to
dub as one is split at its last clause mark, else at its widest pause. Once speakers are
known, a sentence is split where its speaker changes only when the diarization is sure of
the change (a handover the diarizer hears as both speakers at once is not), else it stays
with the speaker heard most surely in it; and a fragment too short to stand alone joins its
neighbour of the same speaker across a short gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise

from .._spans import subtract
from .._types import DEFAULT_SPEAKER, Segment, Turn, Word

SENTENCE_END = tuple(".!?。！？…")
CLAUSE_END = tuple(",;:、，；：")
PAUSE_SEC = 0.7  # a silence this long ends a line even without punctuation
MAX_LINE_SEC = 8.0  # longer lines are split; they are hard to fit and to follow
MIN_LINE_SEC = 0.8  # shorter fragments join a neighbour of the same speaker ...
JOIN_GAP_SEC = 0.6  # ... across a gap up to this long ("Hello." [0.5 s] "Hello.")


def words_to_lines(words: Sequence[Word]) -> tuple[Segment, ...]:
    """Sentences, the long ones split; short ones are joined in ``assign_speakers``, once
    it is known who says them."""
    groups = _split_long([g for g in _by_sentence(words) if g])
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


MIN_TURN_SEC = 0.5  # a speaker change shorter than this inside a line is taken as noise
HANDOVER_SEC = 1.0  # how near a change the diarizer's overlapping turns make it unsure
UNSURE_OVERLAP_SEC = 0.2  # both speakers heard at once this long there: unsure

Turns = Sequence[tuple[float, float, str]]


def assign_speakers(
    segments: Sequence[Segment], turns: Turns, heard: Turns | None = None
) -> tuple[Segment, ...]:
    """Each word takes the speaker whose turn overlaps it most (else the nearest turn); a line
    whose words change speaker is split there, if the change is sure; short lines of one
    speaker are joined. ``turns`` are one speaker at a time; ``heard``, the diarizer's turns
    as found (overlapping where both speak), tell a sure change from a vague handover (by
    default every change is sure). Lines are renumbered from 0."""
    if not turns:
        units = [replace(s, speaker=s.speaker or DEFAULT_SPEAKER) for s in segments]
    else:
        sure = _sure_spans(heard or ())
        units = [unit for segment in segments for unit in _by_speaker(segment, turns, heard, sure)]
    return tuple(replace(s, id=i) for i, s in enumerate(_join_fragments(units)))


def assign_diarized(segments: Sequence[Segment], found: Sequence[Turn]) -> tuple[Segment, ...]:
    """``assign_speakers`` from a diarizer's turns: words go to whoever holds the floor
    (overlap resolved), the turns as found tell sure changes from vague handovers."""
    turns = [(t.start, t.end, t.speaker) for t in exclusive(found)]
    heard = [(t.start, t.end, t.speaker) for t in found]
    return assign_speakers(segments, turns, heard)


def _by_speaker(
    segment: Segment, turns: Turns, heard: Turns | None, sure: dict[str, list[tuple[float, float]]]
) -> list[Segment]:
    if not segment.words:
        return [replace(segment, speaker=_speaker_at(segment.start, segment.end, turns))]
    words = list(segment.words)
    runs = _speaker_runs(words, [_speaker_at(w.start, w.end, turns) for w in words])
    sure_changes = heard is None or all(_sure_change(a, b, heard) for a, b in pairwise(runs))
    if len(runs) > 1 and not sure_changes:
        runs = [(_surest(runs, sure), words)]
    return [
        replace(
            segment,
            start=group[0].start,
            end=group[-1].end,
            text=_join(group),
            speaker=speaker,
            words=tuple(group),
        )
        for speaker, group in runs
    ]


def _sure_spans(heard: Turns) -> dict[str, list[tuple[float, float]]]:
    """Per speaker, where the diarizer heard them and nobody else."""
    speakers = {speaker for _, _, speaker in heard}
    return {
        speaker: subtract(
            [(a, b) for a, b, s in heard if s == speaker],
            [(a, b) for a, b, s in heard if s != speaker],
        )
        for speaker in speakers
    }


def _sure_change(
    before: tuple[str, list[Word]], after: tuple[str, list[Word]], heard: Turns
) -> bool:
    """Whether the diarizer heard the two speakers apart around the change, not both at once."""
    at = (before[1][-1].end + after[1][0].start) / 2
    near = (at - HANDOVER_SEC, at + HANDOVER_SEC)
    first = [(a, b) for a, b, s in heard if s == before[0]]
    second = [(a, b) for a, b, s in heard if s == after[0]]
    both = sum(_overlap(x, y, near) for x in first for y in second)
    return both < UNSURE_OVERLAP_SEC


def _overlap(x: tuple[float, float], y: tuple[float, float], within: tuple[float, float]) -> float:
    return max(0.0, min(x[1], y[1], within[1]) - max(x[0], y[0], within[0]))


def _surest(runs: list[tuple[str, list[Word]]], sure: dict[str, list[tuple[float, float]]]) -> str:
    """The speaker heard alone longest during the line's words; else the longest run's."""
    words = [w for _, group in runs for w in group]
    heard_alone = {
        speaker: sum(
            _overlap((w.start, w.end), span, (w.start, w.end)) for w in words for span in spans
        )
        for speaker, spans in sure.items()
    }
    if heard_alone and max(heard_alone.values()) > 0:
        return max(heard_alone, key=lambda s: heard_alone[s])
    return max(runs, key=lambda run: _lasts(run[1]))[0]


def _join_fragments(units: list[Segment]) -> list[Segment]:
    """A transcribed line too short to stand alone joined with its neighbour of the same
    speaker across a short gap (given lines, which have no words, keep their cues)."""
    out: list[Segment] = []
    for unit in units:
        last = out[-1] if out else None
        if last is not None and _joinable(last, unit):
            out[-1] = replace(
                last, end=unit.end, text=f"{last.text} {unit.text}", words=last.words + unit.words
            )
        else:
            out.append(unit)
    return out


def _joinable(first: Segment, second: Segment) -> bool:
    short = min(first.duration, second.duration) < MIN_LINE_SEC
    return (
        short
        and first.speaker == second.speaker
        and bool(first.words)
        and bool(second.words)
        and second.start - first.end <= JOIN_GAP_SEC
        and second.end - first.start <= MAX_LINE_SEC
    )


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


def exclusive(turns: Sequence[Turn]) -> tuple[Turn, ...]:
    """One speaker at a time: where turns overlap, the speaker who already held the floor
    keeps it (an interjection inside a turn rarely carries the transcribed words)."""
    ordered = sorted(turns, key=lambda t: (t.start, t.end))
    out: list[Turn] = []
    for turn in ordered:
        start = turn.start
        if out and out[-1].end > start:
            holder = out[-1]
            if holder.end >= turn.end:
                continue  # wholly inside the holder's turn
            start = holder.end
        if out and out[-1].speaker == turn.speaker and start - out[-1].end < 1e-6:
            out[-1] = Turn(out[-1].start, turn.end, turn.speaker)
        else:
            out.append(Turn(start, turn.end, turn.speaker))
    return tuple(out)
