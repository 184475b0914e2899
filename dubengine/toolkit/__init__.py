"""What backends build on: errors, progress, the transcript types and small helpers.

Backends import from here (and from the public ``registry``, ``weights``, ``protocols``,
``samples`` and ``media``), never from the package's private ``_`` modules, so those can
change without touching an adapter. Submodules (``budget``, ``chat``, ``chunks``, ``device``,
``lines``, ``voicing``) are imported by name where used; this module re-exports what is light.
"""

from .._errors import (
    BackendError,
    BackendUnavailable,
    DeviceUnavailable,
    DubError,
    InvalidOption,
    MediaError,
    ModelNotInstalled,
    ProcessingFailed,
    UnsupportedLanguage,
)
from .._measure import trim_heap
from .._progress import Progress, ProgressEvent, no_progress
from .._types import ESPEAK_VOICES, LANGUAGES, Segment, Transcript, Word

__all__ = [
    "ESPEAK_VOICES",
    "LANGUAGES",
    "BackendError",
    "BackendUnavailable",
    "DeviceUnavailable",
    "DubError",
    "InvalidOption",
    "MediaError",
    "ModelNotInstalled",
    "ProcessingFailed",
    "Progress",
    "ProgressEvent",
    "Segment",
    "Transcript",
    "UnsupportedLanguage",
    "Word",
    "no_progress",
    "trim_heap",
]
