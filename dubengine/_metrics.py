"""Text and audio measures used by tests, benchmarks and the quality report."""

from __future__ import annotations

import re
import unicodedata

# Scripts written without spaces between words: compare them character by character.
_NO_SPACES = {"ja", "zh"}
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def normalize_text(text: str, language: str | None = None) -> str:
    """Lower case, NFKC, punctuation dropped, spaces collapsed (dropped for ja/zh)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _PUNCT.sub(" ", text)
    text = " ".join(text.split())
    return text.replace(" ", "") if language in _NO_SPACES else text


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
