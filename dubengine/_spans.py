"""Time spans (start, end): what is left of some once others are taken out, and near ones
joined."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

Span = tuple[float, float]
N = TypeVar("N", int, float)  # seconds, or sample positions


def subtract(spans: Iterable[Span], holes: Iterable[Span], shortest: float = 0.0) -> list[Span]:
    """The parts of ``spans`` outside every hole, each longer than ``shortest``."""
    holes = list(holes)
    left: list[Span] = []
    for span in spans:
        pieces = [span]
        for start, end in holes:
            pieces = [
                cut
                for a, b in pieces
                for cut in ((a, min(b, start)), (max(a, end), b))
                if cut[1] - cut[0] > 0
            ]
        left += [p for p in pieces if p[1] - p[0] > shortest]
    return left


def joined(spans: Iterable[tuple[N, N]], gap: N) -> list[tuple[N, N]]:
    """The spans in order, those closer than ``gap`` (or overlapping) as one."""
    together: list[tuple[N, N]] = []
    for a, b in sorted(spans):
        if together and a - together[-1][1] < gap:
            together[-1] = (together[-1][0], max(b, together[-1][1]))
        else:
            together.append((a, b))
    return together
