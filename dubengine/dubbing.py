"""``dub()``: one input dubbed in-process, blocking, with subtitles and a transcript beside it."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ._options import DubOptions, PipelineConfig
from ._progress import Progress, no_progress
from ._types import LineFit, MixReport, StageReport, Transcript, VoiceReport, timing_summary
from .editing.project import Project, project_folder, save_project, write_state
from .given import GivenLines, check_within, read_given
from .media import Limits, MediaInfo, check_output, output_suffix, validate
from .pipeline import ClipCache, Pipeline, PipelineResult
from .subtitles import to_srt, to_vtt


@dataclass(frozen=True, slots=True)
class OutputFiles:
    """The files written beside the dub; None where not asked for."""

    subtitles_target_srt: Path
    subtitles_target_vtt: Path
    subtitles_source_srt: Path
    subtitles_source_vtt: Path
    transcript_json: Path | None = None
    stem_dubbed_speech_wav: Path | None = None
    stem_background_wav: Path | None = None
    timeline_png: Path | None = None
    project_dir: Path | None = None  # what a re-render after edits needs (a folder)

    def paths(self) -> list[Path]:
        return list(self._items().values())

    def _items(self) -> dict[str, Path]:
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }

    def to_dict(self) -> dict[str, str]:
        return {name: str(path) for name, path in self._items().items()}


@dataclass(frozen=True, slots=True)
class DubResult:
    """What a dub produced.

    Attributes:
        output: the dubbed media file.
        files: the files written beside it (subtitles in both languages, the transcript JSON,
            stems and the timeline when asked for).
        input_duration: seconds.
        source_language: detected (or given) language of the input speech.
        target_language: the dub's language.
        transcript: every line with speaker, source text, translation and word timings.
        fits: per line, where it was placed, how much it was sped up, and how it was fitted.
        stages: per stage, wall time, peak memory, model load and inference time.
        mix: the loudness match and the limiter's work.
        voices: per speaker, the voice that speaks for them and how near it is.
        warnings: what the user should know about this dub.
        quality: the measured dub (``quality=True``), else None.
    """

    output: Path
    files: OutputFiles
    input_duration: float
    source_language: str
    target_language: str
    transcript: Transcript
    fits: tuple[LineFit, ...]
    stages: tuple[StageReport, ...]
    mix: MixReport
    voices: dict[str, VoiceReport]
    warnings: tuple[str, ...]
    quality: Any = None  # QualityReport

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "files": self.files.to_dict(),
            "input_duration": self.input_duration,
            "source_language": self.source_language,
            "target_language": self.target_language,
            "transcript": self.transcript.to_dict(),
            "fits": [f.to_dict() for f in self.fits],
            "timing": timing_summary(self.fits),
            "stages": [s.to_dict() for s in self.stages],
            "mix": self.mix.to_dict(),
            "voices": {speaker: v.to_dict() for speaker, v in self.voices.items()},
            "warnings": list(self.warnings),
            "quality": None if self.quality is None else self.quality.to_dict(),
        }


def dub(
    path: str | os.PathLike[str],
    target: str = "fr",
    *,
    out: str | os.PathLike[str] | None = None,
    config: PipelineConfig | None = None,
    limits: Limits | None = None,
    progress: Progress = no_progress,
    pipeline: Pipeline | None = None,
    quality: bool = False,
    stems: bool = False,
    subtitles: str | os.PathLike[str] | None = None,
    translated_subtitles: str | os.PathLike[str] | None = None,
    editable: bool = False,
    **options: Any,
) -> DubResult:
    """Dubs ``path`` into ``target`` and returns when the output is written.

    Args:
        path: an audio or video file.
        target: target language code (en, es, fr, de, it, pt, ru, ja, ko, zh).
        out: output path; default ``<input stem>.<target>.mp4|wav|mp3`` beside the input
            (WAV for lossless audio, MP3 for lossy); audio may be written as either, video
            as MP4. Checked before anything runs.
        config: backends, device and timing-fit settings.
        limits: input limits (default the API reference's).
        progress: called with a ``ProgressEvent`` (stage key, completed, total) as stages move.
        pipeline: a pipeline to reuse (its models stay warm if its config says so).
        quality: also measure the dub (``DubResult.quality``, and a timeline PNG beside it).
        stems: also write the dubbed speech and the background as WAVs beside the output.
        subtitles: an SRT or WebVTT file of the source lines (no transcription: their times
            and text are the lines; needs ``source_lang``), or the JSON an earlier dub wrote.
        translated_subtitles: the same cues in the target language (no translation: spoken
            exactly as written).
        editable: also keep what re-rendering after edits needs (``files.project_dir``); the
            job engine does this for every job (``Engine.edit_segment``, ``Engine.render``).
        **options: the other job options of ``DubOptions``: source_lang ("auto"),
            reduce_accent, translation_lag_time (0-3 s), original_speech_volume (0-1).

    Raises:
        MediaError: the input is refused (too long, too short, too large, unsupported).
        RequestError: an option is out of range, a language unsupported, or the output path
            cannot be written (wrong extension for this input, missing folder).
        DubError: a stage failed.
    """
    checked = DubOptions.build(target, **options)
    given = read_given(subtitles, translated_subtitles, checked.source_lang)
    info = validate(path, limits)
    check_within(given, info.duration)
    out_path = check_output(Path(out) if out else default_output(info, target), info)
    flags = {"quality": quality, "stems": stems, "given": given, "editable": editable}
    runner = pipeline or Pipeline(config)
    dubbed, project = dub_media(runner, info, checked, out_path, progress, **flags)
    if project is not None:
        write_state(project_folder(dubbed.output), project)
    return dubbed


def dub_media(
    pipeline: Pipeline,
    info: MediaInfo,
    options: DubOptions,
    out_path: Path,
    progress: Progress = no_progress,
    *,
    quality: bool = False,
    stems: bool = False,
    given: GivenLines | None = None,
    editable: bool = False,
) -> tuple[DubResult, Project | None]:
    """One checked input through ``pipeline``, with its sidecars. ``editable``: what a
    re-render reads is kept in the project folder beside the output, and the project's
    state is returned for the caller to keep (the job store, or ``project.json``)."""
    folder = project_folder(out_path) if editable else None
    clips = None if folder is None else ClipCache(folder / "clips")
    result = pipeline.run(
        info, options, out_path, progress, quality=quality, stems=stems, given=given, clips=clips
    )
    project = None
    if folder is not None:
        project = save_project(
            folder,
            result.artifacts,
            transcript=result.transcript,
            input_path=info.path,
            output=result.output,
            options=options,
            duration=info.duration,
        )
        result = replace(result, files={**result.files, "project_dir": folder})
    return write_sidecars(result, info, options), project


def default_output(info: MediaInfo, target: str) -> Path:
    return info.path.with_name(f"{info.path.stem}.{target}{output_suffix(info)}")


def write_sidecars(result: PipelineResult, info: MediaInfo, options: DubOptions) -> DubResult:
    """Writes subtitles in both languages (SRT and VTT) and the transcript with the fit
    report beside the output; returns the result naming every file."""
    stem = str(result.output.with_suffix(""))  # "talk.es" for talk.es.mp4
    files = OutputFiles(
        **write_subtitles(result.output, result.fits, result.transcript), **result.files
    )
    report = to_dub_result(result, info, options, files)
    files = replace(files, transcript_json=write_report(Path(f"{stem}.json"), report.to_dict()))
    return replace(report, files=files)


def write_subtitles(
    output: Path, fits: Sequence[LineFit], transcript: Transcript
) -> dict[str, Path]:
    """SRT and VTT of the dub's lines and of the source lines, beside ``output``."""
    stem = str(output.with_suffix(""))
    source = transcript.language
    target_cues = [(f.start, f.end, f.text) for f in fits]
    source_cues = [(s.start, s.end, s.text) for s in transcript.segments]
    return {
        "subtitles_target_srt": _write_text(Path(f"{stem}.srt"), to_srt(target_cues)),
        "subtitles_target_vtt": _write_text(Path(f"{stem}.vtt"), to_vtt(target_cues)),
        "subtitles_source_srt": _write_text(Path(f"{stem}.{source}.srt"), to_srt(source_cues)),
        "subtitles_source_vtt": _write_text(Path(f"{stem}.{source}.vtt"), to_vtt(source_cues)),
    }


def write_report(path: Path, report: dict[str, Any]) -> Path:
    return _write_text(path, json.dumps(report, ensure_ascii=False, indent=1))


def to_dub_result(
    result: PipelineResult, info: MediaInfo, options: DubOptions, files: OutputFiles
) -> DubResult:
    return DubResult(
        output=result.output,
        files=files,
        input_duration=round(info.duration, 3),
        source_language=result.transcript.language,
        target_language=options.target_lang,
        transcript=result.transcript,
        fits=result.fits,
        stages=result.stages,
        mix=result.mix,
        voices=result.voices,
        warnings=result.warnings,
        quality=result.quality,
    )


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _write_text(path: Path, text: str) -> Path:
    """Written under a temporary name and renamed, like the media output, with the same
    mode as the media (the umask's; mkstemp alone would make it 0600)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
