"""The model pool: backends by (role, name), created on first use, each released after the
last stage that needs it (decided once per run), or kept warm across jobs."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from .._measure import give_back_memory
from .._options import PipelineConfig
from ..registry import PROVIDED, accepts, check_options, create_backend

# The backend methods that run a model: their time is "inference" in the stage reports.
INFERENCE_METHODS = frozenset(
    {
        "separate",
        "transcribe",
        "diarize",
        "translate",
        "shorten",
        "synthesize",
        "embed",
        "match",
        "synthesize_like",
        "condition",
    }
)


class _Timed:
    """A backend whose model calls add their wall time to the pool's inference clock."""

    def __init__(self, backend: Any, pool: ModelPool, key: str) -> None:
        self._backend = backend
        self._pool = pool
        self._key = key  # "role:name"

    @property
    def wrapped(self) -> Any:
        return self._backend

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._backend, name)
        if name not in INFERENCE_METHODS:
            return attribute

        def timed(*args: Any, **kwargs: Any) -> Any:
            # A model call may make others (the voice matcher synthesizes and embeds): only
            # the outermost one counts, or inference would exceed the stage's wall time.
            pool = self._pool
            pool.used.add(self._key)
            pool.calls_open += 1
            started = time.perf_counter()
            try:
                return attribute(*args, **kwargs)
            finally:
                pool.calls_open -= 1
                if not pool.calls_open:
                    pool.inference_seconds += time.perf_counter() - started

        return timed


class ModelPool:
    """Backends by (role, name). ``release_after(stage)`` closes those whose last use, in
    the plan given to ``plan``, is that stage."""

    def __init__(self, config: PipelineConfig) -> None:
        self._config = config
        self._loaded: dict[tuple[str, str], _Timed] = {}
        self._last_use: Mapping[str, str] = {}
        self.load_seconds = 0.0  # model load time since the last take_times()
        self.inference_seconds = 0.0  # time inside model calls since the last take_times()
        self.calls_open = 0  # model calls under way (they may nest)
        self.loads: Counter[str] = Counter()  # role → backends made, over the pool's life
        self.used: set[str] = set()  # "role:name" of the backends called since take_times()

    def get(self, role: str, name: str) -> Any:
        if (role, name) not in self._loaded:
            options = self._provided(role, name) | self._config.options_for(role, name)
            check_options(role, name, options)
            started = time.perf_counter()
            backend = create_backend(role, name, **options)
            self.load_seconds += time.perf_counter() - started
            self.loads[role] += 1
            self._loaded[role, name] = _Timed(backend, self, f"{role}:{name}")
        return self._loaded[role, name]

    def check(self, backends: Mapping[str, str | None]) -> None:
        """Each configured backend's options checked before any of them loads, so a typo in
        the translator's options is refused before the separator has run."""
        for role, name in backends.items():
            if name is not None:
                check_options(role, name, self._config.options_for(role, name))

    def _provided(self, role: str, name: str) -> dict[str, Any]:
        """What the pool itself hands a backend that takes it: device, cache, embedder."""
        takes = set(accepts(role, name)) & set(PROVIDED)
        options: dict[str, Any] = {}
        if "device" in takes:
            options["device"] = self._config.device
        if "cache" in takes:
            options["cache"] = self._config.cache_dir
        if "embedder" in takes and role != "embedder":
            options["embedder"] = self.get("embedder", self._config.embedder)
        return options

    def loaded(self) -> list[tuple[str, str]]:
        return list(self._loaded)

    def take_times(self) -> tuple[float, float, tuple[str, ...]]:
        """(load, inference) seconds since the last call, and the backends called."""
        taken = (self.load_seconds, self.inference_seconds, tuple(sorted(self.used)))
        self.load_seconds = self.inference_seconds = 0.0
        self.used = set()
        return taken

    def plan(self, last_use: Mapping[str, str]) -> None:
        """role → key of the last stage that uses it, for this run."""
        self._last_use = dict(last_use)

    def release_after(self, stage_key: str) -> None:
        self.release(*[role for role, last in self._last_use.items() if last == stage_key])

    def release(self, *roles: str) -> None:
        """Closes the roles' backends (unless models are kept warm) and gives their memory
        back; a role asked for again loads again."""
        keys = [k for k in self._loaded if k[0] in roles]
        if self._config.keep_models_warm or not keys:
            return
        for key in keys:
            self._loaded.pop(key).close()
        give_back_memory()

    def close(self) -> None:
        for backend in self._loaded.values():
            backend.close()
        self._loaded.clear()
