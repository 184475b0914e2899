"""What every command shares: the app, the consoles, exit codes, the one-line refusal, the
option types, the pipeline config from a file and the command line, and the stage bar."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from .._errors import DeviceUnavailable, DubError, MediaError, RequestError
from .._progress import STAGES, ProgressEvent, no_progress, stage_of

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


DataDir = Annotated[Path, typer.Option("--data-dir", help="Engine data folder.")]


def pipeline_config(config_file: Path | None, device: str | None, **stages: Any) -> Any:
    """The config file's pipeline (or the default file's, or the defaults), with the
    command line's choices over it."""
    from ..config import load_settings, with_stages

    config = with_stages(load_settings(config_file).pipeline, **stages)
    return config if device is None else dataclasses.replace(config, device=device)


def check_devices(config: Any) -> None:
    """Every device the config names exists here, before any model loads."""
    from ..toolkit.device import check_device

    check_device(config.device)
    for options in config.backend_options.values():
        if "device" in options:
            check_device(options["device"])


@contextlib.contextmanager
def stage_bar(quiet: bool) -> Iterator[Callable[[ProgressEvent], None]]:
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
            bar.update(
                task,
                completed=stage.number - 1 + (event.fraction or 0.0),
                description=f"{stage.number}/{len(STAGES)} {stage.name}",
            )

        yield on_progress
