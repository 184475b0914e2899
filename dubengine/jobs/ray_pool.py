"""Jobs on a Ray cluster: each engine worker holds one Ray actor, and each actor a warm
pipeline (models loaded once per actor, kept between jobs).

The job store stays with the engine. For each job the engine puts the validated input's bytes
in Ray's object store (no shared disk is assumed), the actor dubs it in a temporary folder of
its own, streams the job's progress back as its stages advance, and returns the output and
sidecars as bytes, which the engine writes into its result store.

An actor that dies mid-job (killed, out of memory, its node lost) fails that job with
``processing_failed`` and a reason; the slot starts a new actor for the next job. Actors
belong to the engine's process (not detached): when the engine dies, Ray ends them, and the
next engine on the data folder fails the job as after any crash.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .._errors import BackendUnavailable, DubError, ProcessingFailed
from .._options import DubOptions, PipelineConfig
from ..given import GivenLines
from ..media import MediaInfo
from ..pipeline import Pipeline
from .executors import Processed, ProgressSink, WorkerFailed, dub_with, warm

log = logging.getLogger("dubengine")
RAY_HINT = "executor='ray' needs Ray: pip install 'dubengine[ray]'"
STATS_TIMEOUT_SEC = 30


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BackendUnavailable(RAY_HINT) from None
    return ray


def actor_resources(config: PipelineConfig) -> dict[str, float]:
    """One CPU per actor, and one GPU when the stages run on CUDA."""
    if config.device.startswith("cuda"):
        return {"num_cpus": 1, "num_gpus": 1}
    return {"num_cpus": 1}


class RayExecutor:
    """Engine workers backed by Ray actors.

    Args:
        config: every actor's pipeline config (kept warm).
        factory: makes an actor's pipeline instead (it runs in the actor: it must pickle).
        address: the cluster to join ("auto": the one started with ``ray start``; an
            address; None or "local": a new one in this process). Ignored when Ray is
            already initialized here.
        actor_options: Ray's actor options (num_cpus, num_gpus, resources, ...), over the
            defaults of ``actor_resources``.
    """

    def __init__(
        self,
        config: PipelineConfig,
        factory: Callable[[], Pipeline] | None = None,
        address: str | None = None,
        actor_options: Mapping[str, Any] | None = None,
    ) -> None:
        ray = import_ray()
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            try:
                ray.init(address=None if address == "local" else address, include_dashboard=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = "a local Ray cluster" if address in (None, "local") else repr(address)
                raise BackendUnavailable(f"cannot start or join {where}: {exc}") from None
        # Two calls at once: stats and close are answered while a job runs.
        options = {"max_concurrency": 2} | actor_resources(config) | dict(actor_options or {})
        self._actor = ray.remote(DubActor).options(**options)
        self._config, self._factory = config, factory

    def slot(self, index: int) -> RaySlot:
        return RaySlot(lambda: self._actor.remote(self._config, self._factory))

    def close(self) -> None:
        if self._owns_ray:
            import_ray().shutdown()


class RaySlot:
    """One engine worker's actor, replaced when it dies."""

    def __init__(self, new_actor: Callable[[], Any]) -> None:
        self._new_actor = new_actor
        self.actor: Any = None
        self.actors_started = 0

    def dub(
        self,
        info: MediaInfo,
        options: DubOptions,
        work: Path,
        progress: ProgressSink,
        given: GivenLines | None = None,
    ) -> Processed:
        ray = import_ray()
        if self.actor is None:
            self.actor, self.actors_started = self._new_actor(), self.actors_started + 1
        data = ray.put(info.path.read_bytes())
        try:
            lines = given.to_dict() if given else None
            for ref in self.actor.dub.remote(info, data, options.to_dict(), lines):
                kind, payload = ray.get(ref)
                if kind == "progress":
                    progress(payload)
                elif kind == "error":
                    raise WorkerFailed(*payload)
                else:
                    return unpack(payload, work)
        except ray.exceptions.RayError as exc:
            self._drop()
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ProcessingFailed(
                f"the Ray worker running this job was lost ({type(exc).__name__}: {reason})"
            ) from None
        raise ProcessingFailed("the Ray worker ended the job without a result")

    def stats(self) -> dict[str, Any]:
        ray = import_ray()
        base = {"executor": "ray", "actors_started": self.actors_started}
        if self.actor is None:
            return base | {"alive": False, "jobs": 0, "loads": {}}
        try:
            return base | ray.get(self.actor.stats.remote(), timeout=STATS_TIMEOUT_SEC)
        except ray.exceptions.RayError:
            return base | {"alive": False, "jobs": 0, "loads": {}}

    def close(self) -> None:
        ray = import_ray()
        if self.actor is not None:
            with contextlib.suppress(ray.exceptions.RayError):  # close its models, then end it
                ray.get(self.actor.close.remote(), timeout=STATS_TIMEOUT_SEC)
            self._drop()

    def _drop(self) -> None:
        ray = import_ray()
        if self.actor is not None:
            ray.kill(self.actor)
            self.actor = None


def packed(paths: Iterable[Path]) -> dict[str, bytes]:
    """Each file's bytes by its name (a folder's files by their path under its name)."""
    files = {}
    for path in paths:
        inside = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in inside:
            files[str(file.relative_to(path.parent))] = file.read_bytes()
    return files


def unpack(payload: dict[str, Any], work: Path) -> Processed:
    """The actor's files, written into the job's work folder on this side."""
    work.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, data in payload["files"].items():
        path = work / name  # "talk.es.srt", or "talk.es.edit/clips/…" inside a folder
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        top = Path(name).parts[0]
        paths[top] = work / top
    output = paths.pop(payload["output"])
    return Processed(
        output, tuple(paths.values()), payload["report"], payload["language"], payload["project"]
    )


class DubActor:
    """A warm pipeline in a Ray worker process."""

    def __init__(self, config: PipelineConfig, factory: Callable[[], Pipeline] | None) -> None:
        import os

        self.pipeline = factory() if factory is not None else Pipeline(warm(config))
        self.jobs, self.pid = 0, os.getpid()

    def dub(
        self, info: MediaInfo, data: bytes, options: dict[str, Any], given: dict | None
    ) -> Iterator[tuple]:
        """("progress", job progress)..., then ("done", files) or ("error", (code, reason))."""
        self.jobs += 1
        folder = Path(tempfile.mkdtemp(prefix="dubengine-ray-"))
        try:
            source = folder / info.path.name
            source.write_bytes(data)
            here = dataclasses.replace(info, path=source)
            events: queue.SimpleQueue[tuple | None] = queue.SimpleQueue()
            lines = GivenLines.from_dict(given) if given else None
            job = (here, DubOptions.from_dict(options), folder, events, lines)
            run = threading.Thread(target=self._run, args=job, daemon=True)
            run.start()
            while (event := events.get()) is not None:
                yield event
            run.join()
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _run(
        self,
        info: MediaInfo,
        options: DubOptions,
        folder: Path,
        events: queue.SimpleQueue,
        given: GivenLines | None,
    ) -> None:
        try:
            done = dub_with(
                self.pipeline,
                info,
                options,
                folder / "out",
                lambda p: events.put(("progress", p)),
                given,
            )
            files = packed((done.output, *done.sidecars))
            events.put(
                (
                    "done",
                    {
                        "output": done.output.name,
                        "files": files,
                        "report": done.report,
                        "language": done.language,
                        "project": done.project,
                    },
                )
            )
        except DubError as exc:
            events.put(("error", (exc.code, exc.message)))
        except Exception as exc:  # a bug, not bad input: the trace stays in the worker's log
            log.exception("job failed in a Ray worker")
            events.put(
                ("error", ("processing_failed", f"internal error: {type(exc).__name__}: {exc}"))
            )
        finally:
            events.put(None)

    def stats(self) -> dict[str, Any]:
        return {
            "alive": True,
            "jobs": self.jobs,
            "pid": self.pid,
            "loads": dict(self.pipeline.models.loads),
        }

    def close(self) -> None:
        self.pipeline.close()
