"""The seven stages, run in order over one transcript.

Each stage is a module here with a typed input and output; ``Pipeline.run`` makes the seven
calls and passes what each returns to the next. Every stage's wall time, peak memory, model
load and inference time land in the result; models come from one pool, each released after
the last stage that uses it (unless kept warm for the next job).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from .._budget import PACE_KEY
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
    VoiceReport,
)
from ..given import GivenLines
from ..media import MediaInfo
from .align import Shorten, align
from .mix import Mixed, mix_dub
from .models import ModelPool
from .separate import separate
from .synthesize import speaker_of, synthesize, synthesizer_for, voice_paces
from .transcribe import Transcribed, transcribe
from .translate import translate
from .voices import match_voices

__all__ = ["ModelPool", "Pipeline", "PipelineResult"]

T = TypeVar("T")
QUALITY = "quality"  # after the seven stages, when the dub is measured
# Speaker similarity in the quality report is measured by these too, so readers can compare.
COMPARED_EMBEDDERS = ("campp", "resemblyzer")


@dataclass(frozen=True, slots=True)
class PipelineResult:
    transcript: Transcript
    fits: tuple[LineFit, ...]
    stages: tuple[StageReport, ...]
    mix: MixReport
    voices: dict[str, VoiceReport]
    warnings: tuple[str, ...]
    output: Path
    quality: Any = None  # a QualityReport when measured
    files: dict[str, Path] = field(default_factory=dict)  # stems, timeline


def _project_folder(output: Path) -> Path:
    from ..editing.project import project_folder  # editing builds on the pipeline's stages

    return project_folder(output)


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
            StageReport(stage.key, stage.name, round(m.seconds, 3), m.peak_rss_mb, round(load, 3),
                        round(inference, 3), backends)
        )  # fmt: skip
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
        editable: bool = False,
    ) -> PipelineResult:
        """Dubs one input. ``stems`` also writes the dubbed speech (as mixed) and the
        background as float WAVs beside the output, for editing the mix elsewhere.
        ``given``: lines the user already has (subtitles, an earlier dub's transcript):
        not transcribed, and not translated when they carry their translations.
        ``editable``: also keep what a re-render after edits needs, in the folder
        ``<output stem>.edit`` beside the output (``dubengine.editing``)."""
        options.validate()
        config = self.config
        self.models.check({
            "separator": config.separator, "transcriber": config.transcriber,
            "diarizer": config.diarizer, "voice_matcher": config.voice_matcher,
            "translator": config.translator, "embedder": config.embedder,
            "synthesizer": self._synthesizer_name(options.target_lang),
        })  # fmt: skip
        measure = quality or self.config.quality
        self.models.plan(self._last_use(measure))
        clock, warnings = _Clock(self.models, progress), []
        try:
            project = _project_folder(Path(out_path)) if editable else None
            transcript, voices, placed, mixed = self._stages(
                info, options, Path(out_path), clock, warnings.append, stems, given, project
            )
            report = None
            if measure:
                report = self._quality(transcript, placed, mixed, options, warnings)
                warnings += [g for g in report.guards if g not in warnings]  # heard back
        finally:
            if not self.config.keep_models_warm:
                self.models.close()
        files = dict(mixed.stems)
        if project is not None:
            files["project_dir"] = project
        if report is not None:
            files["timeline_png"] = Path(report.timeline_png)
        return PipelineResult(
            transcript=transcript,
            fits=tuple(p.fit for p in placed),
            stages=tuple(clock.reports),
            mix=mixed.report,
            voices={speaker: VoiceReport.of(voice) for speaker, voice in voices.items()},
            warnings=tuple(warnings),
            output=mixed.output,
            quality=report,
            files=files,
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
        project: Path | None,
    ) -> tuple[Transcript, dict, list[PlacedLine], Mixed]:
        config, target = self.config, options.target_lang
        separator = self._optional("separator", config.separator)
        separated = clock(SEPARATING, lambda hook: separate(info, separator(), hook, warn))
        heard = clock(TRANSCRIBING, lambda hook: transcribe(
            separated, options.source_lang,
            None if given else self._get("transcriber", config.transcriber),
            None if given and given.has_speakers else self._optional("diarizer", config.diarizer)(),
            config.num_speakers, hook, given.transcript if given else None, warn,
        ))  # fmt: skip
        fixed = given is not None and given.translated  # spoken exactly as given
        voices, paced = clock(MATCHING, lambda hook: self._match(
            heard, options, project, budgeted=not fixed,
        ))  # fmt: skip
        # Not held while the translator (the largest model) runs; loaded again to speak.
        self.models.release("synthesizer")
        transcript = clock(TRANSLATING, lambda hook: translate(
            paced, target, None if fixed else self._get("translator", config.translator), hook,
            warn,
        ))  # fmt: skip
        natural, speak_for = clock(SYNTHESIZING, lambda hook: self._synthesize(
            transcript, voices, target, project, hook))  # fmt: skip
        # an edited dub may give a speaker any of these; asked while the synthesizer is loaded
        available = list(getattr(self._synthesizer(target), "voices", list)()) if project else []
        placed = clock(ALIGNING, lambda hook: self._align(
            transcript, natural, speak_for, options, info.duration, hook, warn, fixed
        ))  # fmt: skip
        mixed = clock(MIXING, lambda hook: mix_dub(
            placed, transcript, separated.speech, separated.background, info,
            options.original_speech_volume, out_path, hook, stems,
        ))  # fmt: skip
        if project is not None:
            from ..editing.project import save_project

            save_project(
                project, input_path=info.path, output=mixed.output, transcript=transcript,
                voices=voices, placed=placed, speech=separated.speech,
                background=separated.background, mixed=mixed.mixed, dub_track=mixed.dub_track,
                gain_db=mixed.report.gain_db, synthesizer=self._synthesizer_id(target),
                voices_available=available,
                options=options, duration=info.duration,
            )  # fmt: skip
        return transcript, voices, placed, mixed

    def _match(
        self, heard: Transcribed, options: DubOptions, project: Path | None, budgeted: bool
    ) -> tuple[dict, Transcript]:
        """Each speaker's voice, and the transcript with each voice's pace measured (for the
        translator's length budgets) unless nothing is translated."""
        target, transcript = options.target_lang, heard.transcript
        voices = match_voices(
            transcript, heard.speech_16k, target, self._synthesizer(target),
            self._optional("voice_matcher", self.config.voice_matcher), options.reduce_accent,
        )  # fmt: skip
        if budgeted:
            paces = voice_paces(self._speak_for(voices, target, project), voices, target)
            transcript = replace(transcript, metadata={**transcript.metadata, PACE_KEY: paces})
        return voices, transcript

    def _synthesize(
        self, transcript: Transcript, voices: dict, target: str, project: Path | None,
        progress: Progress,
    ) -> tuple[dict, Callable[[Segment], Speak]]:  # fmt: skip
        """Every line at its voice's natural pace, and how each is spoken (the synthesizer
        loaded again here, so its time counts in this stage)."""
        speak_for = self._speak_for(voices, target, project)
        return synthesize(transcript, speak_for, progress), speak_for

    def _speak_for(
        self, voices: dict, target: str, project: Path | None
    ) -> Callable[[Segment], Speak]:
        """How each line's speaker says a text; through the clip cache of an editable dub."""
        speak_for = speaker_of(lambda: self._synthesizer(target), target, voices)
        if project is None:
            return speak_for
        from ..editing.clips import ClipCache
        from ..editing.project import cached_speech, voice_keys

        keys = voice_keys(voices, self._synthesizer_id(target), target)
        return cached_speech(ClipCache(project / "clips"), speak_for, keys)

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
            transcript.segments, natural, speak_for,
            shorten=None if fixed else self._shorten(transcript.language, options.target_lang),
            duration=duration, lag=options.translation_lag_time, options=self.config.align,
            progress=progress,
        )  # fmt: skip
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
        placed: list[PlacedLine],
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
            transcript, placed, mixed.dub_track, mixed.mixed.sample_rate, mixed.speech,
            options.translation_lag_time, self._get("transcriber", self.config.transcriber),
            embedder, mixed.output.with_name(mixed.output.stem + ".timeline.png"),
            background=mixed.background, mixed=mixed.mixed, embedders=embedders,
            warnings=warnings,
        )  # fmt: skip

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
        options = json.dumps(self.config.options_for("synthesizer", name), sort_keys=True,
                             default=str)  # fmt: skip
        return f"{name}:{options}"

    def _shorten(self, source: str, target: str) -> Shorten:
        def shorten(segments: Sequence[Segment], max_chars: Sequence[int]) -> list[str]:
            # as while translating, the synthesizer is not held while the translator runs
            self.models.release("synthesizer")
            translator = self.models.get("translator", self.config.translator)
            return translator.shorten(segments, source, target, max_chars)

        return shorten
