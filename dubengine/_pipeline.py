"""The seven stages, run in order over one transcript.

Each stage reports its progress as a fraction, and its wall time, peak memory and model load
time land in the result. Models are created on first use and released after their stage,
unless the engine keeps them warm for the next job.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ._align import AlignOptions, LineFit, PlacedLine, align
from ._errors import InvalidOption, MediaError, UnsupportedLanguage
from ._measure import measured
from ._mix import MIX_RATE, MixReport, mix, place
from ._progress import ProgressEvent
from ._registry import create_backend
from ._synthesis import synthesizer_for
from ._types import LANGUAGES, Segment, Transcript
from .media import MediaInfo, decode_audio, usable_audio_stream, write_output
from .media.decode import Audio
from .media.resample import resample

log = logging.getLogger("dubengine")

STAGES: tuple[tuple[str, str], ...] = (
    ("stage_1", "Separating"),
    ("stage_2", "Transcribing"),
    ("stage_3", "Translating"),
    ("stage_4", "Matching voices"),
    ("stage_5", "Synthesizing"),
    ("stage_6", "Aligning"),
    ("stage_7", "Mixing"),
)
# Share of the processing time each stage takes on a 2-core CPU (see benchmarks/), so the
# percent a job reports moves at an even pace.
STAGE_WEIGHTS = (4, 12, 40, 1, 30, 8, 5)
DEFAULT_VOICE = "jm_kumo"
NOT_SEPARATED = (
    "the background is not separated from the speech yet: the dub replaces the whole "
    "original soundtrack, music and effects included"
)

# (stage index 0-6, fraction of that stage done 0-1)
StageProgress = Callable[[int, float], None]


@dataclass(frozen=True, slots=True)
class DubOptions:
    """The API's job options. ``validate`` raises the API's request errors."""

    target_lang: str
    source_lang: str = "auto"
    reduce_accent: bool = False
    translation_lag_time: float = 0.0
    original_speech_volume: float = 0.0

    def validate(self) -> DubOptions:
        if self.target_lang not in LANGUAGES:
            raise UnsupportedLanguage(f"Unsupported target language: {self.target_lang}")
        if self.source_lang != "auto" and self.source_lang not in LANGUAGES:
            raise UnsupportedLanguage(f"Unsupported source language: {self.source_lang}")
        if not 0 <= self.translation_lag_time <= 3:
            raise InvalidOption(
                f"translation_lag_time must be between 0 and 3 seconds, "
                f"not {self.translation_lag_time}"
            )
        if not 0 <= self.original_speech_volume <= 1:
            raise InvalidOption(
                f"original_speech_volume must be between 0 and 1, not {self.original_speech_volume}"
            )
        return self


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """Which backends run each stage, on which device, and how lines are fitted.

    Attributes:
        device: "auto", "cpu", "cuda" or "cuda:N", for every backend.
        transcriber: transcriber backend name.
        translator: translator backend name.
        synthesizer: synthesizer backend name; None picks per language (dubengine._synthesis).
        backend_options: extra constructor arguments per backend name, e.g.
            {"faster-whisper": {"model": "/models/large-v3", "beam_size": 5}}.
        align: how far lines may be sped up, borrowed and shortened.
        keep_models_warm: keep models loaded between stages and jobs.
        cache_dir: model cache folder (default $DUBENGINE_CACHE or ~/.cache/dubengine).
        quality: measure every dub (dubengine.quality): slower, as each line is transcribed
            back and each speaker's voice embedded.
    """

    device: str = "auto"
    transcriber: str = "faster-whisper"
    translator: str = "qwen-ct2"
    synthesizer: str | None = None
    backend_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    align: AlignOptions = field(default_factory=AlignOptions)
    keep_models_warm: bool = False
    cache_dir: str | os.PathLike[str] | None = None
    quality: bool = False


@dataclass(frozen=True, slots=True)
class StageReport:
    stage: str
    name: str
    seconds: float
    peak_rss_mb: float
    load_seconds: float  # model loading, included in seconds
    inference_seconds: float  # inside model calls, included in seconds


@dataclass(frozen=True, slots=True)
class PipelineResult:
    transcript: Transcript
    fits: tuple[LineFit, ...]
    stages: tuple[StageReport, ...]
    mix: MixReport
    voices: dict[str, str]
    warnings: tuple[str, ...]
    output: Path
    quality: dict[str, Any] | None = None


# The backend methods that run a model: their time is "inference" in the stage reports.
INFERENCE_METHODS = frozenset({"transcribe", "translate", "shorten", "synthesize", "embed"})


class _Timed:
    """A backend whose model calls add their wall time to the pool's inference clock."""

    def __init__(self, backend: Any, pool: ModelPool) -> None:
        self._backend = backend
        self._pool = pool

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._backend, name)
        if name not in INFERENCE_METHODS:
            return attribute

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return attribute(*args, **kwargs)
            finally:
                self._pool.inference_seconds += time.perf_counter() - started

        return timed


class ModelPool:
    """Backends by (stage, name), created on first use, released unless kept warm."""

    def __init__(self, config: PipelineConfig) -> None:
        self._config = config
        self._loaded: dict[tuple[str, str], Any] = {}
        self.load_seconds = 0.0  # model load time since the last take_times()
        self.inference_seconds = 0.0  # time inside model calls since the last take_times()

    def get(self, stage: str, name: str) -> Any:
        if (stage, name) not in self._loaded:
            options = {"device": self._config.device}
            if name in {"faster-whisper", "qwen-ct2", "kokoro"}:
                options["cache"] = self._config.cache_dir
            options |= self._config.backend_options.get(name, {})
            started = time.perf_counter()
            backend = create_backend(stage, name, **options)
            self.load_seconds += time.perf_counter() - started
            self._loaded[stage, name] = _Timed(backend, self)
        return self._loaded[stage, name]

    def take_times(self) -> tuple[float, float]:
        """(load, inference) seconds since the last call."""
        times = (self.load_seconds, self.inference_seconds)
        self.load_seconds = self.inference_seconds = 0.0
        return times

    def release(self, stage: str) -> None:
        if self._config.keep_models_warm:
            return
        for key in [k for k in self._loaded if k[0] == stage]:
            self._loaded.pop(key).close()

    def close(self) -> None:
        for backend in self._loaded.values():
            backend.close()
        self._loaded.clear()


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
        progress: StageProgress | None = None,
        quality: bool = False,
    ) -> PipelineResult:
        options.validate()
        report = progress or (lambda stage, fraction: None)
        run = _Run(self, info, options, report, Path(out_path))
        try:
            transcript, voices, placed, (mix_report, output) = run.all_stages()
            measured = run.quality(transcript, placed) if quality or self.config.quality else None
        finally:
            if not self.config.keep_models_warm:
                self.models.close()
        return PipelineResult(
            transcript=transcript,
            fits=tuple(p.fit for p in placed),
            stages=tuple(run.reports),
            mix=mix_report,
            voices=voices,
            warnings=tuple(run.warnings),
            output=output,
            quality=measured,
        )


class _Run:
    """One pass through the stages; holds what passes between them."""

    def __init__(
        self,
        pipeline: Pipeline,
        info: MediaInfo,
        options: DubOptions,
        report: StageProgress,
        out_path: Path,
    ) -> None:
        self.out_path = out_path
        self.config = pipeline.config
        self.models = pipeline.models
        self.info = info
        self.options = options
        self.report = report
        self.reports: list[StageReport] = []
        self.warnings: list[str] = []

    def all_stages(
        self,
    ) -> tuple[Transcript, dict[str, str], list[PlacedLine], tuple[MixReport, Path]]:
        original = self._stage(0, self.separate)
        transcript = self._stage(1, self.transcribe, original)
        transcript = self._stage(2, self.translate, transcript)
        voices = self._stage(3, self.match_voices, transcript)
        natural = self._stage(4, self.synthesize, transcript, voices)
        placed = self._stage(5, self.fit, transcript, voices, natural)
        mixed = self._stage(6, self.mix, original, placed)
        return transcript, voices, placed, mixed

    def _stage(self, index: int, work: Callable[..., Any], *args: Any) -> Any:
        stage, name = STAGES[index]
        self.report(index, 0.0)
        self.models.take_times()
        with measured() as m:
            result = work(*args)
        load, inference = self.models.take_times()
        self.reports.append(
            StageReport(stage, name, round(m.seconds, 3), m.peak_rss_mb, round(load, 3),
                        round(inference, 3))
        )  # fmt: skip
        self.report(index, 1.0)
        return result

    def _hook(self, index: int) -> Callable[[ProgressEvent], None]:
        def hook(event: ProgressEvent) -> None:
            if event.total:
                self.report(index, min(1.0, event.completed / event.total))

        return hook

    # Stage 1
    def separate(self) -> Audio:
        stream = usable_audio_stream(self.info)
        index = stream.index if stream else None
        original = decode_audio(self.info.path, MIX_RATE, 2, stream_index=index)
        self.warnings.append(NOT_SEPARATED)
        return original

    # Stage 2
    def transcribe(self, speech: Audio) -> Transcript:
        transcriber = self.models.get("transcriber", self.config.transcriber)
        language = None if self.options.source_lang == "auto" else self.options.source_lang
        transcript = transcriber.transcribe(
            resample(speech, 16_000, 1), language=language, progress=self._hook(1)
        )
        self.models.release("transcriber")
        if not transcript.segments:
            raise MediaError("unsupported_format", "no speech was found in the audio track")
        # One voice until speaker diarization lands: every line is the same speaker.
        segments = tuple(replace(s, speaker=s.speaker or "SPEAKER_00") for s in transcript.segments)
        return replace(transcript, segments=segments)

    # Stage 3
    def translate(self, transcript: Transcript) -> Transcript:
        translator = self.models.get("translator", self.config.translator)
        result = translator.translate(transcript, self.options.target_lang, self._hook(2))
        self.models.release("translator")
        empty = [s.id for s in result.segments if not (s.translation or "").strip()]
        if empty:
            self.warnings.append(f"lines {empty} came back untranslated; they keep their text")
            result = replace(
                result,
                segments=tuple(
                    replace(s, translation=s.translation or s.text) for s in result.segments
                ),
            )
        return result

    # Stage 4
    def match_voices(self, transcript: Transcript) -> dict[str, str]:
        speakers = sorted({s.speaker or "SPEAKER_00" for s in transcript.segments})
        return dict.fromkeys(speakers, DEFAULT_VOICE)

    # Stage 5
    def synthesize(self, transcript: Transcript, voices: dict[str, str]) -> dict[int, Audio]:
        clips: dict[int, Audio] = {}
        for done, segment in enumerate(transcript.segments, 1):
            clips[segment.id] = self._speaker(segment, voices)(segment.translation or "", 1.0)
            self.report(4, done / len(transcript.segments))
        return clips

    # Stage 6
    def fit(
        self, transcript: Transcript, voices: dict[str, str], natural: dict[int, Audio]
    ) -> list[PlacedLine]:
        placed = align(
            transcript.segments,
            natural,
            speak_for=lambda segment: self._speaker(segment, voices),
            shorten=self._shorten(transcript.language),
            duration=self.info.duration,
            language=self.options.target_lang,
            lag=self.options.translation_lag_time,
            options=self.config.align,
        )
        self.models.release("translator")
        self.models.release("synthesizer")
        overflowing = [p.fit.id for p in placed if p.fit.overflow > 0]
        if overflowing:
            self.warnings.append(
                f"lines {overflowing} could not be fitted even shortened and at "
                f"{self.config.align.max_speed}x; they overlap what follows"
            )
        return placed

    # Stage 7
    def mix(self, original: Audio, placed: list[PlacedLine]) -> tuple[MixReport, Path]:
        dub = place(placed, self.info.duration, MIX_RATE)
        self.dub_track, self.original = dub, original  # kept for the quality report
        mixed, report = mix(
            dub,
            reference_speech=original,
            original=original,
            original_volume=self.options.original_speech_volume,
        )
        self.report(6, 0.5)
        return report, write_output(mixed, self.info, self.out_path)

    def quality(self, transcript: Transcript, placed: list[PlacedLine]) -> dict[str, Any]:
        from ._errors import BackendUnavailable
        from .quality import quality_report

        try:
            embedder = self.models.get("embedder", "resemblyzer")
        except BackendUnavailable as exc:
            self.warnings.append(f"no speaker similarity in the quality report: {exc.message}")
            embedder = None
        report = quality_report(
            transcript,
            placed,
            self.dub_track,
            MIX_RATE,
            self.original,
            self.options.translation_lag_time,
            self.models.get("transcriber", self.config.transcriber),
            embedder,
            self.out_path.with_name(self.out_path.stem + ".timeline.png"),
        )
        self.models.release("transcriber")
        self.models.release("embedder")
        return report

    def _speaker(self, segment: Segment, voices: dict[str, str]) -> Callable[[str, float], Audio]:
        language = self.options.target_lang
        name = self.config.synthesizer or synthesizer_for(language)
        synthesizer = self.models.get("synthesizer", name)
        voice = voices.get(segment.speaker or "SPEAKER_00") if name == "kokoro" else None

        def speak(text: str, speed: float) -> Audio:
            return synthesizer.synthesize(text, language, voice=voice, speed=speed)

        return speak

    def _shorten(self, source: str) -> Callable[[Segment, int], str]:
        def shorten(segment: Segment, max_chars: int) -> str:
            translator = self.models.get("translator", self.config.translator)
            return translator.shorten(segment, source, self.options.target_lang, max_chars)

        return shorten
