"""A render of an edited dub: the stale lines spoken and fitted again (through the clip
cache), the dub track rebuilt, and the mix changed only where the dub track or the speech
gate changed, spliced into the last mix with short cross-fades; so everywhere else the new
output's samples are the old ones. The dub keeps the gain its first mix gave it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._options import AlignOptions
from .._progress import Progress, ProgressEvent, no_progress
from .._spans import joined
from .._types import DEFAULT_SPEAKER, OVERFLOW_SEC, PlacedLine
from ..media import Audio, MediaInfo, probe, write_output
from ..pipeline.align import align
from ..pipeline.clips import ClipCache, cached_speech, voice_keys
from ..pipeline.mix import GATE_MARGIN_SEC, MIX_RATE, gate_stems, mix, place, speech_gate
from ..pipeline.synthesize import speaker_of
from .project import Project, load_voices, placed_key, spans_of

CROSSFADE_SEC = 0.01
LOOKAHEAD_SEC = 0.006  # the limiter lowers the gain this long before a peak


@dataclass(frozen=True, slots=True)
class Rendered:
    """What a render did."""

    output: Path
    spoken: tuple[int, ...]  # lines spoken and fitted again
    synthesized: int  # synthesizer calls (the rest came from the clip cache)
    changed: tuple[tuple[float, float], ...]  # seconds of the output mixed again
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "spoken": list(self.spoken),
            "synthesized": self.synthesized,
            "changed": [list(s) for s in self.changed],
            "seconds": round(self.seconds, 3),
        }


def render(
    project: Project,
    folder: Path,
    synthesizer: Callable[[], Any],
    align_options: AlignOptions | None = None,
    progress: Progress = no_progress,
) -> Rendered:
    """Renders ``project`` (changed in place: fits, clips, stale flags) from ``folder``; the
    synthesizer is made only if a line must be spoken."""
    started = time.perf_counter()
    cache = ClipCache(folder / "clips")
    stale = {line.segment.id for line in project.lines if line.stale}
    if stale:
        _refit(
            project, folder, cache, synthesizer(), align_options or AlignOptions(), stale, progress
        )
    progress(ProgressEvent("mixing", 0, 1))
    placed = [PlacedLine(line.fit, cache.get(line.clip)) for line in project.lines]  # type: ignore[arg-type]
    track = place(placed, project.duration, MIX_RATE)
    old_track = np.load(folder / "dub.npy")
    changed = _changed(old_track, track, project)
    mixed = _mix(project, folder, track)
    old = np.load(folder / "mix.npy")
    samples = splice(old, mixed, changed)
    output = folder.parent / project.output
    write_output(Audio(samples, MIX_RATE), _picture_source(folder / project.input, output), output)
    _save(folder / "mix.npy", samples)
    _save(folder / "dub.npy", track)
    project.mixed_spans = spans_of(project.segments)
    progress(ProgressEvent("mixing", 1, 1))
    spans = tuple((round(a / MIX_RATE, 3), round(b / MIX_RATE, 3)) for a, b in changed)
    return Rendered(
        output, tuple(sorted(stale)), cache.misses, spans, time.perf_counter() - started
    )


def _picture_source(original: Path, output: Path) -> MediaInfo:
    """Where the output's picture comes from: for a video, the last output (its H.264 is
    copied as is, where the original's might have to be encoded again); else the input."""
    info = probe(original)
    if info.is_video and output.is_file():
        return probe(output)
    return info


def _refit(
    project: Project,
    folder: Path,
    cache: ClipCache,
    synthesizer: Any,
    options: AlignOptions,
    stale: set[int],
    progress: Progress,
) -> None:
    language = project.target_language
    voices = load_voices(folder, project.speakers)
    keys = voice_keys(voices, project.synthesizer, language)
    speak_for = cached_speech(cache, speaker_of(lambda: synthesizer, language, voices), keys)
    segments = project.segments
    natural = {}
    for done, i in enumerate(sorted(stale), 1):
        natural[i] = speak_for(segments[i])(segments[i].translation or "", 1.0)
        progress(ProgressEvent("synthesizing", done, len(stale)))
    # Edited lines are spoken as the user wrote them: never shortened.
    for placed in align(
        segments, natural, speak_for, None, project.duration, project.lag, options, only=stale
    ):
        line = project.lines[placed.fit.id]
        voice = keys[line.segment.speaker or DEFAULT_SPEAKER]
        line.fit, line.stale = placed.fit, False
        line.clip = cache.put(placed_key(voice, placed.fit), placed.audio)
        line.warnings = (
            []
            if placed.fit.overflow <= OVERFLOW_SEC
            else [
                f"line {line.segment.id} runs {placed.fit.overflow:.2f} s past its window even at "
                f"{options.max_speed}x: shorten its translation"
            ]
        )


def _changed(old: np.ndarray, new: np.ndarray, project: Project) -> list[tuple[int, int]]:
    """Sample spans where the mix must change: the dub track or the speech gate differs."""
    differs = old != new
    now = spans_of(project.segments)
    if project.mixed_spans != now:
        n = len(new)
        before = speech_gate(project.mixed_spans, n, MIX_RATE, GATE_MARGIN_SEC)
        differs |= before != speech_gate(now, n, MIX_RATE, GATE_MARGIN_SEC)
    return _runs(differs, pad=round(LOOKAHEAD_SEC * MIX_RATE))


def _runs(mask: np.ndarray, pad: int) -> list[tuple[int, int]]:
    """[start, end) of each run of True, widened by ``pad``, overlapping runs joined."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    runs = [
        (max(0, int(a) - pad), min(len(mask), int(b) + pad))
        for a, b in zip(edges[::2], edges[1::2], strict=True)
    ]
    return joined(runs, gap=1)


def _mix(project: Project, folder: Path, track: np.ndarray) -> np.ndarray:
    speech = Audio(np.load(folder / "speech.npy"), MIX_RATE)
    background_file = folder / "background.npy"
    background = Audio(np.load(background_file), MIX_RATE) if background_file.is_file() else None
    speech, background = gate_stems(project.transcript(), speech, background)
    mixed, _ = mix(
        track,
        reference_speech=speech,
        background=background,
        original=speech,
        original_volume=project.original_volume,
        gain_db=project.gain_db,
    )
    return mixed.samples


def splice(old: np.ndarray, new: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """``old`` with ``new`` inside each span, cross-faded over CROSSFADE_SEC just outside it;
    elsewhere exactly ``old``."""
    out = old.copy()
    fade = max(1, round(CROSSFADE_SEC * MIX_RATE))
    rise = np.linspace(0, 1, fade + 2, dtype=np.float32)[1:-1]
    n = out.shape[-1]
    for a, b in joined(spans, 2 * fade):
        out[..., a:b] = new[..., a:b]
        lo, hi = max(0, a - fade), min(n, b + fade)
        for at, w in ((lo, rise[fade - (a - lo) :]), (b, rise[::-1][: hi - b])):
            if len(w):
                part = slice(at, at + len(w))
                was, now = old[..., part], new[..., part]
                # where the two agree, exactly the old samples (a blend would round them)
                out[..., part] = np.where(was == now, was, was * (1 - w) + now * w)
    return out


def _save(path: Path, samples: np.ndarray) -> None:
    tmp = path.with_name(f".{path.stem}.partial.npy")
    np.save(tmp, samples)
    os.replace(tmp, path)
