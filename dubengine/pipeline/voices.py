"""Stage 3, Matching voices: per speaker, a reference from the speech stem and the voice
that will speak for them (a cloning synthesizer gets the reference itself)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._spans import Span, subtract
from .._types import CLONED, DEFAULT_SPEAKER, Transcript, Voice
from ..media.decode import Audio
from ..protocols import CloningSynthesizer, Synthesizer, VoiceMatcher

REFERENCE_SEC = 30.0  # the most speech per speaker handed to voice matching
CLONE_MIN_SEC, CLONE_MAX_SEC = 6.0, 30.0  # what cloning models (XTTS-v2) want per speaker


def references(transcript: Transcript, speech_16k: Audio) -> dict[str, Audio]:
    """Per speaker, their lines from the speech stem, up to REFERENCE_SEC."""
    rate = speech_16k.sample_rate
    mono = speech_16k.samples[0]
    pieces: dict[str, list[np.ndarray]] = {}
    for segment in transcript.segments:
        speaker = segment.speaker or DEFAULT_SPEAKER
        if sum(len(p) for p in pieces.get(speaker, [])) < REFERENCE_SEC * rate:
            piece = mono[int(segment.start * rate) : int(segment.end * rate)]
            pieces.setdefault(speaker, []).append(piece)
    return {
        speaker: Audio(np.concatenate(parts)[None, :].astype(np.float32), rate)
        for speaker, parts in pieces.items()
    }


def speaker_spans(transcript: Transcript, speaker: str, same: bool = True) -> list[Span]:
    """The times of the speaker's lines (``same``), or of everyone else's."""
    return [
        (s.start, s.end)
        for s in transcript.segments
        if ((s.speaker or DEFAULT_SPEAKER) == speaker) == same
    ]


def clean_spans(transcript: Transcript, speaker: str) -> list[Span]:
    """The speaker's lines, less any time another speaker's line overlaps them."""
    others = speaker_spans(transcript, speaker, same=False)
    return subtract(speaker_spans(transcript, speaker), others, shortest=0.05)


def clone_spans(transcript: Transcript, speaker: str, longest: float = CLONE_MAX_SEC) -> list[Span]:
    """The speaker's longest clean stretches, up to ``longest`` seconds in all (the last one
    cut to fit), in time order; all their speech when the clean part is under CLONE_MIN_SEC."""
    spans = clean_spans(transcript, speaker)
    if sum(b - a for a, b in spans) < CLONE_MIN_SEC:
        spans = speaker_spans(transcript, speaker)
    chosen: list[Span] = []
    left = longest
    for start, end in sorted(spans, key=lambda span: span[0] - span[1]):  # longest first
        if left <= 0.5:
            break
        chosen.append((start, min(end, start + left)))
        left -= chosen[-1][1] - start
    return sorted(chosen)


def clone_references(
    transcript: Transcript, speech_16k: Audio, synthesizer: CloningSynthesizer | None = None
) -> dict[str, Voice]:
    """Per speaker, a voice that is their own speech: the clone_spans of the speech stem,
    conditioned once here when the synthesizer conditions (``condition``)."""
    rate, mono = speech_16k.sample_rate, speech_16k.samples[0]
    speakers = dict.fromkeys(s.speaker or DEFAULT_SPEAKER for s in transcript.segments)
    voices = {}
    for speaker in speakers:
        spans = clone_spans(transcript, speaker)
        audio = np.concatenate(
            [mono[int(a * rate) : int(b * rate)] for a, b in spans] or [mono[:0]]
        )
        reference = Audio(audio[None, :].astype(np.float32), rate)
        condition = getattr(synthesizer, "condition", None)
        voices[speaker] = Voice(
            CLONED + speaker,
            reference=reference,
            reference_spans=tuple(spans),
            conditioning=condition(reference) if condition else None,
        )
    return voices


def match_voices(
    transcript: Transcript,
    speech_16k: Audio,
    target_lang: str,
    synthesizer: Synthesizer | CloningSynthesizer,
    make_matcher: Callable[[], VoiceMatcher | None],
    reduce_accent: bool,
) -> dict[str, Voice]:
    """The voice per speaker: their own (cloned) for a cloning synthesizer, else the
    matcher's choice from their speech, else the synthesizer's default. The matcher is made
    only when it is used (a cloning synthesizer needs none loaded)."""
    if isinstance(synthesizer, CloningSynthesizer):
        return clone_references(transcript, speech_16k, synthesizer)
    speakers = references(transcript, speech_16k)
    matcher = make_matcher()
    if matcher is None:
        native = getattr(synthesizer, "native_voices", None)
        default = native(target_lang)[0] if native else synthesizer.voices()[0]
        return {speaker: Voice(default) for speaker in speakers}
    return matcher.match(speakers, target_lang, synthesizer, reduce_accent)
