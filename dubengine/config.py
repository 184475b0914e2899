"""The config file (TOML): per stage the backend, its options and its device; the timing fit;
and how ``serve`` runs jobs. Everything is checked when it is read, each refusal naming the
file and the key, so a typo fails at start and not in the middle of a job.

::

    device = "auto"                  # default for every stage
    [transcriber]
    name = "faster-whisper"
    model = "/models/faster-whisper-large-v3"
    device = "cuda"                  # this stage only
    [separator]
    name = "none"                    # keep the soundtrack whole
    [align]
    max_speed = 1.25
    [engine]                         # dubengine serve / Engine
    workers = 2
    executor = "ray"
    ray_address = "auto"

Found at ``--config FILE``, else ``$DUBENGINE_CONFIG``, else
``~/.config/dubengine/config.toml`` when it exists.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import DubError, InvalidOption
from ._options import AlignOptions, PipelineConfig
from .registry import PROVIDED, ROLES, accepts, backend_class, check_options
from .toolkit.device import resolve_device

CONFIG_ENV = "DUBENGINE_CONFIG"
TOP_KEYS = {
    "device": str,
    "num_speakers": int,
    "keep_models_warm": bool,
    "cache_dir": str,
    "quality": bool,
}
ENGINE_KEYS = {
    "workers": int,
    "executor": str,
    "ray_address": str,
    "num_cpus": float,
    "num_gpus": float,
}
OFF = {"separator": "none", "diarizer": "none", "voice_matcher": "none", "synthesizer": "auto"}


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """How ``serve`` (or an ``Engine``) runs jobs; None leaves the command's own default."""

    workers: int | None = None
    executor: str | None = None
    ray_address: str | None = None
    actor_options: dict[str, float] = field(default_factory=dict)  # num_cpus, num_gpus


@dataclass(frozen=True, slots=True)
class Settings:
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    engine: EngineSettings = field(default_factory=EngineSettings)
    path: Path | None = None  # the file read, if any


def default_path() -> Path | None:
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    path = home / "dubengine" / "config.toml"
    return path if path.is_file() else None


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """The settings in ``path`` (or the default file; none: the defaults).

    Raises:
        InvalidOption: unreadable file, bad TOML, an unknown key or a bad value (named).
        BackendUnavailable: a backend named whose package is not installed (with the hint).
    """
    chosen = Path(path) if path is not None else default_path()
    if chosen is None:
        return Settings()
    try:
        data = tomllib.loads(chosen.read_text())
    except OSError as exc:
        raise InvalidOption(f"config file {str(chosen)!r} cannot be read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidOption(f"config file {str(chosen)!r} is not valid TOML: {exc}") from None
    return dataclasses.replace(settings_from(data, chosen.name), path=chosen)


def settings_from(data: dict[str, Any], where: str = "config") -> Settings:
    """``data`` as read from a TOML file; ``where`` names it in errors."""
    known = set(TOP_KEYS) | set(ROLES) | {"align", "engine"}
    for key in data:
        if key not in known:
            raise InvalidOption(f"{where}: unknown key {key!r}; known: {', '.join(sorted(known))}")
    top = {key: _typed(where, key, data[key], TOP_KEYS[key]) for key in TOP_KEYS if key in data}
    if "device" in top:
        _check_device(where, "device", top["device"])
    config = dataclasses.replace(PipelineConfig(), **top)
    for role in ROLES:
        if role in data:
            config = _with_stage(config, role, _table(where, role, data[role]), where)
    if "align" in data:
        align = _align(where, _table(where, "align", data["align"]))
        config = dataclasses.replace(config, align=align)
    engine = _engine(where, _table(where, "engine", data.get("engine", {})))
    return Settings(config, engine)


def with_stages(config: PipelineConfig, **chosen: Any) -> PipelineConfig:
    """The CLI's shortcuts over a config: ``transcriber``, ``asr_model``, ``translator``,
    ``mt_model``, ``synthesizer``, ``separator``, ``diarizer`` (None: as configured)."""
    models = {
        "transcriber": chosen.pop("asr_model", None),
        "translator": chosen.pop("mt_model", None),
    }
    for role, name in chosen.items():
        if name is not None:
            config = _with_stage(config, role, {"name": name}, "command line")
    for role, model in models.items():
        if model is not None:
            config = _with_stage(config, role, {"model": str(model)}, "command line")
    return config


def _with_stage(
    config: PipelineConfig, role: str, table: dict[str, Any], where: str
) -> PipelineConfig:
    name = table.pop("name", getattr(config, role))
    if name == OFF.get(role):
        return dataclasses.replace(config, **{role: None})
    if not isinstance(name, str):
        raise InvalidOption(f"{where}: [{role}] name must be a backend name, not {name!r}")
    options = dict(config.backend_options)
    options[role, name] = {**options.get((role, name), {}), **table}
    try:
        # imports the backend: unknown or not installed; its options as merged so far
        check_options(role, name, options[role, name])
        defaults = _defaults(role, name)
    except DubError as exc:
        raise InvalidOption(f"{where}: [{role}] {exc.message}") from None
    for key, value in table.items():
        _check_option(where, f"[{role}] {key}", value, defaults.get(key))
    return dataclasses.replace(config, **{role: name}, backend_options=options)


def _check_option(where: str, key: str, value: Any, default: Any) -> None:
    if key.endswith("] device"):
        _check_device(where, key, value)
    elif default is not None:
        _typed(where, key, value, type(default))
    is_path = isinstance(value, str) and os.sep in value
    if key.endswith(("] model", "_path")) and is_path and not Path(value).expanduser().exists():
        raise InvalidOption(f"{where}: {key}: {value!r} does not exist")


def _defaults(role: str, name: str) -> dict[str, Any]:
    """Each option's default, whose type a configured value must have."""
    parameters = inspect.signature(backend_class(role, name)).parameters
    empty = inspect.Parameter.empty
    return {
        key: parameters[key].default
        for key in accepts(role, name)
        if key not in PROVIDED and parameters[key].default is not empty
    }


def _align(where: str, table: dict[str, Any]) -> AlignOptions:
    fields = {f.name: f.default for f in dataclasses.fields(AlignOptions)}
    for key, value in table.items():
        if key not in fields:
            known = ", ".join(fields)
            raise InvalidOption(f"{where}: [align] unknown key {key!r}; known: {known}")
        _typed(where, f"[align] {key}", value, type(fields[key]))
    return AlignOptions(**table)


def _engine(where: str, table: dict[str, Any]) -> EngineSettings:
    for key, value in table.items():
        if key not in ENGINE_KEYS:
            known = ", ".join(ENGINE_KEYS)
            raise InvalidOption(f"{where}: [engine] unknown key {key!r}; known: {known}")
        _typed(where, f"[engine] {key}", value, ENGINE_KEYS[key])
    if table.get("executor", "threads") not in ("threads", "ray"):
        wrong = table["executor"]
        raise InvalidOption(f"{where}: [engine] executor must be threads or ray, not {wrong!r}")
    if table.get("workers", 1) < 1:
        wrong = table["workers"]
        raise InvalidOption(f"{where}: [engine] workers must be 1 or more, not {wrong}")
    resources = {key: float(table[key]) for key in ("num_cpus", "num_gpus") if key in table}
    return EngineSettings(
        table.get("workers"), table.get("executor"), table.get("ray_address"), resources
    )


def _table(where: str, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidOption(f"{where}: {key} must be a table ([{key}]), not {value!r}")
    return dict(value)


def _typed(where: str, key: str, value: Any, kind: type) -> Any:
    """``value`` if it is a ``kind`` (an int does for a float; a bool is not a number)."""
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise InvalidOption(f"{where}: {key} must be {kind.__name__}, not {value!r}")
    return value


def _check_device(where: str, key: str, value: Any) -> None:
    """The device's form only: a GPU on another machine (a Ray worker) is checked there."""
    try:
        resolve_device(str(value), lambda: 1 << 16)
    except DubError as exc:
        raise InvalidOption(f"{where}: {key}: {exc.message}") from None
