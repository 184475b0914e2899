"""Who speaks when, on its own: ``diarize(path)`` → typed turns, RTTM, an exclusive view.

The pipeline uses the same diarizer backends; this is the entry point for users who want
only the turns (as pyannote.audio users do).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import InvalidOption
from ._progress import Progress, no_progress
from ._types import Turn
from .toolkit.lines import exclusive

DEFAULT_DIARIZER = "seg3-campp"


@dataclass(frozen=True, slots=True)
class Diarization:
    """The turns of one recording. ``turns`` may overlap (two people at once)."""

    turns: tuple[Turn, ...]
    duration: float
    diarizer: str

    @property
    def speakers(self) -> list[str]:
        return sorted({t.speaker for t in self.turns})

    def exclusive(self) -> tuple[Turn, ...]:
        return exclusive(self.turns)

    def to_rttm(self, uri: str = "audio") -> str:
        return to_rttm(self.turns, uri)

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration": self.duration,
            "diarizer": self.diarizer,
            "speakers": self.speakers,
            "turns": [{"start": t.start, "end": t.end, "speaker": t.speaker} for t in self.turns],
        }


def check_speaker_counts(
    num_speakers: int | None, min_speakers: int | None, max_speakers: int | None
) -> None:
    """Refuses counts below 1, a min above the max, and a count beside bounds."""
    for name, value in (
        ("speakers", num_speakers),
        ("min_speakers", min_speakers),
        ("max_speakers", max_speakers),
    ):
        if value is not None and (isinstance(value, bool) or value < 1):
            raise InvalidOption(f"{name} must be a whole number of at least 1, not {value!r}")
    if num_speakers is not None and (min_speakers is not None or max_speakers is not None):
        raise InvalidOption("give either speakers or min_speakers/max_speakers, not both")
    if min_speakers is not None and max_speakers is not None and min_speakers > max_speakers:
        raise InvalidOption(f"min_speakers ({min_speakers}) is above max_speakers ({max_speakers})")


def diarize(
    path: str | os.PathLike[str],
    *,
    num_speakers: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
    diarizer: str = DEFAULT_DIARIZER,
    device: str = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress = no_progress,
    **backend_options: Any,
) -> Diarization:
    """Who speaks when in an audio or video file.

    Raises:
        InvalidOption: bad speaker counts (before anything loads).
        MediaError: the file cannot be read or has no audio.
        BackendError: the diarizer is unknown or not installed.
    """
    from ._options import PipelineConfig
    from .media import decode_audio
    from .pipeline.pool import ModelPool

    check_speaker_counts(num_speakers, min_speakers, max_speakers)
    audio = decode_audio(Path(path), 16_000, 1)
    # The pipeline's own pool: the same device/cache hand-over and option checks as a dub.
    options = {("diarizer", diarizer): backend_options}
    pool = ModelPool(PipelineConfig(device=device, cache_dir=cache_dir, backend_options=options))
    try:
        turns = pool.get("diarizer", diarizer).diarize(
            audio,
            num_speakers=num_speakers,
            progress=progress,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
        )
    finally:
        pool.close()
    return Diarization(tuple(turns), audio.duration, diarizer)


def to_rttm(turns: Sequence[Turn], uri: str = "audio") -> str:
    """Turns in the NIST RTTM format, one SPEAKER line each."""
    uri = "".join(c if not c.isspace() else "_" for c in uri) or "audio"
    return "".join(
        f"SPEAKER {uri} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> {t.speaker} <NA> <NA>\n"
        for t in turns
    )
