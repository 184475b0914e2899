"""``dubengine dub``: one file dubbed, with a stage bar, and what came of it printed."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from .._errors import DubError
from .common import (
    AsrModel,
    ConfigFile,
    Device,
    Diarizer,
    MtModel,
    Separator,
    Synthesizer,
    Transcriber,
    Translator,
    app,
    check_devices,
    console,
    fail,
    pipeline_config,
    stage_bar,
)

if TYPE_CHECKING:
    from ..dubbing import DubResult
    from ..quality import QualityReport


Target = Annotated[str, typer.Option("--target", "-t", help="Target language code.")]
Source = Annotated[str, typer.Option(help="Source language code, or auto.")]
Out = Annotated[Path | None, typer.Option(help="Output file (default beside input).")]
Lag = Annotated[float, typer.Option(help="Seconds each dubbed line starts late (0-3).")]
OriginalVolume = Annotated[float, typer.Option(help="Original speech mixed under the dub (0-1).")]
ReduceAccent = Annotated[
    bool, typer.Option("--reduce-accent", help="Native pronunciation over similarity.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Quality = Annotated[
    bool, typer.Option("--quality", help="Measure the dub (slower): CER, similarity, PNG.")
]
Stems = Annotated[
    bool, typer.Option("--stems", help="Also write the dubbed speech and background WAVs.")
]
Speakers = Annotated[
    int | None, typer.Option(help="How many speakers there are (default: estimated).")
]
Separate = Annotated[
    bool, typer.Option(help="Separate speech from music/effects (--no-separate: replace all).")
]
Subtitles = Annotated[
    Path | None,
    typer.Option(help="Source-language SRT/VTT (or an earlier dub's JSON): no transcribing."),
]
TranslatedSubtitles = Annotated[
    Path | None,
    typer.Option(help="The same cues translated (SRT/VTT): spoken exactly as written."),
]
BACKEND_CHOICES = (
    "transcriber",
    "asr_model",
    "translator",
    "mt_model",
    "synthesizer",
    "separator",
    "diarizer",
)


@app.command()
def dub(
    path: Annotated[Path, typer.Argument(help="Audio or video file to dub.")],
    target: Target,
    source: Source = "auto",
    out: Out = None,
    lag: Lag = 0.0,
    original_volume: OriginalVolume = 0.0,
    reduce_accent: ReduceAccent = False,
    device: Device = None,
    as_json: AsJson = False,
    quality: Quality = False,
    stems: Stems = False,
    speakers: Speakers = None,
    separate: Separate = True,
    config: ConfigFile = None,
    transcriber: Transcriber = None,
    asr_model: AsrModel = None,
    translator: Translator = None,
    mt_model: MtModel = None,
    synthesizer: Synthesizer = None,
    separator: Separator = None,
    diarizer: Diarizer = None,
    subtitles: Subtitles = None,
    translated_subtitles: TranslatedSubtitles = None,
) -> None:
    """Dubs a file and writes the result, subtitles and transcript beside it."""
    given = dict(locals())  # the parameters: no other name is bound yet
    from ..dubbing import dub as run_dub

    try:
        options = _dub_options(given)
        chosen = _pipeline_choice(given)
        with stage_bar(quiet=as_json) as on_progress:
            result = run_dub(
                path,
                out=out,
                config=chosen,
                progress=on_progress,
                quality=quality,
                stems=stems,
                subtitles=subtitles,
                translated_subtitles=translated_subtitles,
                **_as_kwargs(options),
            )
    except DubError as error:
        raise fail(error) from error
    if as_json:
        console.print_json(json.dumps(result.to_dict(), default=str, ensure_ascii=False))
        return
    _print_result(result)


def _dub_options(given: dict[str, Any]) -> Any:
    """The API's dub options from the command line, checked."""
    from .._options import DubOptions
    from ..diarization import check_speaker_counts

    check_speaker_counts(given["speakers"], None, None)
    return DubOptions(
        target_lang=given["target"],
        source_lang=given["source"],
        reduce_accent=given["reduce_accent"],
        translation_lag_time=given["lag"],
        original_speech_volume=given["original_volume"],
    ).validate()


def _pipeline_choice(given: dict[str, Any]) -> Any:
    """The pipeline the command line chose: the config file, then each option over it."""
    backends = {name: given[name] for name in BACKEND_CHOICES}
    chosen = pipeline_config(given["config"], given["device"], **backends)
    speakers = given["speakers"]
    chosen = dataclasses.replace(
        chosen,
        num_speakers=chosen.num_speakers if speakers is None else speakers,
        separator=chosen.separator if given["separate"] else None,
    )
    check_devices(chosen)
    return chosen


def _as_kwargs(options: object) -> dict[str, object]:
    """``dub()``'s arguments for these options (the target is its own argument)."""
    fields = dataclasses.asdict(options)  # type: ignore[call-overload]
    return {"target": fields.pop("target_lang"), **fields}


def _print_result(result: DubResult) -> None:
    console.print(
        f"[bold green]dubbed[/] {result.source_language} → {result.target_language}: "
        f"{escape(str(result.output))}"
    )
    for key, path in result.files.to_dict().items():
        console.print(f"  {key:22} {escape(path)}")
    table = Table(title="lines")
    speakers = {seg.id: seg.speaker or "" for seg in result.transcript.segments}
    for column in ("#", "who", "start", "speed", "how", "text"):
        table.add_column(column)
    for fit in result.fits:
        table.add_row(
            str(fit.id),
            speakers.get(fit.id, ""),
            f"{fit.start:.2f}",
            f"{fit.speed:.2f}x",
            fit.method,
            escape(fit.text),
        )
    console.print(table)
    voices = Table(title="voices")
    for column in ("speaker", "voice", "pitch", "formants", "similarity", "stock voice alone"):
        voices.add_column(column)
    for speaker, voice in result.voices.items():
        voices.add_row(
            speaker,
            escape(voice.voice),
            f"{voice.pitch_semitones:+.1f} st",
            f"{voice.formant_ratio:.2f}",
            _two_places(voice.similarity),
            _two_places(voice.similarity_before),
        )
    console.print(voices)
    total = sum(s.seconds for s in result.stages)
    console.print(
        f"{result.input_duration:.1f} s of input in {total:.1f} s "
        f"(real-time factor {total / max(result.input_duration, 1e-6):.2f})"
    )
    if result.quality:
        _print_quality(result.quality)
    for warning in result.warnings:
        console.print(f"[yellow]warning[/] {escape(warning)}")


def _two_places(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _print_quality(report: QualityReport) -> None:
    table = Table(title="quality")
    for column in ("#", "offset", "speed", "overflow", "CER", "heard back"):
        table.add_column(column)
    for line in report.lines:
        table.add_row(
            str(line.id),
            f"{line.measured_offset * 1000:+.0f} ms",
            f"{line.speed:.2f}x",
            f"{line.overflow:.2f} s",
            f"{line.cer:.2f}",
            escape(line.heard),
        )
    console.print(table)
    console.print(
        f"max |offset| {report.max_abs_offset * 1000:.0f} ms, max speed "
        f"{report.max_speed:.2f}x, mean CER {report.mean_cer:.3f}, speaker similarity "
        f"{report.speaker_similarity}, between dubbed voices "
        f"{report.dubbed_voice_similarity}, background {report.background}, "
        f"timeline {escape(report.timeline_png)}"
    )
