"""Diarizer: Resemblyzer d-vectors over a sliding window, clustered, the speaker count estimated.

Speech is found with the Silero VAD that faster-whisper ships (ONNX, no download). The audio's
level is evened out first (Resemblyzer's mel features are not log-scaled, so a speaker who
gets louder looks like another speaker). Every window of 1.6 s, every ``step`` seconds, gets
an embedding; windows centred in speech are clustered with k-means and labels smoothed over
about a second.

The speaker count: neither a distance threshold nor the silhouette separates "two people"
from "one person whose delivery changes" with these embeddings (measured: the two speakers
of two_speakers_en.wav are 0.88 apart by centroid cosine, the two halves of JFK's sentence
0.88, JFK's halves have the better silhouette). What does separate them is that in a
conversation voices come back: the count is the largest k for which every pair of clusters
is either clearly different (centroid cosine < ``distinct``) or different enough
(< ``returning``) with both voices coming back after the other, in at least two stretches
of a second or more each.
"""

from __future__ import annotations

import numpy as np

from dubengine.media.decode import Audio
from dubengine.media.resample import resample
from dubengine.protocols import Turn
from dubengine.toolkit import Progress, ProgressEvent, no_progress

from .embed_resemblyzer import voice_encoder

SAMPLE_RATE = 16_000
WINDOW_SEC = 1.6  # Resemblyzer's partial utterance
BATCH = 128  # windows through the network at once


class ResemblyzerDiarizer:
    """Who spoke when, from Resemblyzer embeddings.

    Args:
        device: "auto", "cpu", "cuda" or "cuda:N".
        step: seconds between window starts.
        max_speakers: the most speakers the estimate considers.
        distinct: centroid cosine below which two clusters are two speakers.
        returning: centroid cosine below which two clusters that alternate are two speakers.
        smooth: windows in the majority filter that removes flickers (odd).
    """

    weights = "ready (in its package)"

    def __init__(
        self,
        device: str = "auto",
        step: float = 0.125,
        max_speakers: int = 8,
        distinct: float = 0.80,
        returning: float = 0.89,
        smooth: int = 9,
    ) -> None:
        self._encoder, self.device = voice_encoder(device)
        self.step = step
        self.max_speakers = max_speakers
        self.distinct = distinct
        self.returning = returning
        self.smooth = smooth

    def diarize(
        self,
        audio: Audio,
        num_speakers: int | None = None,
        progress: Progress = no_progress,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ) -> list[Turn]:
        wav = resample(audio, SAMPLE_RATE, 1).samples[0]
        regions = speech_regions(wav)
        progress(ProgressEvent("diarizing", 1, 3))
        if not regions:
            return []
        centers, embeddings = self._windows(_even_level(wav), regions)
        progress(ProgressEvent("diarizing", 2, 3))
        labels = self.cluster(embeddings, num_speakers, min_speakers, max_speakers)
        turns = _turns(regions, centers, labels)
        progress(ProgressEvent("diarizing", 3, 3))
        return turns

    def _windows(
        self, wav: np.ndarray, regions: list[tuple[float, float]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Window centres (s) inside speech and their embeddings."""
        partials, slices = self._partials(wav)
        centers = np.array([(s.start + s.stop) / 2 / SAMPLE_RATE for s in slices])
        inside = np.array([any(a <= c <= b for a, b in regions) for c in centers])
        if not inside.any():  # speech shorter than any window centre: keep the nearest
            inside[np.argmin([min(abs(c - (a + b) / 2) for a, b in regions) for c in centers])] = 1
        return centers[inside], np.asarray(partials)[inside]

    def _partials(self, wav: np.ndarray) -> tuple[np.ndarray, list[slice]]:
        """Resemblyzer's partial embeddings, as ``embed_utterance`` computes them, but
        through the network a batch at a time so memory does not grow with the input."""
        import torch
        from resemblyzer import audio

        encoder = self._encoder
        slices, mel_slices = encoder.compute_partial_slices(len(wav), 1.0 / self.step, 0.5)
        if slices[-1].stop >= len(wav):
            wav = np.pad(wav, (0, slices[-1].stop - len(wav)))
        mel = audio.wav_to_mel_spectrogram(wav)
        out = []
        for start in range(0, len(mel_slices), BATCH):
            mels = np.array([mel[s] for s in mel_slices[start : start + BATCH]])
            with torch.no_grad():
                out.append(encoder(torch.from_numpy(mels).to(encoder.device)).cpu().numpy())
        return np.concatenate(out), slices

    def cluster(
        self,
        embeddings: np.ndarray,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ) -> np.ndarray:
        """A speaker index per window, smoothed; the count estimated when not given."""
        n = len(embeddings)
        low = num_speakers or min_speakers or 1
        if num_speakers == 1 or n < 4:
            return np.zeros(n, dtype=int)
        if num_speakers:
            return self._kmeans(embeddings, min(num_speakers, n))
        best = self._kmeans(embeddings, min(low, n)) if low > 1 else np.zeros(n, dtype=int)
        for k in range(max(2, low + 1), min(max_speakers or self.max_speakers, n // 4) + 1):
            labels = self._kmeans(embeddings, k)
            if not self._all_distinct(embeddings, labels, k):
                break
            best = labels
        return best

    def _kmeans(self, embeddings: np.ndarray, k: int) -> np.ndarray:
        from sklearn.cluster import KMeans

        labels = KMeans(k, n_init=10, random_state=0).fit_predict(embeddings)
        return _majority(labels, self.smooth)

    def _all_distinct(self, embeddings: np.ndarray, labels: np.ndarray, k: int) -> bool:
        if len(np.unique(labels)) < k:
            return False
        centroids = np.stack([embeddings[labels == j].mean(axis=0) for j in range(k)])
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
        cosine = centroids @ centroids.T
        long_runs = round(1.0 / self.step)
        stretches = np.bincount(
            [label for label, length in _runs(labels) if length >= long_runs], minlength=k
        )
        for a in range(k):
            for b in range(a + 1, k):
                returns = stretches[a] >= 2 and stretches[b] >= 2
                limit = self.returning if returns else self.distinct
                if cosine[a, b] >= limit:
                    return False
        return True

    def close(self) -> None:
        self._encoder = None  # type: ignore[assignment]


def speech_regions(wav: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) seconds of speech, by the Silero VAD shipped with faster-whisper."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=300, speech_pad_ms=100)
    stamps = get_speech_timestamps(wav, options, sampling_rate=SAMPLE_RATE)
    return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]


def _even_level(wav: np.ndarray, seconds: float = 1.6, dbfs: float = -30.0) -> np.ndarray:
    """The signal scaled to a steady RMS over ``seconds`` (at most 40 dB of gain)."""
    from scipy.ndimage import uniform_filter1d

    envelope = np.sqrt(uniform_filter1d(wav.astype(np.float64) ** 2, int(seconds * SAMPLE_RATE)))
    gain = np.minimum(10 ** (dbfs / 20) / np.maximum(envelope, 1e-9), 100.0)
    return (wav * gain).astype(np.float32)


def _runs(labels: np.ndarray) -> list[tuple[int, int]]:
    """(label, length) of each run of equal labels."""
    cuts = np.flatnonzero(np.diff(labels)) + 1
    return [(int(run[0]), len(run)) for run in np.split(labels, cuts)]


def _majority(labels: np.ndarray, width: int) -> np.ndarray:
    if width < 3 or len(labels) < width:
        return labels
    half = width // 2
    padded = np.pad(labels, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)
    return np.array([np.bincount(w).argmax() for w in windows])


def _turns(
    regions: list[tuple[float, float]], centers: np.ndarray, labels: np.ndarray
) -> list[Turn]:
    """Speech frames (10 ms) labelled by the nearest window centre, merged into turns;
    speakers named SPEAKER_00, SPEAKER_01, ... in order of first appearance."""
    names: dict[int, str] = {}
    turns: list[Turn] = []
    for start, end in regions:
        frames = np.arange(start, end, 0.01)
        nearest = labels[np.abs(centers[None, :] - frames[:, None] - 0.005).argmin(axis=1)]
        cuts = np.flatnonzero(np.diff(nearest)) + 1
        for run in np.split(np.arange(len(frames)), cuts):
            label = int(nearest[run[0]])
            speaker = names.setdefault(label, f"SPEAKER_{len(names):02d}")
            run_end = min(end, float(frames[run[-1]]) + 0.01)
            turns.append(Turn(round(float(frames[run[0]]), 3), round(run_end, 3), speaker))
    return turns
