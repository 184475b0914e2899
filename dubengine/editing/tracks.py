"""The whole tracks of an editable dub as the studio shows and plays them: the original
(its two stems summed) and the last render's mix, read from the project folder a block at a
time, their waveform peaks cached beside them."""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np

from ..media.decode import Audio
from ..media.resample import resample
from ..pipeline.mix import MIX_RATE

Track = Literal["original", "dub"]
PEAKS_PER_SEC = 100  # enough for 4 px a peak at the studio's closest zoom
PLAY_RATE = 24_000  # mono, for listening in the page (the download is the full output)
BLOCK_SEC = 30


def track_files(folder: Path, track: Track) -> list[Path]:
    """The files whose samples, summed, are ``track``: (2, n) float32 at MIX_RATE."""
    if track == "dub":
        return [folder / "mix.npy"]
    return [p for p in (folder / "speech.npy", folder / "background.npy") if p.is_file()]


def blocks(folder: Path, track: Track) -> Iterator[np.ndarray]:
    """``track`` in blocks of BLOCK_SEC, read one at a time, so a long dub is never held
    whole at MIX_RATE."""
    arrays = [np.load(p, mmap_mode="r") for p in track_files(folder, track)]
    step = BLOCK_SEC * MIX_RATE
    for start in range(0, arrays[0].shape[1], step):
        yield sum(np.asarray(a[:, start : start + step], dtype=np.float32) for a in arrays)


def peaks(folder: Path, track: Track) -> dict[str, object]:
    """The largest |sample| of each 1/PEAKS_PER_SEC s of ``track``, 0-255, base64: the
    waveform the studio draws. Cached in the folder until the track's files change."""
    cache = folder / f"peaks-{track}.u8"
    newest = max(p.stat().st_mtime_ns for p in track_files(folder, track))
    if not cache.is_file() or cache.stat().st_mtime_ns < newest:
        # a name of its own: two requests may fill the cache at once
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".peaks-", delete=False) as tmp:
            tmp.write(_peaks(folder, track).tobytes())
        os.replace(tmp.name, cache)
    return {
        "track": track,
        "per_second": PEAKS_PER_SEC,
        "peaks": base64.b64encode(cache.read_bytes()).decode("ascii"),
    }


def _peaks(folder: Path, track: Track) -> np.ndarray:
    bucket = MIX_RATE // PEAKS_PER_SEC  # BLOCK_SEC * MIX_RATE is a whole number of buckets
    out = []
    for block in blocks(folder, track):
        loud = np.abs(block).max(axis=0)
        pad = -len(loud) % bucket
        loud = np.pad(loud, (0, pad)).reshape(-1, bucket).max(axis=1)
        out.append(np.round(np.clip(loud, 0.0, 1.0) * 255).astype(np.uint8))
    return np.concatenate(out) if out else np.zeros(0, np.uint8)


def playable(folder: Path, track: Track) -> Audio:
    """``track`` mono at PLAY_RATE: a 5-minute dub is 14 MB as 16-bit WAV, not 55."""
    mono = np.concatenate([block.mean(axis=0, keepdims=True) for block in blocks(folder, track)], 1)
    return resample(Audio(mono, MIX_RATE), PLAY_RATE, 1)
