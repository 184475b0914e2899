"""Editing completed jobs: the studio's view of a dub, edits through the job store (one
transaction each, so a CLI beside a server is safe), and renders in a background thread of
this process (also when jobs run on Ray: a render speaks a few lines, not a whole dub)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import DubError, InvalidOption
from .._options import PipelineConfig
from .._progress import ProgressEvent
from .._types import timing_summary
from ..dubbing import write_report, write_subtitles
from ..editing import Project, Rendered, load_voices, render, set_voice
from ..editing.edits import line_at
from ..editing.project import project_view
from ..editing.tracks import Track, peaks, playable, track_files
from ..media.decode import Audio
from ..pipeline.mix import MIX_RATE
from ..pipeline.pool import ModelPool
from ..pipeline.synthesize import speaker_of
from .store import JobStore

log = logging.getLogger("dubengine")
# A render's progress: speaking the stale lines is most of it, mixing and encoding the rest.
SPEAKING_SHARE = 80
PLAY_MARGIN_SEC = 0.15  # a line is played with a little of what surrounds it
PREVIEW_WORDS = 12  # of the speaker's first line, spoken in a voice being tried


class Editor:
    """Edits and renders the jobs of one store."""

    def __init__(self, store: JobStore, config: PipelineConfig) -> None:
        self.store, self.config = store, config
        self._models = ModelPool(config)
        self._one_render = threading.Lock()  # renders share the synthesizer: one at a time
        self._threads: dict[str, threading.Thread] = {}

    def view(self, job_id: str, owner: str | None = None) -> dict[str, Any]:
        row, project = self._project(job_id, owner)
        return {
            "job_id": job_id,
            "revision": row["revision"],
            "output_revision": row["output_revision"],
            "render": json.loads(row["render"]) if row["render"] else None,
            "can_undo": row["undo"] is not None,
            **project_view(project),
        }

    def change(self, job_id: str, owner: str | None, edit: Callable[[Project], Any]) -> dict:
        """One edit, stored with the next revision; the dub's view after it."""

        def apply(state: dict[str, Any]) -> None:
            project = Project.from_dict(state)
            edit(project)
            state.clear()
            state.update(project.to_dict())

        self.store.edit(job_id, owner, apply)
        return self.view(job_id, owner)

    def render(self, job_id: str, owner: str | None = None, wait: bool = False) -> dict:
        """Starts rendering the latest revision (409 while one runs); its status."""
        state, revision = self.store.claim_render(job_id, owner)
        row = self.store.row(job_id)
        thread = threading.Thread(
            target=self._render,
            name=f"dubengine-render-{job_id}",
            daemon=True,
            args=(
                job_id,
                Project.from_dict(state),
                revision,
                Path(row["output_path"]).parent,
                json.loads(row["report"]),
            ),
        )
        self._threads[job_id] = thread
        thread.start()
        if wait:
            thread.join()
        return self.view(job_id, owner)["render"]

    def line_audio(
        self, job_id: str, index: int, track: Track, owner: str | None = None
    ) -> np.ndarray:
        """Line ``index`` with PLAY_MARGIN_SEC around it, (channels, n) samples at MIX_RATE:
        as the latest render has it ("dub", its placed speech included), or the original
        (its two stems summed)."""
        row, project = self._project(job_id, owner)
        line = line_at(project, index)
        start, end = line.segment.start, line.segment.end
        if track == "dub" and line.fit is not None:
            start, end = min(start, line.fit.start), max(end, line.fit.end)
        span = slice(
            max(0, round((start - PLAY_MARGIN_SEC) * MIX_RATE)),
            round((end + PLAY_MARGIN_SEC) * MIX_RATE),
        )
        files = track_files(_folder(row, project), track)
        return sum(np.asarray(np.load(p, mmap_mode="r")[:, span]) for p in files)

    def undo(self, job_id: str, owner: str | None = None) -> dict[str, Any]:
        """The dub as it was before its last edit."""
        self.store.undo(job_id, owner)
        return self.view(job_id, owner)

    def peaks(self, job_id: str, track: Track, owner: str | None = None) -> dict[str, Any]:
        """The waveform of the original or of the latest render (see editing.tracks)."""
        row, project = self._project(job_id, owner)
        return peaks(_folder(row, project), track) | {"output_revision": row["output_revision"]}

    def track_audio(self, job_id: str, track: Track, owner: str | None = None) -> Audio:
        """The whole original or latest render, to play in the studio."""
        row, project = self._project(job_id, owner)
        return playable(_folder(row, project), track)

    def preview(self, job_id: str, speaker: str, voice: str, owner: str | None = None) -> Audio:
        """``speaker``'s first line spoken in ``voice`` as a render would speak it, before
        the voice is chosen; nothing is stored."""
        row, project = self._project(job_id, owner)
        set_voice(project, speaker, voice)  # checks both names; this copy only
        lines = [line.segment for line in project.lines if line.segment.speaker == speaker]
        if not lines:
            raise InvalidOption(f"{speaker} has no line to speak in {voice}")
        line = lines[0]
        text = " ".join((line.translation or line.text).split()[:PREVIEW_WORDS])
        voices = load_voices(_folder(row, project), project.speakers)
        speak_for = speaker_of(lambda: self._synthesizer(project), project.target_language, voices)
        with self._one_render:
            return speak_for(line)(text, 1.0)

    def wait(self, job_id: str, timeout: float | None = None) -> None:
        thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)

    def close(self) -> None:
        for thread in list(self._threads.values()):
            thread.join()
        self._models.close()

    def _project(self, job_id: str, owner: str | None) -> tuple[Any, Project]:
        row = self.store.project_row(job_id, owner)
        return row, Project.from_dict(json.loads(row["project"]))

    def _render(
        self, job_id: str, project: Project, revision: int, results: Path, report: dict
    ) -> None:
        try:
            with self._one_render:
                done = render(
                    project,
                    results / project.folder,
                    lambda: self._synthesizer(project),
                    self.config.align,
                    self._progress(job_id, revision),
                )
            report = self._rewrite_sidecars(project, done, revision, results, report)
            self.store.finish_render(
                job_id, project.to_dict(), revision, json.dumps(report, ensure_ascii=False)
            )
        except DubError as exc:
            self.store.fail_render(job_id, exc.message)
        except Exception as exc:  # a bug: say so, keep the trace in the log
            log.exception("render of %s failed", job_id)
            self.store.fail_render(job_id, f"internal error: {type(exc).__name__}: {exc}")

    def _synthesizer(self, project: Project) -> Any:
        return self._models.get("synthesizer", project.synthesizer.split(":", 1)[0])

    def _progress(self, job_id: str, revision: int) -> Callable[[ProgressEvent], None]:
        def write(event: ProgressEvent) -> None:
            share = event.completed / max(event.total, 1)
            if event.stage == "synthesizing":
                percent = round(share * SPEAKING_SHARE)
            else:
                percent = SPEAKING_SHARE + round(share * (99 - SPEAKING_SHARE))
            self.store.set(
                job_id,
                render={
                    "state": "rendering",
                    "revision": revision,
                    "stage": event.stage,
                    "percent": percent,
                },
            )

        return write

    @staticmethod
    def _rewrite_sidecars(
        project: Project, done: Rendered, revision: int, results: Path, report: dict
    ) -> dict:
        """Subtitles and the JSON report of the new render, in place of the old ones."""
        transcript = project.transcript()
        fits = [line.fit for line in project.lines if line.fit is not None]
        write_subtitles(done.output, fits, transcript)
        report = report | {
            "fits": [f.to_dict() for f in fits],
            "timing": timing_summary(fits),
            "transcript": report["transcript"]
            | {"segments": [s["segment"] for s in project.to_dict()["lines"]]},
            "revision": revision,
            "render": done.to_dict(),
        }
        kept = report["files"].get("transcript_json")
        if kept:
            write_report(results / Path(kept).name, report)
        return report


def _folder(row: Any, project: Project) -> Path:
    """The project folder of a job's dub, beside its output."""
    return Path(row["output_path"]).parent / project.folder
