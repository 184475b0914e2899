"""Stage 1, Separating: decode once, split speech from music and effects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._progress import Progress
from ..media import MediaInfo, decode_audio, usable_audio_stream
from ..media.decode import Audio, memory_mapped
from ..media.resample import resample
from ..protocols import Separator
from .mix import MIX_RATE

NOT_SEPARATED = (
    "no separator ran: the dub replaces the whole original soundtrack, music and effects included"
)
CENTRED = 0.95  # correlation of the speech stem's channels above which speech is centre-panned


@dataclass(frozen=True, slots=True)
class Separated:
    """Stage 1's output at MIX_RATE stereo; ``background`` None when nothing was separated
    (then ``speech`` is the whole soundtrack); ``original`` None once it is no longer needed
    (see set_aside)."""

    original: Audio | None
    speech: Audio
    background: Audio | None


def separate(
    info: MediaInfo, separator: Separator | None, progress: Progress, warn: Callable[[str], None]
) -> Separated:
    stream = usable_audio_stream(info)
    original = decode_audio(info.path, MIX_RATE, 2, stream_index=stream.index if stream else None)
    if separator is None:
        warn(NOT_SEPARATED)
        return Separated(original, original, None)
    stems = separator.separate(original, progress=progress)
    speech = resample(stems.speech, MIX_RATE, 2).with_duration(original.duration)
    background = resample(stems.background, MIX_RATE, 2).with_duration(original.duration)
    return centre_speech(Separated(original, speech, background))


def centre_speech(stems: Separated) -> Separated:
    """Dialogue is usually mixed to the centre: then whatever differs between the speech
    stem's channels is music the separator mistook for speech, and it goes back to the
    background (measured: +0.8 dB SI-SDR of the background on speech over Big Buck Bunny).
    Speech that is not centred (a speaker per channel) is left as separated."""
    speech, background = stems.speech, stems.background
    if background is None or speech.channels != 2 or speech.n_samples < 2:
        return stems
    left, right = speech.samples
    if float(np.corrcoef(left, right)[0, 1]) < CENTRED:
        return stems
    centre = np.repeat(speech.samples.mean(axis=0, keepdims=True), 2, axis=0)
    moved = speech.samples - centre
    return Separated(
        stems.original,
        Audio(centre, speech.sample_rate),
        Audio(background.samples + moved, background.sample_rate),
    )


def set_aside(stems: Separated) -> Separated:
    """The stems as the stages after Transcribing need them: the original dropped (only the
    transcriber hears it) and the speech and background memory-mapped until the mix. Three
    stereo tracks at 48 kHz are 115 MB a track for every 5 minutes, held while the
    translator, the largest model, runs."""
    background = None if stems.background is None else memory_mapped(stems.background)
    return Separated(None, memory_mapped(stems.speech), background)
