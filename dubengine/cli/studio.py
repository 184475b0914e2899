"""``dubengine segments / edit / render``: a completed job's lines, edited and rendered again
from the command line, on the engine's data folder (beside a running server is safe)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .._errors import DubError, InvalidOption
from .common import ConfigFile, DataDir, app, console, err_console, fail, pipeline_config


@contextlib.contextmanager
def _engine(data_dir: Path, config_file: Path | None = None) -> Iterator[Any]:
    """An engine on the data folder (no workers: edits and renders only); any refusal, of
    the config file or of the request, one line and exit 2."""
    from ..jobs import Engine

    try:
        engine = Engine(data_dir, workers=0, start=False, config=pipeline_config(config_file, None))
    except DubError as error:
        raise fail(error) from error
    try:
        yield engine
    except DubError as error:
        raise fail(error) from error
    finally:
        engine.close()


@app.command()
def segments(
    job_id: str,
    data_dir: DataDir = Path("dubengine-data"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Shows a completed dub's lines, their fit and what is waiting to be rendered."""
    with _engine(data_dir) as engine:
        view = engine.segments(job_id)
    if as_json:
        console.print_json(json.dumps(view, ensure_ascii=False))
        return
    table = Table(
        title=f"{job_id}: revision {view['revision']}, output from revision "
        f"{view['output_revision']}"
    )
    for column in ("#", "time", "speaker", "source", "translation", "fit"):
        table.add_column(column)
    for line in view["segments"]:
        fit = line["fit"]
        shown = "stale" if line["stale"] else f"{fit['speed']:.2f}x {fit['method']}"
        when = f"{line['start']:.2f}-{line['end']:.2f}"
        table.add_row(
            str(line["index"]),
            when,
            line["speaker"] or "",
            line["text"],
            line["translation"] or "",
            shown,
        )
    console.print(table)


@app.command()
def edit(
    job_id: str,
    index: Annotated[int | None, typer.Argument(help="The line (`dubengine segments`).")] = None,
    text: Annotated[str | None, typer.Option(help="The source text.")] = None,
    translation: Annotated[str | None, typer.Option(help="What is spoken.")] = None,
    speaker: Annotated[str | None, typer.Option(help="Who speaks it.")] = None,
    start: Annotated[float | None, typer.Option(help="Start, seconds.")] = None,
    end: Annotated[float | None, typer.Option(help="End, seconds.")] = None,
    split_at: Annotated[float | None, typer.Option(help="Split the line here (seconds).")] = None,
    merge: Annotated[bool, typer.Option("--merge", help="Merge it with the next.")] = False,
    delete: Annotated[bool, typer.Option("--delete", help="Delete the line.")] = False,
    insert: Annotated[bool, typer.Option("--insert", help="Add a line (no INDEX).")] = False,
    voice: Annotated[str | None, typer.Option(help="SPEAKER=VOICE: a speaker's voice.")] = None,
    undo: Annotated[bool, typer.Option("--undo", help="Undo the last edit.")] = False,
    data_dir: DataDir = Path("dubengine-data"),
) -> None:
    """Edits a completed dub; `dubengine render` then speaks what changed."""
    fields = {
        k: v
        for k, v in dict(
            text=text, translation=translation, speaker=speaker, start=start, end=end
        ).items()
        if v is not None
    }
    with _engine(data_dir) as engine:
        edits = (split_at, merge, delete, insert, voice, undo)
        view = _apply(engine, job_id, index, fields, *edits)
    stale = sum(line["stale"] for line in view["segments"])
    console.print(f"revision {view['revision']}: {stale} line(s) to render")


def _apply(
    engine: Any,
    job_id: str,
    index: int | None,
    fields: dict[str, Any],
    split_at: float | None,
    merge: bool,
    delete: bool,
    insert: bool,
    voice: str | None,
    undo: bool,
) -> dict[str, Any]:
    actions = sum(
        (
            bool(fields) and not insert,
            split_at is not None,
            merge,
            delete,
            insert,
            voice is not None,
            undo,
        )
    )
    if actions != 1:
        raise InvalidOption(
            "give one edit: line fields, --split-at, --merge, --delete, --voice, --undo, or "
            "--insert (with --start --end --text --translation)"
        )
    if undo:
        return engine.undo(job_id)
    if voice is not None:
        name, _, chosen = voice.partition("=")
        return engine.set_voice(job_id, name, chosen)
    if insert:
        missing = [f for f in ("start", "end", "text", "translation") if f not in fields]
        if missing:
            raise InvalidOption(f"--insert needs --{' --'.join(missing)}")
        return engine.insert_segment(job_id, **fields)
    if index is None:
        raise InvalidOption("which line? give its INDEX")
    if split_at is not None:
        return engine.split_segment(job_id, index, split_at)
    if merge:
        return engine.merge_segments(job_id, index)
    if delete:
        return engine.delete_segment(job_id, index)
    return engine.edit_segment(job_id, index, **fields)


@app.command()
def render(
    job_id: str,
    data_dir: DataDir = Path("dubengine-data"),
    config_file: ConfigFile = None,
) -> None:
    """Speaks the edited lines again and writes the new output over the old one."""
    with _engine(data_dir, config_file) as engine:
        with console.status("rendering"):
            status = engine.render(job_id, wait=True)
        if status["state"] != "done":
            err_console.print(f"render failed: {status.get('error')}")
            raise typer.Exit(1)
        report = engine.get_report(job_id)["render"]
    console.print(
        f"revision {status['revision']} rendered in {report['seconds']:.1f} s: "
        f"lines {report['spoken']} spoken again, {report['output']}"
    )
