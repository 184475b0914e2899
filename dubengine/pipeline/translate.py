"""Stage 4, Translating: every line into the target language, within a length budget at the
pace its speaker's voice speaks (measured in stage 3)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from .._guards import MARK, clip, collapse_loops, translation_problem
from .._progress import Progress
from .._types import Transcript
from ..protocols import Translator
from ..toolkit.budget import Paces


def translate(
    transcript: Transcript,
    target_lang: str,
    translator: Translator | None,
    progress: Progress,
    warn: Callable[[str], None],
    paces: Paces | None = None,
) -> Transcript:
    """``translator`` None: the lines carry their translations already (given by the user).
    ``paces``: each speaker's voice's pace, for the length budgets."""
    if translator is None:
        return replace(transcript, target_language=target_lang)
    translated = translator.translate(transcript, target_lang, progress, paces=paces)
    result = guarded(translated, translator, warn, paces)
    empty = [s.id for s in result.segments if not (s.translation or "").strip()]
    if not empty:
        return result
    warn(f"lines {empty} came back untranslated; they keep their text")
    segments = tuple(replace(s, translation=s.translation or s.text) for s in result.segments)
    return replace(result, segments=segments)


def guarded(
    result: Transcript,
    translator: Translator,
    warn: Callable[[str], None],
    paces: Paces | None = None,
) -> Transcript:
    """A translation that repeats what its source does not, or is far longer or shorter
    than its source, is asked for again with the line alone (its neighbours, the context
    that can lead a small model astray, left out); if that fails too, the loops are said
    once and the line is kept. Each one is a warning."""
    source, target = result.language, result.target_language or ""
    segments = list(result.segments)
    for i, line in enumerate(segments):
        problem = translation_problem(line.text, line.translation or "", source, target)
        if problem is None:
            continue
        alone = replace(result, segments=(replace(line, translation=None),))
        retried = translator.translate(alone, target, paces=paces).segments[0].translation or ""
        where = (
            f"{MARK} line {line.id} {clip(line.text)!r}: the translation "
            f"{clip(line.translation or '')!r} {problem}"
        )
        if retried.strip() and translation_problem(line.text, retried, source, target) is None:
            warn(f"{where}; asked again alone: {clip(retried)!r}")
            segments[i] = replace(line, translation=retried)
        else:
            kept = collapse_loops(line.translation or "", target)
            warn(f"{where}; asked again, no better; kept as {clip(kept)!r}")
            segments[i] = replace(line, translation=kept)
    return replace(result, segments=tuple(segments))
