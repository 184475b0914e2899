"""Text and audio measures used by tests, benchmarks and the quality report."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Scripts written without spaces between words: compare them character by character.
_NO_SPACES = {"ja", "zh"}
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def normalize_text(text: str, language: str | None = None) -> str:
    """Lower case, NFKC, punctuation dropped, spaces collapsed (dropped for ja/zh); Chinese
    in simplified characters and Russian ё as е, as Whisper writes either for the same
    speech."""
    text = unicodedata.normalize("NFKC", text).lower()
    if language == "zh":
        text = _simplified(text)
    if language == "ru":  # Whisper writes ё as е as often as not
        text = text.replace("ё", "е")
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
) -> dict[str, float]:
    """The standard DER, by ``pyannote.metrics``: (missed + false alarm + speaker confusion)
    / reference speech time, overlap scored (each speaker counts), hypothesis speakers
    mapped one-to-one onto reference speakers. Turns are (start, end, speaker); boundaries
    are not scored within ``collar`` seconds either side. Returns the rate and its parts, in
    seconds, and both speaker counts."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate(collar=2 * collar, skip_overlap=False)
    ref, hyp = annotation(reference), annotation(hypothesis)
    uem = _extent(reference, hypothesis)
    parts = metric(ref, hyp, detailed=True, uem=uem)
    return {
        "der": float(parts["diarization error rate"]),
        "missed": float(parts["missed detection"]),
        "false_alarm": float(parts["false alarm"]),
        "confusion": float(parts["confusion"]),
        "total": float(parts["total"]),
        "speakers_reference": len(ref.labels()),
        "speakers_hypothesis": len(hyp.labels()),
    }


def annotation(turns: Sequence[tuple[float, float, str]]) -> Any:
    """(start, end, speaker) turns as a pyannote.core Annotation."""
    from pyannote.core import Annotation, Segment

    annotation = Annotation()
    for i, (start, end, speaker) in enumerate(turns):
        if end > start:
            annotation[Segment(start, end), i] = speaker
    return annotation


def _extent(*turn_lists: Sequence[tuple[float, float, str]]) -> Any:
    """The scored region: from 0 to the last turn's end of either side."""
    from pyannote.core import Segment, Timeline

    end = max((t[1] for turns in turn_lists for t in turns), default=0.0)
    return Timeline([Segment(0.0, max(end, 1e-3))])


def read_rttm(
    path: str | os.PathLike[str], uri: str | None = None
) -> list[tuple[float, float, str]]:
    """(start, end, speaker) turns from an RTTM file's SPEAKER lines (of one ``uri`` if given:
    an RTTM file may hold several recordings)."""
    turns = []
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER" and uri in (None, fields[1]):
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
