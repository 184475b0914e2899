"""Stage 2, Transcribing: what was said and who said it (both on the speech stem), joined
into lines of one speaker each."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from difflib import SequenceMatcher

from .._errors import MediaError
from .._guards import MARK, clip, collapse_loops, transcript_problem, units
from .._progress import Progress
from .._spans import joined, subtract
from .._types import Segment, Transcript, Turn, Word
from ..media.decode import Audio, drop_resident
from ..media.resample import resample
from ..protocols import Diarizer, Transcriber
from ..toolkit.lines import assign_diarized
from .separate import Separated

MISSED_SEC = 1.5  # speech this long without a line was skipped, not paused over
CLIP_PAD_SEC = 0.2  # around a span heard again on its own
# around a doubtful line heard again (a second, with CLIP_PAD_SEC): whole edge words, context
AGAIN_PAD_SEC = 0.8
REACH_SEC = 3.0  # the furthest a doubtful line's words are looked for beyond its times
SAME_WORDS = 0.8  # share of a doubtful line's words heard again that makes it the same line


@dataclass(frozen=True, slots=True)
class Transcribed:
    """The transcript with speakers, and the 16 kHz mono speech it was heard from."""

    transcript: Transcript
    speech_16k: Audio


def transcribe(
    stems: Separated,
    source_lang: str,
    transcriber: Transcriber | None,
    diarizer: Diarizer | None,
    num_speakers: int | None,
    progress: Progress,
    given: Transcript | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> Transcribed:
    """``given``: the lines already known (subtitles), heard instead of transcribing; with no
    transcriber, nothing is transcribed."""
    speech_16k = resample(stems.speech, 16_000, 1)
    drop_resident(stems.speech)  # read once: the 16 kHz copy is what is heard
    language = None if source_lang == "auto" else source_lang
    if given is not None or transcriber is None:
        transcript = given or Transcript(language=source_lang)
    else:
        transcript = transcriber.transcribe(speech_16k, language=language, progress=progress)
        mixture = functools.cache(lambda: mixture_16k(stems))  # only if a guard asks
        transcript = guarded(transcript, mixture, transcriber, warn)
        transcript = recovered(transcript, speech_16k, mixture, transcriber, warn)
    if not transcript.segments:
        raise MediaError("unsupported_format", "no speech was found in the audio track")
    found: list[Turn] = []
    if diarizer is not None:
        # On the speech stem: with music as loud as the speech, segmentation-3.0 + CAM++
        # measured DER 20% on the stem against 25% on the mixture (counts right on both;
        # on clean speech the two agree).
        found = diarizer.diarize(speech_16k, num_speakers=num_speakers)
    segments = assign_diarized(transcript.segments, found)
    return Transcribed(replace(transcript, segments=segments), speech_16k)


def mixture_16k(stems: Separated) -> Audio | None:
    """The original soundtrack as the transcriber takes it; None when nothing was separated
    (then the speech stem is the mixture: nothing else to hear)."""
    if stems.background is None or stems.original is None:
        return None
    mixture = resample(stems.original, 16_000, 1)
    drop_resident(stems.original)
    return mixture


def guarded(
    transcript: Transcript,
    mixture: Callable[[], Audio | None],
    transcriber: Transcriber,
    warn: Callable[[str], None],
) -> Transcript:
    """Lines that cannot be what was said (a loop, more text than the time allows) heard
    again from the original mixture, which separation artefacts do not mislead; a line that
    fails there too keeps its text with each loop said once. Each one is a warning."""
    language = transcript.language
    bad = {
        s.id: p
        for s in transcript.segments
        if (p := transcript_problem(s.text, s.duration, language))
    }
    if not bad:
        return transcript
    lines = transcript.segments
    words: list[Word] = []
    if (original := mixture()) is not None:
        doubtful = [_around(lines, k) for k, s in enumerate(lines) if s.id in bad]
        words = _words_around(transcriber, original, doubtful, language)
    segments = []
    for k, line in enumerate(lines):
        if line.id not in bad:
            segments.append(line)
            continue
        where = (
            f"{MARK} line at {line.start:.1f}-{line.end:.1f} s {clip(line.text)!r} {bad[line.id]}"
        )
        retimed = _retimed(lines, k, words, language)
        if retimed and transcript_problem(line.text, retimed.duration, language) is None:
            warn(
                f"{where}; the original mixture says the same over {retimed.start:.1f}-"
                f"{retimed.end:.1f} s: its text kept, on those times"
            )
            segments.append(retimed)
            continue
        heard = tuple(w for w in words if line.start <= (w.start + w.end) / 2 <= line.end)
        text = "".join(w.text for w in heard).strip()
        if heard and transcript_problem(text, line.duration, language) is None:
            warn(f"{where}; heard again from the original mixture: {clip(text)!r}")
            segments.append(replace(line, text=text, words=heard))
        else:
            kept = collapse_loops(line.text, language)
            warn(f"{where}; the mixture did not say it better; kept as {clip(kept)!r}")
            segments.append(replace(line, text=kept, words=() if kept != line.text else line.words))
    return replace(transcript, segments=tuple(segments))


def _retimed(
    lines: Sequence[Segment], k: int, words: Sequence[Word], language: str
) -> Segment | None:
    """Line ``k`` on the times of the words heard again that say its own text (most of its
    words, in order, in about as many), or None when they say something else. Whisper can
    squeeze a right line's times into too short a span; taking the words inside that span
    would lose the ones outside it (measured: "I didn't know you were there." in 0.8 s came
    back as "didn't know you were there.")."""
    line = lines[k]
    low = lines[k - 1].start if k else 0.0  # never before the line before, nor past the next
    high = lines[k + 1].end if k + 1 < len(lines) else math.inf
    around = _around(lines, k)
    near = [
        w
        for w in words
        if low <= w.start and w.end <= high and around[0] <= (w.start + w.end) / 2 <= around[1]
    ]
    # one entry per word heard, so that a match's indices are the words' (none if no letters)
    said, heard = units(line.text, language), [" ".join(units(w.text, language)) for w in near]
    found = [
        b
        for b in SequenceMatcher(None, said, heard, autojunk=False).get_matching_blocks()
        if b.size
    ]
    if not said or not found or sum(b.size for b in found) < SAME_WORDS * len(said):
        return None
    first, last = found[0].b, found[-1].b + found[-1].size
    if last - first > len(said) + 2:
        return None  # scattered over the neighbours' words, not one run
    run = tuple(near[first:last])
    # lines of one transcriber do not overlap: a word heard over a neighbour's edge is cut
    start = max(run[0].start, lines[k - 1].end if k else 0.0)
    end = min(run[-1].end, lines[k + 1].start if k + 1 < len(lines) else math.inf)
    return replace(line, start=start, end=end, words=run) if end > start else None


def _around(lines: Sequence[Segment], k: int) -> tuple[float, float]:
    """Where line ``k`` may really be: a second either side, or up to its neighbours where
    they are further (its times may be squeezed), but not more than REACH_SEC."""
    line = lines[k]
    before = lines[k - 1].end if k else 0.0
    after = lines[k + 1].start if k + 1 < len(lines) else line.end
    return (
        max(min(line.start - AGAIN_PAD_SEC, before), line.start - REACH_SEC),
        min(max(line.end + AGAIN_PAD_SEC, after), line.end + REACH_SEC),
    )


def _words_around(
    transcriber: Transcriber, audio: Audio, around: list[tuple[float, float]], language: str
) -> list[Word]:
    """The words heard in ``audio`` in each span around a doubtful line (near ones heard
    together): a doubtful line costs its own seconds heard again, not the input's
    (measured: one line of a 60 s input, 5.1 s heard whole)."""
    spans = joined(around, 0.0)
    # each line is judged on its own words (guarded), so a neighbour's loop loses nothing
    heard = [
        s for start, end in spans for s in _heard_alone(transcriber, audio, start, end, language)
    ]
    # Lines without word timings (a transcriber that gives none) count as one word each.
    return [w for s in heard for w in s.words or (Word(s.start, s.end, f" {s.text}", 1.0),)]


def recovered(
    transcript: Transcript,
    speech_16k: Audio,
    mixture: Callable[[], Audio | None],
    transcriber: Transcriber,
    warn: Callable[[str], None],
) -> Transcript:
    """Speech no line covers (Whisper can end a 30 s window early where voices overlap and
    skip the rest) heard again on its own, from the stem, then from the mixture; each span
    recovered, or not, is a warning. Left alone, it would stay in the dub untranslated."""
    gaps = subtract(
        speech_spans(speech_16k),
        [(s.start, s.end) for s in transcript.segments],
        shortest=MISSED_SEC,
    )
    if not gaps:
        return transcript
    sources = [("the speech stem", lambda: speech_16k), ("the original mixture", mixture)]
    added: list[Segment] = []
    for start, end in gaps:
        where = f"{MARK} speech at {start:.1f}-{end:.1f} s had no line"
        for label, audio in sources:
            heard = audio()
            lines = (
                []
                if heard is None
                else _heard_between(transcriber, heard, start, end, transcript.language)
            )
            if lines:
                said = clip(" ".join(s.text for s in lines))
                warn(f"{where}; heard again on its own from {label}: {said!r}")
                added += lines
                break
        else:
            warn(f"{where}; heard again on its own, still nothing: it stays in the original")
    segments = sorted((*transcript.segments, *added), key=lambda s: s.start)
    return replace(transcript, segments=tuple(replace(s, id=i) for i, s in enumerate(segments)))


def speech_spans(speech_16k: Audio) -> list[tuple[float, float]]:
    """Where there is speech (Silero VAD, as faster-whisper ships it)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    found = get_speech_timestamps(
        speech_16k.mono(), VadOptions(min_silence_duration_ms=500, speech_pad_ms=100)
    )
    return [(s["start"] / 16_000, s["end"] / 16_000) for s in found]


def _heard_between(
    transcriber: Transcriber, audio: Audio, start: float, end: float, language: str
) -> list[Segment]:
    """The lines heard in ``audio`` between ``start`` and ``end`` alone, on its timeline;
    none if what was heard is not speech (a loop, more text than the time allows)."""
    heard = _heard_alone(transcriber, audio, start, end, language)
    return [] if any(transcript_problem(s.text, s.duration, language) for s in heard) else heard


def _heard_alone(
    transcriber: Transcriber, audio: Audio, start: float, end: float, language: str
) -> list[Segment]:
    """The lines heard in ``audio`` between ``start`` and ``end`` (CLIP_PAD_SEC either
    side) transcribed on their own, on ``audio``'s timeline."""
    first = max(0.0, start - CLIP_PAD_SEC)
    rate = audio.sample_rate
    piece = Audio(audio.samples[:, int(first * rate) : int((end + CLIP_PAD_SEC) * rate)], rate)
    return [
        replace(
            s,
            start=round(s.start + first, 3),
            end=round(s.end + first, 3),
            words=tuple(
                replace(w, start=round(w.start + first, 3), end=round(w.end + first, 3))
                for w in s.words
            ),
        )
        for s in transcriber.transcribe(piece, language=language).segments
        if s.text.strip()
    ]
