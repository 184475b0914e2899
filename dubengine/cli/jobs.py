"""``dubengine jobs list / show``: the jobs kept in a data folder (the engine's and the
server's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .._errors import DubError
from .common import DataDir, app, console, fail

jobs_app = typer.Typer(help="Jobs kept in a data folder (the engine's and the server's).")


app.add_typer(jobs_app, name="jobs")


@jobs_app.command("list")
def jobs_list(
    data_dir: DataDir = Path("dubengine-data"),
    limit: int = 20,
    offset: int = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Lists jobs, newest first."""
    from ..jobs import Engine

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
            print(
                "\t".join(
                    (
                        job.job_id,
                        job.status.value,
                        job.source_lang,
                        job.target_lang,
                        job.created_at,
                        job.updated_at,
                    )
                )
            )
        return
    table = Table(title=f"{page.total} jobs")
    for column in columns:
        table.add_column(column, no_wrap=column == "job_id")
    for job in page.jobs:
        table.add_row(
            job.job_id,
            job.status.value,
            job.source_lang,
            job.target_lang,
            job.created_at,
            job.updated_at,
        )
    console.print(table)


@jobs_app.command("show")
def jobs_show(job_id: str, data_dir: DataDir = Path("dubengine-data")) -> None:
    """Shows one job as the API returns it."""
    from ..jobs import Engine

    engine = Engine(data_dir, workers=0, start=False)
    try:
        console.print_json(json.dumps(engine.get_job(job_id).to_dict()))
    except DubError as error:
        raise fail(error) from error
