"""Time spans (start, end) in seconds: what is left of some once others are taken out."""

from __future__ import annotations

from collections.abc import Iterable

Span = tuple[float, float]


def subtract(spans: Iterable[Span], holes: Iterable[Span], shortest: float = 0.0) -> list[Span]:
    """The parts of ``spans`` outside every hole, each longer than ``shortest``."""
    holes = list(holes)
    left: list[Span] = []
    for span in spans:
        pieces = [span]
        for start, end in holes:
            pieces = [cut for a, b in pieces for cut in ((a, min(b, start)), (max(a, end), b))
                      if cut[1] - cut[0] > 0]  # fmt: skip
        left += [p for p in pieces if p[1] - p[0] > shortest]
    return left
