"""Resampling PCM in memory with PyAV's resampler (the same one decoding uses)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from .decode import LAYOUTS, Audio


def resample(audio: Audio, sample_rate: int, channels: int | None = None) -> Audio:
    """``audio`` at ``sample_rate`` Hz with ``channels`` (default: unchanged)."""
    channels = channels or audio.channels
    if audio.sample_rate == sample_rate and audio.channels == channels:
        return audio
    if audio.channels == 1 and channels == 2:
        # FFmpeg upmixes mono at -3 dB per channel; a copy on each keeps the level
        mono = resample(audio, sample_rate, 1)
        return Audio(np.repeat(mono.samples, 2, axis=0), sample_rate)
    source = audio.samples
    if source.shape[0] > 2:
        source = source.mean(axis=0, keepdims=True)
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(source, dtype=np.float32),
        format="fltp",
        layout=LAYOUTS[source.shape[0]],
    )
    frame.sample_rate = audio.sample_rate
    frame.pts = 0
    frame.time_base = Fraction(1, audio.sample_rate)
    resampler = av.AudioResampler(format="fltp", layout=LAYOUTS[channels], rate=sample_rate)
    chunks = [f.to_ndarray() for f in resampler.resample(frame)]
    chunks += [f.to_ndarray() for f in resampler.resample(None)]
    if not chunks:
        return Audio(np.zeros((channels, 0), dtype=np.float32), sample_rate)
    return Audio(np.concatenate(chunks, axis=1).astype(np.float32), sample_rate)
