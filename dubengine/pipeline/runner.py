"""The runner: the seven stages in order over one transcript.

Each stage is a module here with a typed input and output; ``Pipeline.run`` makes the seven
calls and passes what each returns to the next. Every stage's wall time, peak memory, model
load and inference time land in the result; models come from one pool, each released after
the last stage that uses it (unless kept warm for the next job).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .._errors import BackendError
from .._measure import measured
from .._options import DubOptions, PipelineConfig
from .._progress import (
    ALIGNING,
    MATCHING,
    MIXING,
    SEPARATING,
    SYNTHESIZING,
    TRANSCRIBING,
    TRANSLATING,
    Progress,
    ProgressEvent,
    Stage,
    no_progress,
)
from .._types import (
    LineFit,
    MixReport,
    PlacedLine,
    Segment,
    Speak,
    StageReport,
    Transcript,
    Voice,
    VoiceReport,
)
from ..given import GivenLines
from ..media import Audio, MediaInfo
from .align import Shorten, align
from .clips import ClipCache, cached_speech, voice_keys
from .mix import Mixed, mix_dub
from .pool import ModelPool
from .separate import Separated, separate, set_aside, without_original
from .synthesize import speaker_of, synthesize, synthesizer_for, voice_paces
from .transcribe import Transcribed, transcribe
from .translate import translate
from .voices import match_voices

T = TypeVar("T")
QUALITY = "quality"  # after the seven stages, when the dub is measured
# Speaker similarity in the quality report is measured by these too, so readers can compare.
COMPARED_EMBEDDERS = ("campp", "resemblyzer")


@dataclass(frozen=True, slots=True)
class DubArtifacts:
    """What a run leaves for a re-render after edits (the caller keeps what it wants)."""

    speech: Audio  # the separated speech stem, at the mix's rate
    background: Audio | None
    voices: dict[str, Voice]
    placed: tuple[PlacedLine, ...]
    mixed: Audio  # the mix before encoding
    dub_track: np.ndarray
    gain_db: float  # the dub's gain in the mix, kept so a re-render matches it
    synthesizer: str  # "name:options", part of every cached clip's key
    voices_available: tuple[str, ...]  # what an edit may give a speaker


@dataclass(frozen=True, slots=True)
class PipelineResult:
    transcript: Transcript
    fits: tuple[LineFit, ...]
    stages: tuple[StageReport, ...]
    mix: MixReport
    voices: dict[str, VoiceReport]
    warnings: tuple[str, ...]
    output: Path
    artifacts: DubArtifacts
    quality: Any = None  # a QualityReport when measured
    files: dict[str, Path] = field(default_factory=dict)  # stems, timeline


class _Clock:
    """Runs one stage: its progress from 0 to 1, its report, the models it leaves behind."""

    def __init__(self, models: ModelPool, progress: Progress) -> None:
        self.models = models
        self.progress = progress
        self.reports: list[StageReport] = []

    def __call__(self, stage: Stage, work: Callable[[Progress], T]) -> T:
        self.progress(ProgressEvent(stage.key, 0, 1))
        self.models.take_times()
        with measured() as m:
            result = work(self._hook(stage))
            self.models.release_after(stage.key)
        load, inference, backends = self.models.take_times()
        self.reports.append(
            StageReport(
                stage.key,
                stage.name,
                round(m.seconds, 3),
                m.peak_rss_mb,
                round(load, 3),
                round(inference, 3),
                backends,
            )
        )
        self.progress(ProgressEvent(stage.key, 1, 1))
        return result

    def _hook(self, stage: Stage) -> Progress:
        def hook(event: ProgressEvent) -> None:
            if event.total:
                self.progress(ProgressEvent(stage.key, event.completed, event.total))

        return hook


class Pipeline:
    """Runs the seven stages for one input; reusable across jobs (models stay warm if asked)."""

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = config or PipelineConfig()
        self.models = ModelPool(self.config)

    def close(self) -> None:
        self.models.close()

    def run(
        self,
        info: MediaInfo,
        options: DubOptions,
        out_path: str | os.PathLike[str],
        progress: Progress = no_progress,
        quality: bool = False,
        stems: bool = False,
        given: GivenLines | None = None,
        clips: ClipCache | None = None,
    ) -> PipelineResult:
        """Dubs one input. ``stems`` also writes the dubbed speech (as mixed) and the
        background as float WAVs beside the output, for editing the mix elsewhere.
        ``given``: lines the user already has (subtitles, an earlier dub's transcript):
        not transcribed, and not translated when they carry their translations.
        ``clips``: every line spoken through this cache (an editable dub's, so a re-render
        speaks again only what changed); what a re-render needs is in ``artifacts``."""
        options.validate()
        self._check_models(options.target_lang)
        measure = quality or self.config.quality
        self.models.plan(self._last_use(measure))
        clock, warnings = _Clock(self.models, progress), []
        try:
            transcript, artifacts, mixed = self._stages(
                info, options, Path(out_path), clock, warnings.append, stems, given, clips
            )
            voices = {name: VoiceReport.of(voice) for name, voice in artifacts.voices.items()}
            report = None
            if measure:
                report = self._quality(
                    transcript, artifacts.placed, voices, mixed, options, warnings
                )
                warnings += [g for g in report.guards if g not in warnings]  # heard back
        finally:
            if not self.config.keep_models_warm:
                self.models.close()
        files = dict(mixed.stems)
        if report is not None:
            files["timeline_png"] = Path(report.timeline_png)
        return PipelineResult(
            transcript=transcript,
            fits=tuple(p.fit for p in artifacts.placed),
            stages=tuple(clock.reports),
            mix=mixed.report,
            voices=voices,
            warnings=tuple(warnings),
            output=mixed.output,
            artifacts=artifacts,
            quality=report,
            files=files,
        )

    def _check_models(self, target_lang: str) -> None:
        """Every backend named is known and installed, before any model loads."""
        config = self.config
        self.models.check(
            {
                "separator": config.separator,
                "transcriber": config.transcriber,
                "diarizer": config.diarizer,
                "voice_matcher": config.voice_matcher,
                "translator": config.translator,
                "embedder": config.embedder,
                "synthesizer": self._synthesizer_name(target_lang),
            }
        )

    def _stages(
        self,
        info: MediaInfo,
        options: DubOptions,
        out_path: Path,
        clock: _Clock,
        warn: Callable[[str], None],
        stems: bool,
        given: GivenLines | None,
        clips: ClipCache | None,
    ) -> tuple[Transcript, DubArtifacts, Mixed]:
        config, target = self.config, options.target_lang
        separated, heard = self._hear(info, options, clock, warn, given)
        fixed = given is not None and given.translated  # spoken exactly as given
        voices, paces = clock(
            MATCHING, lambda hook: self._match(heard, options, clips, budgeted=not fixed)
        )
        # Not held while the translator (the largest model) runs; loaded again to speak.
        self.models.release("synthesizer")
        transcript = clock(
            TRANSLATING,
            lambda hook: translate(
                heard.transcript,
                target,
                None if fixed else self._get("translator", config.translator),
                hook,
                warn,
                paces,
            ),
        )
        natural, speak_for = clock(
            SYNTHESIZING, lambda hook: self._synthesize(transcript, voices, target, clips, hook)
        )
        # what an edit may give a speaker (another's clone too), asked while it is loaded
        cloned = tuple(v.name for v in voices.values() if v.reference is not None)
        available = cloned + tuple(getattr(self._synthesizer(target), "voices", tuple)())
        placed = clock(
            ALIGNING,
            lambda hook: self._align(
                transcript, natural, speak_for, options, info.duration, hook, warn, fixed
            ),
        )
        mixed = clock(
            MIXING,
            lambda hook: self._mix(
                placed, transcript, separated, info, options, out_path, hook, stems
            ),
        )
        artifacts = DubArtifacts(
            speech=separated.speech,
            background=separated.background,
            voices=voices,
            placed=tuple(placed),
            mixed=mixed.mixed,
            dub_track=mixed.dub_track,
            gain_db=mixed.report.gain_db,
            synthesizer=self._synthesizer_id(target),
            voices_available=available,
        )
        return transcript, artifacts, mixed

    def _mix(
        self,
        placed: list[PlacedLine],
        transcript: Transcript,
        separated: Separated,
        info: MediaInfo,
        options: DubOptions,
        out_path: Path,
        hook: Progress,
        stems: bool,
    ) -> Mixed:
        return mix_dub(
            placed,
            transcript,
            separated.speech,
            separated.background,
            info,
            options.original_speech_volume,
            out_path,
            hook,
            stems,
        )

    def _hear(
        self,
        info: MediaInfo,
        options: DubOptions,
        clock: _Clock,
        warn: Callable[[str], None],
        given: GivenLines | None,
    ) -> tuple[Separated, Transcribed]:
        """Separating and Transcribing (or the given lines, diarized if they name nobody)."""
        config = self.config
        separator = self._optional("separator", config.separator)
        separated = clock(
            SEPARATING, lambda hook: set_aside(separate(info, separator(), hook, warn))
        )
        heard = clock(
            TRANSCRIBING,
            lambda hook: transcribe(
                separated,
                options.source_lang,
                None if given else self._get("transcriber", config.transcriber),
                None
                if given and given.has_speakers
                else self._optional("diarizer", config.diarizer)(),
                config.num_speakers,
                hook,
                given.transcript if given else None,
                warn,
            ),
        )
        return without_original(separated), heard

    def _match(
        self, heard: Transcribed, options: DubOptions, clips: ClipCache | None, budgeted: bool
    ) -> tuple[dict, dict[str, float] | None]:
        """Each speaker's voice, and each voice's pace (characters a second, for the
        translator's length budgets) unless nothing is translated."""
        target = options.target_lang
        voices = match_voices(
            heard.transcript,
            heard.speech_16k,
            target,
            self._synthesizer(target),
            self._optional("voice_matcher", self.config.voice_matcher),
            options.reduce_accent,
        )
        if not budgeted:
            return voices, None
        return voices, voice_paces(self._speak_for(voices, target, clips), voices, target)

    def _synthesize(
        self,
        transcript: Transcript,
        voices: dict,
        target: str,
        clips: ClipCache | None,
        progress: Progress,
    ) -> tuple[dict, Callable[[Segment], Speak]]:
        """Every line at its voice's natural pace, and how each is spoken (the synthesizer
        loaded again here, so its time counts in this stage)."""
        speak_for = self._speak_for(voices, target, clips)
        return synthesize(transcript, speak_for, progress), speak_for

    def _speak_for(
        self, voices: dict, target: str, clips: ClipCache | None
    ) -> Callable[[Segment], Speak]:
        """How each line's speaker says a text; through the clip cache when given."""
        speak_for = speaker_of(lambda: self._synthesizer(target), target, voices)
        if clips is None:
            return speak_for
        keys = voice_keys(voices, self._synthesizer_id(target), target)
        return cached_speech(clips, speak_for, keys)

    def _align(
        self,
        transcript: Transcript,
        natural: dict,
        speak_for: Callable,
        options: DubOptions,
        duration: float,
        progress: Progress,
        warn: Callable[[str], None],
        fixed: bool,
    ) -> list[PlacedLine]:
        placed = align(
            transcript.segments,
            natural,
            speak_for,
            shorten=None if fixed else self._shorten(transcript.language, options.target_lang),
            duration=duration,
            lag=options.translation_lag_time,
            options=self.config.align,
            progress=progress,
        )
        overflowing = [p.fit.id for p in placed if p.fit.overflow > 0]
        if overflowing:
            warn(
                f"lines {overflowing} could not be fitted even shortened and at "
                f"{self.config.align.max_speed}x; they overlap what follows"
            )
        return placed

    def _quality(
        self,
        transcript: Transcript,
        placed: tuple[PlacedLine, ...],
        voices: dict[str, VoiceReport],
        mixed: Mixed,
        options: DubOptions,
        warnings: list[str],
    ) -> Any:
        from ..quality import quality_report

        embedders: dict[str, Any] = {}
        for name in dict.fromkeys((self.config.embedder, *COMPARED_EMBEDDERS)):
            try:
                embedders[name] = self._get("embedder", name)
            except BackendError as exc:
                warnings.append(
                    f"no {name} speaker similarity in the quality report: {exc.message}"
                )
        embedder = embedders.get(self.config.embedder)
        return quality_report(
            transcript,
            placed,
            mixed.dub_track,
            mixed.mixed.sample_rate,
            mixed.speech,
            options.translation_lag_time,
            self._get("transcriber", self.config.transcriber),
            embedder,
            mixed.output.with_name(mixed.output.stem + ".timeline.png"),
            background=mixed.background,
            mixed=mixed.mixed,
            embedders=embedders,
            warnings=warnings,
            voices=voices,
        )

    def _last_use(self, quality: bool) -> dict[str, str]:
        """role → the last stage that needs it: each model is loaded once per run."""
        return {
            "separator": SEPARATING.key,
            "transcriber": QUALITY if quality else TRANSCRIBING.key,
            "diarizer": TRANSCRIBING.key,
            "translator": ALIGNING.key,  # it shortens the lines that do not fit
            "voice_matcher": MATCHING.key,
            "embedder": QUALITY if quality else MATCHING.key,
            "synthesizer": ALIGNING.key,
        }

    def _get(self, role: str, name: str) -> Any:
        return self.models.get(role, name)

    def _optional(self, role: str, name: str | None) -> Callable[[], Any]:
        """The backend, made when called (so its load counts in its stage); None if unset."""
        return lambda: self.models.get(role, name) if name else None

    def _synthesizer_name(self, language: str) -> str:
        return self.config.synthesizer or synthesizer_for(language)

    def _synthesizer(self, language: str) -> Any:
        return self.models.get("synthesizer", self._synthesizer_name(language))

    def _synthesizer_id(self, language: str) -> str:
        """The synthesizer and its options, as part of every cached clip's key."""
        name = self._synthesizer_name(language)
        options = json.dumps(
            self.config.options_for("synthesizer", name), sort_keys=True, default=str
        )
        return f"{name}:{options}"

    def _shorten(self, source: str, target: str) -> Shorten:
        def shorten(segments: Sequence[Segment], max_chars: Sequence[int]) -> list[str]:
            # as while translating, the synthesizer is not held while the translator runs
            self.models.release("synthesizer")
            translator = self.models.get("translator", self.config.translator)
            return translator.shorten(segments, source, target, max_chars)

        return shorten
