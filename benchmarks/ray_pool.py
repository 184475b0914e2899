"""Jobs through the engine on Ray against the in-process executor, on the real pipeline.

    python benchmarks/ray_pool.py                 # 4 jobs of JFK (11 s) → es per variant
    python benchmarks/ray_pool.py --jobs 6 --input path/to/clip.wav

Variants, in one run: in-process (1 worker thread), Ray with 1 actor given every CPU (the
overhead of Ray for the same work), Ray with 1 and with 2 one-CPU actors (throughput as
actors are added). Each engine first runs one job per worker (models load: "warm-up"), then
the timed jobs, all queued at once. Prints per variant the warm-up, the timed jobs' wall time,
throughput (jobs per minute), the mean job time, and the peak RSS of the engine's process with
every process under it (Ray's raylet and actors included); writes JSON to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
JFK = ROOT.parent / "shared" / "data" / "speech" / "jfk_en.flac"
CPUS = os.cpu_count() or 1
VARIANTS = {
    "in-process, 1 worker": {"executor": "threads", "workers": 1},
    f"ray, 1 actor x {CPUS} CPU": {"executor": "ray", "workers": 1, "cpus": CPUS},
    "ray, 1 actor x 1 CPU": {"executor": "ray", "workers": 1, "cpus": 1},
    "ray, 2 actors x 1 CPU": {"executor": "ray", "workers": 2, "cpus": 1},
}


@dataclass
class TreeMemory:
    """Peak RSS of this process and all its descendants, sampled in a thread."""

    peak_mb: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> TreeMemory:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.5):
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # it ended meanwhile
                    total += proc.memory_info().rss
            self.peak_mb = max(self.peak_mb, total / 2**20)


def run_batch(engine: object, source: Path, count: int, target: str) -> list[float]:
    """Queues ``count`` jobs at once; each one's seconds from creation to completion."""
    from dubengine.jobs import JobStatus

    started = time.perf_counter()
    jobs = [engine.create_job(str(source), target) for _ in range(count)]
    took = []
    for job in jobs:
        done = engine.wait(job.job_id, timeout=3600, poll=0.1)
        if done.status is not JobStatus.COMPLETED:
            raise SystemExit(f"{job.job_id} {done.status.value}: {done.error_message}")
        took.append(time.perf_counter() - started)
    return took


def run_variant(name: str, spec: dict, source: Path, jobs: int, target: str) -> dict:
    import ray

    from dubengine import Engine, PipelineConfig

    config = PipelineConfig(device="cpu", keep_models_warm=True)
    if spec["executor"] == "ray":
        ray.init(num_cpus=CPUS, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as data, TreeMemory() as memory:
        engine = Engine(
            data,
            workers=spec["workers"],
            config=config,
            executor=spec["executor"],
            ray_actor_options={"num_cpus": spec.get("cpus", 1)},
        )
        try:
            started = time.perf_counter()
            run_batch(engine, source, spec["workers"], target)
            warmup = time.perf_counter() - started
            started = time.perf_counter()
            finished = run_batch(engine, source, jobs, target)
            wall = time.perf_counter() - started
            stats = engine.worker_stats()
        finally:
            engine.close()
            if spec["executor"] == "ray":
                ray.shutdown()
    return {
        "variant": name,
        "warmup_sec": round(warmup, 1),
        "jobs": jobs,
        "wall_sec": round(wall, 1),
        "jobs_per_min": round(60 * jobs / wall, 2),
        "mean_job_sec": round(wall / jobs * spec["workers"], 1),
        "peak_rss_mb": round(memory.peak_mb),
        "loads_per_worker": [s["loads"] for s in stats],
        "jobs_per_worker": [s["jobs"] for s in stats],
        "finished_at_sec": [round(t, 1) for t in finished],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--input", type=Path, default=JFK)
    parser.add_argument("--target", default="es")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = parser.parse_args()
    rows = []
    for name in args.variants:
        row = run_variant(name, VARIANTS[name], args.input, args.jobs, args.target)
        rows.append(row)
        print(
            f"{name}: warm-up {row['warmup_sec']} s; {row['jobs']} jobs in {row['wall_sec']} s"
            f" = {row['jobs_per_min']} jobs/min (one job {row['mean_job_sec']} s per worker);"
            f" peak RSS {row['peak_rss_mb']} MB; loads {row['loads_per_worker']}",
            flush=True,
        )
    base = rows[0]["mean_job_sec"] if rows else 0
    for row in rows[1:]:
        print(
            f"{row['variant']}: one job {row['mean_job_sec'] / base:.2f}x the in-process time, "
            f"throughput {row['jobs_per_min'] / rows[0]['jobs_per_min']:.2f}x"
        )
    out = ROOT / "benchmarks" / "results" / "ray_pool.json"
    out.write_text(json.dumps({"cpus": CPUS, "input": args.input.name, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
