"""The quality report of a dub: timing, speed, intelligibility, voice similarity, a timeline.

Every figure is measured on the audio the dub placed, not taken from the plan: each line's
onset is found in the placed track, each dubbed line is transcribed back and compared with
its text, each speaker's dubbed voice is compared with their original voice by speaker
embedding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._guards import MARK, clip, longest_loop, loop_problem
from .._types import PlacedLine, Transcript, VoiceReport, timing_summary
from ..media.decode import Audio
from ..media.resample import resample
from .metrics import character_error_rate

ONSET_FRAME = 0.01  # seconds per envelope frame when finding where a line starts
# A line heard back with more than this share of its characters wrong (the language given to
# the judge) is not understood: the synthesizer mispronounced it, or the judge cannot hear it.
HEARD_WRONG_CER = 0.5


@dataclass(frozen=True, slots=True)
class LineQuality:
    id: int
    speaker: str
    source_start: float
    start: float
    offset: float  # planned start - (source start + lag); 0 by construction
    measured_offset: float  # where the speech is heard in the placed track - (source + lag)
    speed: float
    overflow: float
    iou: float  # overlap of the dubbed line's span with the source line's
    method: str
    text: str
    heard: str  # the dubbed line transcribed back
    cer: float  # character error rate of ``heard`` against ``text``


@dataclass(frozen=True, slots=True)
class QualityReport:
    """A finished dub, measured: per line (``lines``) and over the whole dub."""

    lines: tuple[LineQuality, ...]
    max_abs_offset: float
    max_speed: float
    total_overflow: float
    mean_iou: float  # over the lines
    lines_overflowing: int  # lines past their window by more than 50 ms
    mean_cer: float
    speaker_similarity: dict[str, float | None]  # per speaker, original vs dubbed voice
    # the same, by each embedder measured (the configured one and a second for comparison)
    speaker_similarity_by: dict[str, dict[str, float | None]]
    dubbed_voice_similarity: dict[str, float]  # per pair "A|B" of dubbed voices
    # per speaker, the matcher's measure (its sample sentence) of the stock voice as it is
    # ("before") and of the voice it chose after its search and moves ("after")
    matched_similarity: dict[str, dict[str, float | None]]
    background: dict[str, Any]
    timeline_png: str
    # every guard that fired while dubbing, and each line heard back looping where its
    # source does not
    guards: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"lines": [asdict(line) for line in self.lines]}


def quality_report(
    transcript: Transcript,
    placed: Sequence[PlacedLine],
    dub_track: np.ndarray,
    track_rate: int,
    original: Audio,
    lag: float,
    transcriber: Any,
    embedder: Any | None,
    timeline_png: Path,
    background: Audio | None = None,
    mixed: Audio | None = None,
    embedders: Mapping[str, Any] | None = None,
    warnings: Sequence[str] = (),
    voices: Mapping[str, VoiceReport] | None = None,
) -> QualityReport:
    """Measures a finished dub; writes the timeline picture to ``timeline_png``.

    ``original`` is the original speech (the speech stem when separation ran), ``background``
    the background that went into the mix, ``mixed`` the mix as written; ``embedders`` by
    name, each measuring speaker similarity too (``embedder`` is the one reported first);
    ``warnings``: the dub's, whose guard findings the report repeats; ``voices``: the
    speakers' voices, whose similarity before and after matching the report repeats.
    """
    lines = _line_qualities(transcript, placed, dub_track, track_rate, lag, transcriber)
    guards = [w for w in warnings if w.startswith(MARK)] + _heard_loops(transcript, lines)
    guards += _heard_wrong(lines, transcript.target_language or "")
    similarity, between = _speaker_similarity(transcript, placed, original, embedder)
    timing = timing_summary([p.fit for p in placed])
    by = {
        name: _speaker_similarity(transcript, placed, original, other)[0]
        for name, other in (embedders or {}).items()
    }
    draw_timeline(transcript, placed, timeline_png)
    return QualityReport(
        lines=tuple(lines),
        max_abs_offset=max((abs(q.measured_offset) for q in lines), default=0.0),
        max_speed=max((q.speed for q in lines), default=1.0),
        total_overflow=round(sum(q.overflow for q in lines), 4),
        mean_iou=timing["mean_iou"],
        lines_overflowing=int(timing["overflowing"]),
        mean_cer=round(float(np.mean([q.cer for q in lines])) if lines else 0.0, 4),
        speaker_similarity=similarity,
        speaker_similarity_by=by,
        dubbed_voice_similarity=between,
        matched_similarity=_matched(voices or {}),
        background=_background(dub_track, track_rate, original, background, mixed),
        timeline_png=str(timeline_png),
        guards=tuple(guards),
    )


def _line_qualities(
    transcript: Transcript,
    placed: Sequence[PlacedLine],
    dub_track: np.ndarray,
    track_rate: int,
    lag: float,
    transcriber: Any,
) -> list[LineQuality]:
    """Each placed line heard back (CER with the target language given) and its onset
    measured in the dub track."""
    target = transcript.target_language or ""
    speakers = {s.id: s.speaker or "SPEAKER_00" for s in transcript.segments}
    lines = []
    previous_end = 0.0
    for line in placed:
        fit = line.fit
        heard_transcript = transcriber.transcribe(resample(line.audio, 16_000, 1), language=target)
        heard = " ".join(s.text for s in heard_transcript.segments)
        onset = _onset(dub_track, track_rate, fit.start, line.audio, previous_end)
        previous_end = max(previous_end, fit.end)
        lines.append(
            LineQuality(
                id=fit.id,
                speaker=speakers.get(fit.id, "SPEAKER_00"),
                source_start=fit.source_start,
                start=fit.start,
                offset=round(fit.start - (fit.source_start + lag), 4),
                measured_offset=round(onset - (fit.source_start + lag), 4),
                speed=fit.speed,
                overflow=fit.overflow,
                iou=fit.iou,
                method=fit.method,
                text=fit.text,
                heard=heard,
                cer=round(character_error_rate(fit.text, heard, target), 4),
            )
        )
    return lines


def _heard_loops(transcript: Transcript, lines: Sequence[LineQuality]) -> list[str]:
    """Lines heard back repeating a phrase more times running than their source says it."""
    sources = {s.id: s.text for s in transcript.segments}
    source_lang, target = transcript.language, transcript.target_language or ""
    found = []
    for line in lines:
        _, allowed = longest_loop(sources.get(line.id, ""), source_lang)
        problem = loop_problem(line.heard, target, allowed)
        if problem:
            found.append(
                f"{MARK} line {line.id} is heard back looping: {problem} ({clip(line.heard)!r})"
            )
    return found


def _heard_wrong(lines: Sequence[LineQuality], language: str) -> list[str]:
    """Lines whose speech is not heard back as their text (CER past ``HEARD_WRONG_CER``)."""
    return [
        f"{MARK} line {line.id} is not heard back as its {language} text (CER {line.cer:.2f}: "
        f"{clip(line.heard)!r} for {clip(line.text)!r})"
        for line in lines
        if line.text.strip() and line.cer > HEARD_WRONG_CER
    ]


def _onset(
    track: np.ndarray, rate: int, start: float, clip: Audio, previous_end: float = 0.0
) -> float:
    """First 10 ms frame from 0.3 s before ``start`` (but after the previous line has ended)
    whose level passes a tenth of the line's own peak level."""
    hop = max(1, int(rate * ONSET_FRAME))
    first = max(0, int(max(start - 0.3, previous_end + ONSET_FRAME) * rate))
    window = track[first : first + int((0.6 + clip.duration) * rate)]
    frames = len(window) // hop
    if frames == 0:
        return float("inf")
    env = np.sqrt((window[: frames * hop].reshape(frames, hop) ** 2).mean(axis=1))
    above = np.flatnonzero(env > 0.1 * env.max()) if env.max() > 0 else np.array([])
    return (first + above[0] * hop) / rate if len(above) else float("inf")


def _background(
    dub: np.ndarray, rate: int, speech: Audio, background: Audio | None, mixed: Audio | None
) -> dict[str, Any]:
    """Whether the background made it into the mix: where no dubbed line plays, how well the
    mix correlates with the background; and the background's share of the soundtrack."""
    if background is None or mixed is None:
        return {"separated": False, "note": "no separation ran: there is no background to keep"}
    quiet = np.abs(dub) < 1e-4
    mix_mono = resample(mixed, rate, 1).samples[0][: len(dub)]
    back_mono = resample(background, rate, 1).samples[0][: len(dub)]
    quiet = quiet[: len(mix_mono)] & (np.abs(back_mono[: len(quiet)]) > 0)
    correlation = (
        float(np.corrcoef(mix_mono[quiet], back_mono[quiet])[0, 1]) if quiet.sum() > rate else None
    )
    energy_b = float(np.sum(background.samples**2))
    energy_s = float(np.sum(speech.samples**2))
    share_db = float(10 * np.log10(energy_b / max(energy_b + energy_s, 1e-12)))
    return {
        "separated": True,
        "correlation_outside_lines": None if correlation is None else round(correlation, 4),
        "seconds_outside_lines": round(float(quiet.sum()) / rate, 2),
        "background_share_db": round(share_db, 2),  # a float, not np.float64: it is printed
    }


def _matched(voices: Mapping[str, VoiceReport]) -> dict[str, dict[str, float | None]]:
    return {
        speaker: {"before": r.similarity_before, "after": r.similarity}
        for speaker, r in voices.items()
        if r.similarity is not None
    }


def _speaker_similarity(
    transcript: Transcript, placed: Sequence[PlacedLine], original: Audio, embedder: Any | None
) -> tuple[dict[str, float | None], dict[str, float]]:
    """Per speaker, the cosine between the embeddings of their original speech and of their
    dub; per pair of speakers, the cosine between their two dubbed voices."""
    if embedder is None:
        return {}, {}
    rate = original.sample_rate
    mono = original.mono()
    by_id = {p.fit.id: p for p in placed}
    out: dict[str, float | None] = {}
    dubbed_embeddings: dict[str, np.ndarray] = {}
    for speaker in sorted({s.speaker or "SPEAKER_00" for s in transcript.segments}):
        segments = [s for s in transcript.segments if (s.speaker or "SPEAKER_00") == speaker]
        source = np.concatenate(
            [mono[int(s.start * rate) : int(s.end * rate)] for s in segments] or [np.zeros(1)]
        )
        dubbed = [resample(by_id[s.id].audio, 16_000, 1).samples[0] for s in segments]
        if len(source) < rate // 2 or not dubbed:
            out[speaker] = None
            continue
        a = embedder.embed(Audio(source[None, :].astype(np.float32), rate))
        b = embedder.embed(Audio(np.concatenate(dubbed)[None, :], 16_000))
        out[speaker] = round(embedder.similarity(a, b), 4)
        dubbed_embeddings[speaker] = b
    names = sorted(dubbed_embeddings)
    between = {
        f"{x}|{y}": round(embedder.similarity(dubbed_embeddings[x], dubbed_embeddings[y]), 4)
        for i, x in enumerate(names)
        for y in names[i + 1 :]
    }
    return out, between


def draw_timeline(transcript: Transcript, placed: Sequence[PlacedLine], path: Path) -> Path:
    """Original lines against dubbed lines, one pair of rows per speaker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    speakers = sorted({s.speaker or "SPEAKER_00" for s in transcript.segments})
    speaker_of = {s.id: s.speaker or "SPEAKER_00" for s in transcript.segments}
    end = max([s.end for s in transcript.segments] + [p.fit.end for p in placed] + [1.0])
    fig, ax = plt.subplots(figsize=(max(8.0, min(end / 2, 30.0)), 1.0 + 0.9 * len(speakers)))
    labels = []
    for row, speaker in enumerate(speakers):
        y = 2 * row
        original = [
            (s.start, s.duration) for s in transcript.segments if speaker_of[s.id] == speaker
        ]
        dubbed = [
            (p.fit.start, p.fit.end - p.fit.start)
            for p in placed
            if speaker_of.get(p.fit.id) == speaker
        ]
        ax.broken_barh(original, (y + 1.1, 0.8), facecolors="tab:gray")
        ax.broken_barh(dubbed, (y + 0.1, 0.8), facecolors="tab:blue")
        for p in placed:
            if speaker_of.get(p.fit.id) == speaker and p.fit.overflow > 0:
                ax.broken_barh(
                    [(p.fit.end - p.fit.overflow, p.fit.overflow)],
                    (y + 0.1, 0.8),
                    facecolors="tab:red",
                )
        labels += [(y + 0.5, f"{speaker} dub"), (y + 1.5, f"{speaker} original")]
    ax.set_yticks([y for y, _ in labels], [label for _, label in labels])
    ax.set_xlim(0, end)
    ax.set_xlabel("seconds")
    ax.set_title("original lines (grey) and dubbed lines (blue; overflow red)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
