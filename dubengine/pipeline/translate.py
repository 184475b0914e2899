"""Stage 3, Translating: every line into the target language, within its length budget."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from .._progress import Progress
from .._types import Transcript
from ..protocols import Translator


def translate(
    transcript: Transcript,
    target_lang: str,
    translator: Translator | None,
    progress: Progress,
    warn: Callable[[str], None],
) -> Transcript:
    """``translator`` None: the lines carry their translations already (given by the user)."""
    if translator is None:
        return replace(transcript, target_language=target_lang)
    result = translator.translate(transcript, target_lang, progress)
    empty = [s.id for s in result.segments if not (s.translation or "").strip()]
    if not empty:
        return result
    warn(f"lines {empty} came back untranslated; they keep their text")
    segments = tuple(replace(s, translation=s.translation or s.text) for s in result.segments)
    return replace(result, segments=segments)
