"""The ``dubengine`` command line. Thin: it calls the library and maps errors to exit codes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._errors import DubError, MediaError, RequestError

app = typer.Typer(help="Local, offline dubbing engine.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

EXIT_BAD_INPUT = 2  # the input or a request option was refused
EXIT_FAILED = 1  # an internal failure


def exit_code(error: DubError) -> int:
    return EXIT_BAD_INPUT if isinstance(error, MediaError | RequestError) else EXIT_FAILED


def fail(error: DubError) -> typer.Exit:
    err_console.print(f"[bold red]error[/] {escape(f'[{error.code}] {error.message}')}")
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


def main() -> None:
    app()
