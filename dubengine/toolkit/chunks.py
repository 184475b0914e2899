"""Running a separator over a long recording in overlapping chunks, so memory stays flat."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._progress import Progress, ProgressEvent, no_progress


def in_chunks(
    mixture: np.ndarray,
    chunk: int,
    overlap: int,
    separate: Callable[[np.ndarray], np.ndarray],
    progress: Progress = no_progress,
) -> np.ndarray:
    """``separate`` (channels, n) → (any channels, n) applied to pieces of ``chunk`` samples
    that overlap by ``overlap``, the overlaps cross-faded linearly."""
    if overlap <= 0 or chunk <= 2 * overlap:
        raise ValueError("a chunk must be longer than twice the overlap, and the overlap > 0")
    n = mixture.shape[1]
    out: np.ndarray | None = None
    starts = list(range(0, max(n - overlap, 1), chunk - overlap))
    for done, start in enumerate(starts, 1):
        piece = np.asarray(separate(mixture[:, start : start + chunk]), dtype=np.float32)
        if out is None:
            out = np.zeros((piece.shape[0], n), dtype=np.float32)
        if start > 0:  # fade this piece in over the previous one's tail
            fade = min(overlap, piece.shape[1])
            ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
            out[:, start : start + fade] *= 1.0 - ramp
            piece[:, :fade] *= ramp
        out[:, start : start + piece.shape[1]] += piece
        progress(ProgressEvent("separating", done, len(starts)))
    assert out is not None
    return out
