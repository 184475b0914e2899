"""``dub()``: one input dubbed in-process, blocking, with subtitles and a transcript beside it."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ._align import LineFit
from ._mix import MixReport
from ._pipeline import DubOptions, Pipeline, PipelineConfig, PipelineResult, StageProgress
from ._types import Transcript
from .media import Limits, MediaInfo, output_suffix, validate
from .subtitles import to_srt, to_vtt


@dataclass(frozen=True, slots=True)
class DubResult:
    """What a dub produced.

    Attributes:
        output: the dubbed media file.
        files: the files written beside it: "subtitles_target_srt", "subtitles_target_vtt",
            "subtitles_source_srt", "subtitles_source_vtt", "transcript_json".
        input_duration: seconds.
        source_language: detected (or given) language of the input speech.
        target_language: the dub's language.
        transcript: every line with speaker, source text, translation and word timings.
        fits: per line, where it was placed, how much it was sped up, and how it was fitted.
        stages: per stage, wall time, peak memory and model load time.
        warnings: what the user should know about this dub.
    """

    output: Path
    files: dict[str, Path]
    input_duration: float
    source_language: str
    target_language: str
    transcript: Transcript
    fits: tuple[LineFit, ...]
    stages: tuple[Any, ...]
    mix: MixReport
    voices: dict[str, str]
    warnings: tuple[str, ...]
    quality: dict[str, Any] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["output"] = str(self.output)
        data["files"] = {k: str(v) for k, v in self.files.items()}
        return data


def dub(
    path: str | os.PathLike[str],
    target: str = "fr",
    *,
    source: str = "auto",
    out: str | os.PathLike[str] | None = None,
    reduce_accent: bool = False,
    translation_lag_time: float = 0.0,
    original_speech_volume: float = 0.0,
    config: PipelineConfig | None = None,
    limits: Limits | None = None,
    progress: StageProgress | None = None,
    pipeline: Pipeline | None = None,
    quality: bool = False,
    stems: bool = False,
) -> DubResult:
    """Dubs ``path`` into ``target`` and returns when the output is written.

    Args:
        path: an audio or video file.
        target: target language code (en, es, fr, de, it, pt, ru, ja, ko, zh).
        source: the input's language, or "auto" to detect it.
        out: output path; default ``<input stem>.<target>.mp4|wav|mp3`` beside the input.
        reduce_accent: prefer native pronunciation over similarity to the speaker.
        translation_lag_time: seconds (0-3) each dubbed line starts after its original.
        original_speech_volume: the original speech mixed under the dub (0-1).
        config: backends, device and timing-fit settings.
        limits: input limits (default the API reference's).
        progress: called with (stage index 0-6, fraction of that stage done).
        pipeline: a pipeline to reuse (its models stay warm if its config says so).
        quality: also measure the dub (``DubResult.quality``, and a timeline PNG beside it).
        stems: also write the dubbed speech and the background as WAVs beside the output.

    Raises:
        MediaError: the input is refused (too long, too short, too large, unsupported).
        RequestError: an option is out of range or a language unsupported.
        DubError: a stage failed.
    """
    options = DubOptions(
        target_lang=target,
        source_lang=source,
        reduce_accent=reduce_accent,
        translation_lag_time=translation_lag_time,
        original_speech_volume=original_speech_volume,
    ).validate()
    info = validate(path, limits)
    out_path = Path(out) if out else default_output(info, target)
    runner = pipeline or Pipeline(config)
    result = runner.run(info, options, out_path, progress, quality=quality, stems=stems)
    return write_sidecars(result, info, options)


def default_output(info: MediaInfo, target: str) -> Path:
    return info.path.with_name(f"{info.path.stem}.{target}{output_suffix(info)}")


def write_sidecars(result: PipelineResult, info: MediaInfo, options: DubOptions) -> DubResult:
    """Writes subtitles in both languages (SRT and VTT) and the transcript with the fit
    report beside the output; returns the result naming every file."""
    stem = str(result.output.with_suffix(""))  # "talk.es" for talk.es.mp4
    source = result.transcript.language
    target_cues = [(f.start, f.end, f.text) for f in result.fits]
    source_cues = [(s.start, s.end, s.text) for s in result.transcript.segments]
    contents = {
        "subtitles_target_srt": (Path(f"{stem}.srt"), to_srt(target_cues)),
        "subtitles_target_vtt": (Path(f"{stem}.vtt"), to_vtt(target_cues)),
        "subtitles_source_srt": (Path(f"{stem}.{source}.srt"), to_srt(source_cues)),
        "subtitles_source_vtt": (Path(f"{stem}.{source}.vtt"), to_vtt(source_cues)),
    }
    files = {key: _write_text(path, text) for key, (path, text) in contents.items()}
    files |= result.files
    if result.quality is not None:
        files["timeline_png"] = Path(result.quality["timeline_png"])
    report = to_dub_result(result, info, options, files)
    files["transcript_json"] = _write_text(
        Path(f"{stem}.json"), json.dumps(report.to_dict(), ensure_ascii=False, indent=1)
    )
    return replace(report, files=files)


def to_dub_result(
    result: PipelineResult, info: MediaInfo, options: DubOptions, files: dict[str, Path]
) -> DubResult:
    return DubResult(
        output=result.output,
        files=dict(files),
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


def _write_text(path: Path, text: str) -> Path:
    """Written under a temporary name and renamed, like the media output."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
