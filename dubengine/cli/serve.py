"""``dubengine serve``: the REST API on this machine, every option checked before it starts."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from .._errors import DubError, InvalidOption
from .common import ConfigFile, DataDir, Device, app, check_devices, fail, pipeline_config

Workers = Annotated[int | None, typer.Option(help="Jobs run at once (default 1, or the config's).")]
Tokens = Annotated[list[str] | None, typer.Option(help="Accepted API token (repeatable).")]
PublicUrl = Annotated[
    str | None, typer.Option(help="Base URL clients use (default http://HOST:PORT).")
]
RateLimit = Annotated[
    int, typer.Option(help="Requests per token per minute that create jobs or upload URLs.")
]
ReadRateLimit = Annotated[
    int, typer.Option(help="Requests per token per minute that read (status, lists).")
]
UploadTtl = Annotated[int, typer.Option(help="Upload URL lifetime, seconds.")]
DownloadTtl = Annotated[int, typer.Option(help="Download URL lifetime, seconds.")]
TrustedNetwork = Annotated[
    list[str] | None,
    typer.Option(
        help="CIDR a source URL may resolve to besides public addresses "
        "(repeatable; for trusted networks only)."
    ),
]
Ray = Annotated[
    str | None,
    typer.Option(
        help="Run jobs on Ray: 'auto' (the cluster `ray start` began), 'local' (a new one "
        "here) or the cluster's address; --workers is then the number of actors."
    ),
]


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    """``serve``'s command line, as given."""

    host: str
    port: int
    data_dir: Path
    workers: int | None
    token: list[str] | None
    public_url: str | None
    rate_limit: int
    read_rate_limit: int
    upload_ttl: int
    download_ttl: int
    trusted_network: list[str] | None
    device: str | None
    config: Path | None
    ray: str | None


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    data_dir: DataDir = Path("dubengine-data"),
    workers: Workers = None,
    token: Tokens = None,
    public_url: PublicUrl = None,
    rate_limit: RateLimit = 10,
    read_rate_limit: ReadRateLimit = 300,
    upload_ttl: UploadTtl = 3600,
    download_ttl: DownloadTtl = 172800,
    trusted_network: TrustedNetwork = None,
    device: Device = None,
    config: ConfigFile = None,
    ray: Ray = None,
) -> None:
    """Serves the dubbing REST API (the hosted API's routes) from this machine."""
    options = ServeOptions(**locals())  # the parameters: no other name is bound yet
    import uvicorn

    from ..server import create_app

    try:
        engine, settings = start_engine(options)
    except DubError as error:
        raise fail(error) from error
    try:
        uvicorn.run(
            create_app(engine, settings),
            host=host,
            port=port,
            log_level="info",
            log_config=redacted_log_config(),
        )
    finally:
        engine.close(timeout=10)


def start_engine(options: ServeOptions) -> tuple[Any, Any]:
    """The engine and the server's settings, every option checked first."""
    from datetime import timedelta

    from ..config import load_settings
    from ..server import ServerSettings, server_hooks, tokens_from

    engine_settings = load_settings(options.config).engine
    # a given 0 is refused below, not replaced by the default
    workers = options.workers if options.workers is not None else engine_settings.workers or 1
    ray = options.ray or (
        engine_settings.ray_address or "local" if engine_settings.executor == "ray" else None
    )
    pipeline = pipeline_config(options.config, options.device)
    pipeline = dataclasses.replace(pipeline, keep_models_warm=True)
    check_serve_options(dataclasses.replace(options, workers=workers, ray=ray), pipeline)
    tokens = tokens_from(options.token)
    if not tokens:
        raise InvalidOption("give at least one --token or set DUBENGINE_API_TOKENS")
    settings = ServerSettings(
        tokens=tokens,
        public_url=options.public_url or f"http://{options.host}:{options.port}",
        rate_limit=options.rate_limit,
        read_rate_limit=options.read_rate_limit,
    )
    engine = open_engine(
        options.data_dir,
        lambda: server_hooks(settings, options.data_dir),
        workers=workers,
        config=pipeline,
        trust_private_urls=options.trusted_network or False,
        result_ttl=timedelta(seconds=options.download_ttl),
        upload_ttl=timedelta(seconds=options.upload_ttl),
        executor="threads" if ray is None else "ray",
        ray_address=ray,
        ray_actor_options=engine_settings.actor_options,
    )
    return engine, settings


def check_serve_options(options: ServeOptions, pipeline: Any) -> None:
    """Every ``serve`` option checked before anything starts, each refusal naming its fix."""
    import ipaddress
    from urllib.parse import urlsplit

    if not 1 <= options.port <= 65535:
        raise InvalidOption(f"--port must be between 1 and 65535, not {options.port}")
    for name in ("workers", "rate_limit", "read_rate_limit", "upload_ttl", "download_ttl"):
        value = getattr(options, name)
        if value < 1:
            raise InvalidOption(f"--{name.replace('_', '-')} must be 1 or more, not {value}")
    if options.public_url is not None:
        parts = urlsplit(options.public_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query:
            raise InvalidOption(
                f"--public-url must be an http(s) base URL such as http://host:8000, "
                f"not {options.public_url!r}"
            )
    for network in options.trusted_network or []:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise InvalidOption(
                f"--trusted-network must be a CIDR such as 10.0.0.0/8, not {network!r}"
            ) from None
    if options.ray is None:
        check_devices(pipeline)
    else:  # the GPUs are the workers', not this node's: they check theirs when they load
        from ..jobs.ray_pool import import_ray

        import_ray()


def open_engine(data_dir: Path, hooks: Callable[[], Any], **options: Any) -> Any:
    """The engine on ``data_dir`` with the ``hooks()`` it makes (the signing key lives
    there too), or one line on why the folder cannot hold it."""
    import sqlite3

    from ..jobs import Engine

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
    config.setdefault("filters", {})["redact"] = {"()": "dubengine.cli.serve.RedactSignatures"}
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
