"""Text and audio measures used by tests, benchmarks and the quality report."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# Scripts written without spaces between words: compare them character by character.
_NO_SPACES = {"ja", "zh"}
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def normalize_text(text: str, language: str | None = None) -> str:
    """Lower case, NFKC, punctuation dropped, spaces collapsed (dropped for ja/zh); Chinese
    in simplified characters, as Whisper writes either script for the same speech."""
    text = unicodedata.normalize("NFKC", text).lower()
    if language == "zh":
        text = _simplified(text)
    text = _PUNCT.sub(" ", text)
    text = " ".join(text.split())
    return text.replace(" ", "") if language in _NO_SPACES else text


def _simplified(text: str) -> str:
    from opencc_purepy import OpenCC

    return OpenCC("t2s").convert(text)


def edit_distance(a: str | list[str], b: str | list[str]) -> int:
    """Levenshtein distance between two strings or token lists."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def character_error_rate(reference: str, hypothesis: str, language: str | None = None) -> float:
    """Edits per reference character, after ``normalize_text`` on both."""
    ref = normalize_text(reference, language)
    hyp = normalize_text(hypothesis, language)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref = normalize_text(reference).split()
    hyp = normalize_text(hypothesis).split()
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)


def diarization_error_rate(
    reference: Sequence[tuple[float, float, str]],
    hypothesis: Sequence[tuple[float, float, str]],
    collar: float = 0.0,
    step: float = 0.01,
) -> dict[str, float]:
    """The standard DER: (missed + false alarm + speaker confusion) / reference speech time.

    Turns are (start, end, speaker). Hypothesis speakers are mapped one-to-one onto reference
    speakers so that their overlap is largest (Hungarian); overlapping speech counts once per
    speaker. Frames within ``collar`` seconds of a reference boundary are not scored.
    Returns the rate and its parts, in seconds.
    """
    from scipy.optimize import linear_sum_assignment

    end = max([t[1] for t in (*reference, *hypothesis)], default=0.0)
    n = int(np.ceil(end / step)) + 1
    ref, ref_names = _activity(reference, n, step)
    hyp, hyp_names = _activity(hypothesis, n, step)
    scored = np.ones(n, dtype=bool)
    if collar > 0:
        for edge in {t for start, stop, _ in reference for t in (start, stop)}:
            scored[max(0, round((edge - collar) / step)) : round((edge + collar) / step)] = False
    ref, hyp = ref[:, scored], hyp[:, scored]
    overlap = ref.astype(float) @ hyp.T.astype(float)
    rows, cols = linear_sum_assignment(-overlap) if overlap.size else ([], [])
    n_ref, n_hyp = ref.sum(axis=0), hyp.sum(axis=0)
    correct = np.zeros(ref.shape[1])
    for r, h in zip(rows, cols, strict=True):
        correct += ref[r] & hyp[h]
    missed = float(np.maximum(n_ref - n_hyp, 0).sum() * step)
    false_alarm = float(np.maximum(n_hyp - n_ref, 0).sum() * step)
    confusion = float((np.minimum(n_ref, n_hyp) - correct).sum() * step)
    total = float(n_ref.sum() * step)
    return {
        "der": (missed + false_alarm + confusion) / total if total else 0.0,
        "missed": missed,
        "false_alarm": false_alarm,
        "confusion": confusion,
        "total": total,
        "speakers_reference": len(ref_names),
        "speakers_hypothesis": len(hyp_names),
    }


def _activity(
    turns: Sequence[tuple[float, float, str]], n: int, step: float
) -> tuple[np.ndarray, list[str]]:
    names = sorted({t[2] for t in turns})
    active = np.zeros((len(names), n), dtype=bool)
    for start, stop, speaker in turns:
        active[names.index(speaker), round(start / step) : round(stop / step)] = True
    return active, names


def read_rttm(path: str | os.PathLike[str]) -> list[tuple[float, float, str]]:
    """(start, end, speaker) turns from an RTTM file's SPEAKER lines."""
    turns = []
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            start, duration = float(fields[3]), float(fields[4])
            turns.append((start, start + duration, fields[7]))
    return turns


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio, dB (Le Roux et al. 2019), over all
    channels; the two are cut to the shorter one."""
    n = min(estimate.shape[-1], reference.shape[-1])
    e = np.asarray(estimate, dtype=np.float64)[..., :n].ravel()
    r = np.asarray(reference, dtype=np.float64)[..., :n].ravel()
    target = (e @ r) / (r @ r) * r
    return float(10 * np.log10(np.sum(target**2) / max(np.sum((e - target) ** 2), 1e-20)))
