"""Stage 4, Matching voices: per speaker, a reference from the speech stem and the voice
that will speak for them (a cloning synthesizer gets the reference itself)."""

from __future__ import annotations

import numpy as np

from .._types import Transcript, Voice
from ..media.decode import Audio
from ..protocols import CloningSynthesizer, Synthesizer, VoiceMatcher

REFERENCE_SEC = 30.0  # the most speech per speaker handed to voice matching
DEFAULT_SPEAKER = "SPEAKER_00"


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


def match_voices(
    speakers: dict[str, Audio],
    target_lang: str,
    synthesizer: Synthesizer | CloningSynthesizer,
    matcher: VoiceMatcher | None,
    reduce_accent: bool,
) -> dict[str, Voice]:
    """``speakers``: each speaker's reference (``references``)."""
    if isinstance(synthesizer, CloningSynthesizer):
        return {s: Voice("reference", reference=ref) for s, ref in speakers.items()}
    if matcher is None:
        native = getattr(synthesizer, "native_voices", None)
        default = native(target_lang)[0] if native else synthesizer.voices()[0]
        return {speaker: Voice(default) for speaker in speakers}
    return matcher.match(speakers, target_lang, synthesizer, reduce_accent)
