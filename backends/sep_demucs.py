"""Separator: a user-supplied Demucs checkpoint (HTDemucs, HDemucs or Demucs) on local disk.

No Demucs weights can be downloaded here (MODELS.md), so this backend only loads a ``.th``
file the user has: the package Demucs saves (``klass``, ``args``, ``kwargs``, ``state``). It
is read with ``weights_only=True`` and only Demucs's own model classes allowed, never
unpickled freely. The ``vocals`` source is the speech; every other source summed is the
background. Long inputs go through in chunks, and Demucs's own overlapping segments inside
each chunk, so memory does not grow with the input.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from dubengine.media.decode import Audio
from dubengine.media.resample import resample
from dubengine.protocols import Stems
from dubengine.toolkit import InvalidOption, ModelNotInstalled, Progress, no_progress
from dubengine.toolkit.chunks import in_chunks
from dubengine.toolkit.device import torch_device

SPEECH_SOURCE = "vocals"


class DemucsSeparator:
    """A local Demucs model.

    Args:
        model: the checkpoint, a ``.th`` file saved by Demucs (required).
        device: "auto", "cpu", "cuda" or "cuda:N".
        chunk_seconds: audio handed to Demucs at once.
        overlap_seconds: cross-fade between chunks.
        shifts: Demucs's random-shift averaging (0 = off, deterministic).
    """

    requires = ("demucs",)  # imported when it loads

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        device: str = "auto",
        chunk_seconds: float = 60.0,
        overlap_seconds: float = 1.0,
        shifts: int = 0,
    ) -> None:
        import torch

        if model is None:
            raise InvalidOption(
                "the demucs separator needs a local checkpoint: "
                'backend_options={"demucs": {"model": "/path/to/model.th"}}'
            )
        path = Path(model)
        if not path.is_file():
            raise ModelNotInstalled(f"Demucs checkpoint {path} does not exist")
        name, self.device = torch_device(device)
        self._torch = torch
        self._device = torch.device(name)
        started = time.perf_counter()
        self._model = load_checkpoint(path).to(self._device).eval()
        self.load_seconds = time.perf_counter() - started
        sources = list(self._model.sources)
        if SPEECH_SOURCE not in sources:
            raise ModelNotInstalled(
                f"{path} separates {sources}; a speech separator needs a {SPEECH_SOURCE!r} source"
            )
        self._speech = sources.index(SPEECH_SOURCE)
        self.sample_rate = int(self._model.samplerate)
        self._channels = int(self._model.audio_channels)
        self._chunk = round(chunk_seconds * self.sample_rate)
        self._overlap = round(overlap_seconds * self.sample_rate)
        self._shifts = shifts

    def separate(self, audio: Audio, progress: Progress = no_progress) -> Stems:
        mixture = resample(audio, self.sample_rate, self._channels).samples
        both = in_chunks(mixture, self._chunk, self._overlap, self._speech_and_rest, progress)
        speech, background = both[: self._channels], both[self._channels :]
        return Stems(Audio(speech, self.sample_rate), Audio(background, self.sample_rate))

    def sources(self, piece: np.ndarray) -> np.ndarray:
        """Every source of a (channels, n) piece: (sources, channels, n)."""
        from demucs.apply import apply_model

        torch = self._torch
        wav = torch.from_numpy(np.ascontiguousarray(piece, dtype=np.float32))
        mono = wav.mean(0)
        mean, std = mono.mean(), mono.std() + 1e-8  # Demucs expects normalised input
        with torch.inference_mode():
            out = apply_model(
                self._model,
                ((wav - mean) / std)[None],
                shifts=self._shifts,
                split=True,
                overlap=0.25,
                progress=False,
                device=self._device,
            )[0]
        return (out * std + mean).cpu().numpy()

    def _speech_and_rest(self, piece: np.ndarray) -> np.ndarray:
        """The speech source's channels, then the other sources' sum's channels."""
        every = self.sources(piece)
        rest = np.delete(every, self._speech, axis=0).sum(axis=0)
        return np.concatenate([every[self._speech], rest])

    def close(self) -> None:
        self._model = None  # type: ignore[assignment]


def load_checkpoint(path: Path) -> Any:
    """A Demucs model from its saved package, unpickling nothing but Demucs's model classes."""
    import torch
    from demucs.demucs import Demucs
    from demucs.hdemucs import HDemucs
    from demucs.htdemucs import HTDemucs
    from demucs.states import load_model

    try:
        with torch.serialization.safe_globals([Demucs, HDemucs, HTDemucs]):
            package = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors come in many types; all mean "not loadable safely"
        raise ModelNotInstalled(
            f"{path} is not a Demucs checkpoint that loads safely: {exc}"
        ) from exc
    if not isinstance(package, dict) or not {"klass", "args", "kwargs", "state"} <= set(package):
        raise ModelNotInstalled(f"{path} is not a Demucs model package (klass/args/kwargs/state)")
    return load_model(package)
