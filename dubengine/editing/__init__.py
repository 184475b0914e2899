"""Editable dubs: a finished dub kept as a project (``project``), edits to its lines that
mark what must be spoken again (``edits``), and a render that re-synthesizes only those lines
and re-mixes only where they are (``render``), from the pipeline's per-line audio cache."""

from .edits import (
    LINE_FIELDS,
    delete_segment,
    edit_segment,
    insert_segment,
    merge_segments,
    set_voice,
    split_segment,
)
from .project import Line, Project, Speaker, load_voices, read_state, save_project, write_state
from .render import Rendered, render

__all__ = [
    "LINE_FIELDS",
    "Line",
    "Project",
    "Rendered",
    "Speaker",
    "delete_segment",
    "edit_segment",
    "insert_segment",
    "load_voices",
    "merge_segments",
    "read_state",
    "render",
    "save_project",
    "set_voice",
    "split_segment",
    "write_state",
]
