"""Diarizer: a pyannote.audio speaker-diarization pipeline from local files (optional extra).

pyannote's weights cannot be downloaded here and pyannote.audio needs torchaudio (a
different torch build), so it is not in the default install: ``pip install
'dubengine[pyannote]'``, then point ``model`` at a pipeline ``config.yaml`` whose model
paths are local files. Nothing is fetched from a hub: a config naming a hub model fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dubengine.media.decode import Audio
from dubengine.media.resample import resample
from dubengine.protocols import Turn
from dubengine.toolkit import (
    BackendUnavailable,
    InvalidOption,
    ModelNotInstalled,
    Progress,
    ProgressEvent,
    no_progress,
)
from dubengine.toolkit.device import torch_device

SAMPLE_RATE = 16_000
INSTALL_HINT = "pip install 'dubengine[pyannote]'"


class PyannoteDiarizer:
    """A local pyannote speaker-diarization pipeline.

    Args:
        model: the pipeline's ``config.yaml`` (or its folder), with local model paths.
        device: "auto", "cpu", "cuda" or "cuda:N".
    """

    requires = ("pyannote.audio",)  # imported when it loads

    def __init__(self, model: str | os.PathLike[str] | None = None, device: str = "auto") -> None:
        import torch

        try:
            from pyannote.audio import Pipeline
        except ImportError as exc:
            raise BackendUnavailable(
                f"the pyannote diarizer needs pyannote.audio, which is not installed "
                f"(it brings torchaudio); install it with: {INSTALL_HINT}"
            ) from exc
        self._pipeline = Pipeline.from_pretrained(str(config_path(model)))
        name, self.device = torch_device(device)
        self._pipeline.to(torch.device(name))

    def diarize(
        self,
        audio: Audio,
        num_speakers: int | None = None,
        progress: Progress = no_progress,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ) -> list[Turn]:
        import torch

        samples = resample(audio, SAMPLE_RATE, 1).samples
        file = {"waveform": torch.from_numpy(samples), "sample_rate": SAMPLE_RATE}
        output = self._pipeline(
            file, num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers
        )
        # pyannote 4 wraps the annotation; 3.x returns it directly
        annotation = getattr(output, "speaker_diarization", output)
        progress(ProgressEvent("diarizing", 1, 1))
        return turns_from_tracks(annotation.itertracks(yield_label=True))

    def close(self) -> None:
        self._pipeline = None  # type: ignore[assignment]


def config_path(model: str | os.PathLike[str] | None) -> Path:
    """The pipeline config a ``model`` argument names; refuses anything not on disk."""
    if model is None:
        raise InvalidOption(
            "the pyannote diarizer needs a local pipeline: "
            'backend_options={"pyannote": {"model": "/path/to/config.yaml"}}'
        )
    path = Path(model)
    if path.is_dir():
        path = path / "config.yaml"
    if not path.is_file():
        raise ModelNotInstalled(f"no pyannote pipeline config at {path}")
    return path


def turns_from_tracks(tracks: Iterable[tuple[Any, Any, str]]) -> list[Turn]:
    """pyannote's (segment, track, label) triples as turns, in time order, with the labels
    renamed SPEAKER_00, SPEAKER_01, ... by first appearance."""
    names: dict[str, str] = {}
    turns = []
    for segment, _, label in sorted(tracks, key=lambda t: (t[0].start, t[0].end)):
        speaker = names.setdefault(str(label), f"SPEAKER_{len(names):02d}")
        turns.append(Turn(round(float(segment.start), 3), round(float(segment.end), 3), speaker))
    return turns
