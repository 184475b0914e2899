"""Decoding an audio track to float32 PCM with PyAV's resampler."""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from .._errors import MediaError

LAYOUTS = {1: "mono", 2: "stereo"}  # channel count → PyAV layout name


@dataclass(frozen=True, slots=True)
class Audio:
    """PCM audio: ``samples`` is float32 shaped (channels, n_samples)."""

    samples: np.ndarray
    sample_rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        return self.n_samples / self.sample_rate

    def with_duration(self, duration: float) -> Audio:
        """Trimmed, or padded with silence, to ``duration`` seconds."""
        n = round(duration * self.sample_rate)
        if n <= self.n_samples:
            return Audio(self.samples[:, :n], self.sample_rate)
        pad = np.zeros((self.channels, n - self.n_samples), dtype=np.float32)
        return Audio(np.concatenate([self.samples, pad], axis=1), self.sample_rate)

    def mono(self) -> np.ndarray:
        """The channels averaged, shaped (n_samples,)."""
        return self.samples.mean(axis=0)


def memory_mapped(audio: Audio) -> Audio:
    """The same audio, its samples in a temporary file mapped into memory: pages are read
    when used and the OS may drop them, so a long soundtrack does not sit in the process's
    memory while the models run (the file is unlinked at once where the OS allows it; the
    mapping keeps it until the last reference goes). Copy-on-write: writes stay private."""
    with tempfile.NamedTemporaryFile(prefix="dubengine-", suffix=".npy", delete=False) as f:
        np.save(f, np.ascontiguousarray(audio.samples, dtype=np.float32))
    samples = np.load(f.name, mmap_mode="c")
    # Windows: a mapped file cannot be removed; the temp folder keeps it
    with contextlib.suppress(OSError):
        os.unlink(f.name)
    return Audio(samples, audio.sample_rate)


def drop_resident(audio: Audio) -> None:
    """Gives back the pages of a memory-mapped track (``memory_mapped``) that were read:
    they count in the process's memory until the OS needs them, and are read from the file
    again if used. Nothing for audio in memory. Writes to the mapping would be lost, so only
    for tracks nobody writes to."""
    mapping = getattr(audio.samples, "_mmap", None)
    if mapping is not None and hasattr(mapping, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        mapping.madvise(mmap.MADV_DONTNEED)


def decode_audio(
    path: str | os.PathLike[str],
    sample_rate: int = 16_000,
    channels: int = 1,
    stream_index: int | None = None,
) -> Audio:
    """Decodes one audio track, resampled to ``sample_rate`` and ``channels`` (1 or 2).

    Args:
        path: the media file.
        sample_rate: output rate, Hz.
        channels: 1 (mono downmix) or 2 (stereo).
        stream_index: container stream index; default the first audio stream.

    Raises:
        MediaError: ``unsupported_format`` when there is no audio track or it cannot be decoded.
    """
    if channels not in LAYOUTS:
        raise ValueError(f"channels must be 1 or 2, not {channels}")
    path = Path(path)
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            stream = _audio_stream(container, stream_index, path)
            # FFmpeg upmixes mono at -3 dB per channel; a copy on each keeps the level
            upmix = channels == 2 and stream.codec_context.channels == 1
            layout = LAYOUTS[1 if upmix else channels]
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=sample_rate)
            for frame in container.decode(stream):
                chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray() for f in resampler.resample(None))
    except av.FFmpegError as exc:
        raise MediaError(
            "unsupported_format", f"the audio track of {path.name} could not be decoded ({exc})"
        ) from exc
    if not chunks:
        raise MediaError("unsupported_format", f"the audio track of {path.name} holds no audio")
    samples = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    if samples.shape[0] < channels:
        samples = np.repeat(samples, channels, axis=0)
    return Audio(samples=samples, sample_rate=sample_rate)


def _audio_stream(
    container: av.container.InputContainer, stream_index: int | None, path: Path
) -> av.audio.stream.AudioStream:
    if stream_index is None:
        if not container.streams.audio:
            raise MediaError("unsupported_format", f"{path.name} has no audio track")
        return container.streams.audio[0]
    stream = container.streams[stream_index]
    if stream.type != "audio":
        raise ValueError(f"stream {stream_index} of {path.name} is {stream.type}, not audio")
    return stream
