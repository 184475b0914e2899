"""Editable dubs: a finished dub kept as a project (``project``), edits to its lines that
mark what must be spoken again (``edits``), and a render that re-synthesizes only those lines
and re-mixes only where they are (``render``), from a per-line audio cache (``clips``)."""

from .edits import (
    LINE_FIELDS,
    delete_line,
    edit_line,
    insert_line,
    merge_lines,
    set_voice,
    split_line,
)
from .project import Line, Project, Speaker, load_voices, save_project
from .render import Rendered, render

__all__ = [
    "LINE_FIELDS",
    "Line",
    "Project",
    "Rendered",
    "Speaker",
    "delete_line",
    "edit_line",
    "insert_line",
    "load_voices",
    "merge_lines",
    "render",
    "save_project",
    "set_voice",
    "split_line",
]
