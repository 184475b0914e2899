"""Speaker embeddings: Resemblyzer's d-vector encoder (256-d, weights shipped in its wheel)."""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from dubengine.media.decode import Audio
from dubengine.media.resample import resample
from dubengine.toolkit.device import torch_device

SAMPLE_RATE = 16_000


def voice_encoder(device: str) -> tuple[Any, str]:
    """Resemblyzer's ``VoiceEncoder`` on ``device``, and the device kind ("cpu" | "cuda")."""
    name, kind = torch_device(device)
    with warnings.catch_warnings():  # webrtcvad imports the deprecated pkg_resources
        warnings.simplefilter("ignore")
        from resemblyzer import VoiceEncoder

    return VoiceEncoder(name, verbose=False), kind


class ResemblyzerEmbedder:
    """``embed(audio)`` → unit-length 256-d vector; ``similarity`` is their cosine.

    Args:
        device: "auto", "cpu", "cuda" or "cuda:N".
    """

    weights = "ready (in its package)"

    def __init__(self, device: str = "auto") -> None:
        started = time.perf_counter()
        self._encoder, self.device = voice_encoder(device)
        self.load_seconds = time.perf_counter() - started

    def embed(self, audio: Audio) -> np.ndarray:
        from resemblyzer import preprocess_wav

        samples = resample(audio, SAMPLE_RATE, 1).samples[0]
        wav = preprocess_wav(samples, source_sr=SAMPLE_RATE)
        if len(wav) < SAMPLE_RATE // 2:  # too little voiced audio after trimming: use it all
            wav = samples
        return np.asarray(self._encoder.embed_utterance(wav), dtype=np.float32)

    @staticmethod
    def similarity(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))

    def close(self) -> None:
        self._encoder = None  # type: ignore[assignment]
