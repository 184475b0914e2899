"""Stage 2, Transcribing: what was said and who said it (both on the speech stem), joined
into lines of one speaker each."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .._errors import MediaError
from .._progress import Progress
from .._types import Transcript
from ..diarization import exclusive
from ..media.decode import Audio
from ..media.resample import resample
from ..protocols import Diarizer, Transcriber
from .lines import assign_speakers
from .separate import Separated


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
) -> Transcribed:
    """``given``: the lines already known (subtitles), heard instead of transcribing; with no
    transcriber, nothing is transcribed."""
    speech_16k = resample(stems.speech, 16_000, 1)
    language = None if source_lang == "auto" else source_lang
    if given is not None or transcriber is None:
        transcript = given or Transcript(language=source_lang)
    else:
        transcript = transcriber.transcribe(speech_16k, language=language, progress=progress)
    if not transcript.segments:
        raise MediaError("unsupported_format", "no speech was found in the audio track")
    turns = []
    if diarizer is not None:
        # On the speech stem: with music as loud as the speech, segmentation-3.0 + CAM++
        # measured DER 20% on the stem against 25% on the mixture (counts right on both;
        # on clean speech the two agree).
        found = diarizer.diarize(speech_16k, num_speakers=num_speakers)
        # Words go to one speaker each: overlap resolved to whoever holds the floor.
        turns = [(t.start, t.end, t.speaker) for t in exclusive(found)]
    segments = assign_speakers(transcript.segments, turns)
    return Transcribed(replace(transcript, segments=segments), speech_16k)
