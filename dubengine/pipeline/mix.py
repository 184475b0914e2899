"""Stage 7, Mixing: the placed dub + the background + the original speech at a chosen volume.

The dub's loudness is matched to the original speech's (ITU-R BS.1770 via pyloudnorm), and a
limiter keeps the sum from clipping.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._progress import Progress, ProgressEvent
from .._types import MixReport, PlacedLine, Transcript
from ..media import MediaInfo, write_output, write_wav
from ..media.decode import Audio, drop_resident
from ..media.resample import resample

MIX_RATE = 48_000
MAX_GAIN_DB = 20.0  # a silent-looking reference must not blow the dub up
LIMITER_DB = 3.0  # the most the limiter may take off the dub's peaks for loudness
FADE_SEC = 0.01
GATE_MARGIN_SEC = 0.3  # speech-stem audio this far outside every line goes back to the background
BLOCK = 1 << 20  # samples a channel worked on at once where whole-track copies would pile up


@dataclass(frozen=True, slots=True)
class Mixed:
    """Stage 7's output: the written file and the tracks that went into it (for the
    quality report and the stems)."""

    output: Path
    report: MixReport
    dub_track: np.ndarray  # the placed lines, mono at MIX_RATE, before the gain
    speech: Audio  # the original speech, gated to the lines
    background: Audio | None
    mixed: Audio
    stems: dict[str, Path] = field(default_factory=dict)


def mix_dub(
    placed: Sequence[PlacedLine],
    transcript: Transcript,
    speech: Audio,
    background: Audio | None,
    info: MediaInfo,
    original_volume: float,
    out_path: Path,
    progress: Progress,
    write_stems: bool = False,
) -> Mixed:
    """Places the lines, mixes them over the background and writes the output."""
    dub = place(placed, info.duration, MIX_RATE)
    separated = (speech, background)
    speech, background = gate_stems(transcript, speech, background)
    for stem in separated:  # read once: the gated copies are what is mixed
        if stem is not None:
            drop_resident(stem)
    mixed, report = mix(
        dub,
        reference_speech=speech,
        background=background,
        original=speech,
        original_volume=original_volume,
    )
    progress(ProgressEvent("mixing", 1, 2))
    stems = {}
    if write_stems:
        stems = _write_stems(dub * 10 ** (report.gain_db / 20), background, out_path)
    output = write_output(mixed, info, out_path)
    return Mixed(output, report, dub, speech, background, mixed, stems)


def _write_stems(dubbed: np.ndarray, background: Audio | None, out_path: Path) -> dict[str, Path]:
    stem = out_path.with_suffix("")
    files = {
        "stem_dubbed_speech_wav": write_wav(
            Audio(dubbed[None, :].astype(np.float32), MIX_RATE), f"{stem}.dubbed_speech.wav"
        )
    }
    if background is not None:
        files["stem_background_wav"] = write_wav(background, f"{stem}.background.wav")
    return files


def gate_stems(
    transcript: Transcript, speech: Audio, background: Audio | None
) -> tuple[Audio, Audio | None]:
    """(speech, background) with the speech stem kept only near the lines: outside them there
    is no speech to replace, so what the separator put there is background it mistook."""
    if background is None:
        return speech, None
    spans = ((line.start, line.end) for line in transcript.segments)
    gate = speech_gate(spans, speech.n_samples, MIX_RATE, GATE_MARGIN_SEC)
    gated = np.empty(speech.samples.shape, np.float32)
    rest = np.empty(background.samples.shape, np.float32)
    for at in range(0, speech.n_samples, BLOCK):  # no whole-track temporaries
        part, g = speech.samples[:, at : at + BLOCK], gate[at : at + BLOCK]
        gated[:, at : at + BLOCK] = part * g
        rest[:, at : at + BLOCK] = background.samples[:, at : at + BLOCK] + part * (1 - g)
    return Audio(gated, MIX_RATE), Audio(rest, MIX_RATE)


def speech_gate(
    spans: Iterable[tuple[float, float]], n: int, rate: int, margin: float
) -> np.ndarray:
    """1 within ``margin`` of every line's (start, end), 0 elsewhere, with 50 ms ramps;
    shaped (n,)."""
    inside = np.zeros(n, dtype=bool)
    for start, end in spans:
        inside[max(0, int((start - margin) * rate)) : int((end + margin) * rate)] = True
    ramp = max(1, int(0.05 * rate))
    # a moving average (np.convolve's "same" window) from running counts, a block at a time:
    # O(n), where convolving is O(n·ramp) (3.6 s for 10 minutes)
    counts = np.concatenate([[0], np.cumsum(inside, dtype=np.int64)])
    gate = np.empty(n, dtype=np.float32)
    for first in range(0, n, BLOCK):
        at = np.arange(first, min(n, first + BLOCK))
        hi = np.minimum(at + (ramp - 1) // 2 + 1, n)
        lo = np.maximum(at - (ramp - 1 - (ramp - 1) // 2), 0)
        gate[first : first + len(at)] = (counts[hi] - counts[lo]) / ramp
    return gate


def place(lines: Sequence[PlacedLine], duration: float, rate: int = MIX_RATE) -> np.ndarray:
    """A mono track ``duration`` long with every line at its start; a line running past the
    end is cut there, with a short fade."""
    track = np.zeros(round(duration * rate), dtype=np.float32)
    for line in lines:
        speech = resample(line.audio, rate, 1).samples[0]
        at = round(line.fit.start * rate)
        room = len(track) - at
        if room <= 0:
            continue
        if len(speech) > room:
            speech = speech[:room].copy()
            fade = min(len(speech), round(FADE_SEC * rate))
            speech[len(speech) - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        track[at : at + len(speech)] += speech
    return track


def mix(
    dub: np.ndarray,
    reference_speech: Audio,
    background: Audio | None = None,
    original: Audio | None = None,
    original_volume: float = 0.0,
    rate: int = MIX_RATE,
    gain_db: float | None = None,
) -> tuple[Audio, MixReport]:
    """Stereo mix at ``rate``: dub (loudness-matched) + background + original × volume.
    ``gain_db``: the dub's gain as an earlier render set it (a re-render must not move it)."""
    n = len(dub)
    reference = _stereo(reference_speech, rate, n)
    ref_lufs, dub_lufs = _loudness(reference, rate), _loudness(dub[None, :], rate)
    fixed = gain_db is not None
    gain_db = gain_db or 0.0
    if ref_lufs is not None and dub_lufs is not None and not fixed:
        # Match loudness, but not by limiting the dub's peaks hard: that pumps audibly.
        headroom = 20 * math.log10(0.99 / max(float(np.abs(dub).max()), 1e-6)) + LIMITER_DB
        gain_db = float(np.clip(ref_lufs - dub_lufs, -MAX_GAIN_DB, min(MAX_GAIN_DB, headroom)))
    out = np.repeat((dub * 10 ** (gain_db / 20))[None, :], 2, axis=0)
    if background is not None:
        out += _stereo(background, rate, n)
    if original is not None and original_volume > 0:
        out += original_volume * _stereo(original, rate, n)
    peaks = _peaks(out)
    peak = float(peaks.max()) if out.size else 0.0
    out = _limit(out, peaks, rate)
    report = MixReport(ref_lufs, dub_lufs, round(gain_db, 2), round(peak, 4))
    return Audio(out.astype(np.float32, copy=False), rate), report


def _peaks(samples: np.ndarray) -> np.ndarray:
    """The largest |sample| across channels at each instant, shaped (n,), a block at a time."""
    peaks = np.empty(samples.shape[1], samples.dtype)
    for at in range(0, samples.shape[1], BLOCK):
        np.abs(samples[:, at : at + BLOCK]).max(axis=0, out=peaks[at : at + BLOCK])
    return peaks


def _stereo(audio: Audio, rate: int, n: int) -> np.ndarray:
    samples = resample(audio, rate, 2).samples
    if samples.shape[1] < n:
        samples = np.pad(samples, ((0, 0), (0, n - samples.shape[1])))
    return samples[:, :n]


def _loudness(samples: np.ndarray, rate: int) -> float | None:
    """Integrated loudness (BS.1770-4, LUFS) of (channels, n) samples: pyloudnorm's meter,
    its filters run a block at a time with their state carried over and each channel
    filtered alone (pyloudnorm copies the whole track and filters it in float64: +690 MB for
    10 minutes of stereo). Same values, block for block."""
    import pyloudnorm
    from scipy.signal import lfilter

    if samples.shape[1] < rate:  # BS.1770 gating needs at least 0.4 s; keep a margin
        return None
    meter = pyloudnorm.Meter(rate)
    block, step = meter.block_size, 1.0 - meter.overlap
    count = int(np.round((samples.shape[1] / rate - block) / (block * step))) + 1
    bounds = [
        (int(block * j * step * rate), int(block * (j * step + 1) * rate)) for j in range(count)
    ]
    z = np.zeros((samples.shape[0], count))
    for ch in range(samples.shape[0]):
        weighted = samples[ch].astype(np.float32)
        for stage in meter._filters.values():  # as pyloudnorm: each stage's output in float32
            state = np.zeros(max(len(stage.a), len(stage.b)) - 1)  # at rest, as lfilter starts
            for at in range(0, len(weighted), BLOCK):
                part, state = lfilter(stage.b, stage.a, weighted[at : at + BLOCK], zi=state)
                weighted[at : at + BLOCK] = stage.passband_gain * part
        z[ch] = [np.sum(np.square(weighted[lo:hi])) / (block * rate) for lo, hi in bounds]
    return _gated(z)


def _gated(z: np.ndarray) -> float | None:
    """BS.1770-4's gating of per-block mean squares z (channels, blocks), as pyloudnorm
    computes it for up to two channels (both weighted 1.0)."""
    with np.errstate(divide="ignore"):
        per_block = -0.691 + 10.0 * np.log10(z.sum(axis=0))
        above = per_block >= -70.0
        if not above.any():  # silence
            return None
        relative = -0.691 + 10.0 * np.log10(z[:, above].mean(axis=1).sum()) - 10.0
        kept = (per_block > relative) & above
        if not kept.any():
            return None
        value = -0.691 + 10.0 * np.log10(z[:, kept].mean(axis=1).sum())
    return None if math.isinf(value) or math.isnan(value) else round(float(value), 2)


def _limit(samples: np.ndarray, peaks: np.ndarray, rate: int, ceiling: float = 0.98) -> np.ndarray:
    """A transparent look-ahead peak limiter: gain falls 5 ms before a peak that would pass
    ``ceiling`` and recovers over about 100 ms; below the ceiling nothing changes. ``peaks``:
    ``_peaks(samples)``. Applied in place, a block at a time.

    (pedalboard's Limiter adds make-up gain to everything, which would change the mix.)
    """
    if not samples.size or peaks.max() <= ceiling:
        return samples
    block = max(1, rate // 1000)
    n_blocks = -(-len(peaks) // block)
    padded = np.pad(peaks, (0, n_blocks * block - len(peaks)))
    need = np.minimum(1.0, ceiling / np.maximum(padded.reshape(n_blocks, block).max(axis=1), 1e-9))
    look = 5  # blocks of 1 ms
    windows = np.lib.stride_tricks.sliding_window_view(
        np.pad(need, look, constant_values=1.0), 2 * look + 1
    )
    need = windows.min(axis=1)
    recover = 1.0 - math.exp(-1.0 / 100.0)  # per 1 ms block, 100 ms time constant
    gain = np.empty_like(need)
    current = 1.0
    for i, wanted in enumerate(need.tolist()):
        current = min(wanted, current + (1.0 - current) * recover)
        gain[i] = current
    centers = (np.arange(n_blocks) + 0.5) * block
    for at in range(0, len(peaks), BLOCK):
        part = samples[:, at : at + BLOCK]
        per_sample = np.interp(np.arange(at, at + part.shape[1]), centers, gain)
        part[:] = part * per_sample[None, :]
    return samples
