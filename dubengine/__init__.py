"""dubengine: a local, offline dubbing engine.

Importing this package loads no model library; heavy imports happen inside backends.
"""

from ._errors import (
    BackendError,
    BackendUnavailable,
    DeviceUnavailable,
    DownloadFailed,
    DubError,
    InvalidOption,
    InvalidUrl,
    MediaError,
    ModelNotInstalled,
    ProcessingFailed,
    RequestError,
    UnknownBackend,
    UnsupportedLanguage,
)
from ._types import LANGUAGES, Segment, Transcript, Word

__version__ = "0.1.0"

# Loaded on first use, so ``import dubengine`` stays free of PyAV and model libraries.
_LAZY = {
    "dub": "._dub",
    "DubResult": "._dub",
    "AlignOptions": "._align",
    "LineFit": "._align",
    "DubOptions": "._pipeline",
    "PipelineConfig": "._pipeline",
    "Engine": "._jobs",
    "Job": "._jobs",
    "JobList": "._jobs",
    "JobNotCompleted": "._jobs",
    "JobNotFound": "._jobs",
    "JobResult": "._jobs",
    "JobStatus": "._jobs",
    "UploadTarget": "._jobs",
    "Limits": ".media.limits",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'dubengine' has no attribute {name!r}")


__all__ = [
    *_LAZY,
    "LANGUAGES",
    "Segment",
    "Transcript",
    "Word",
    "BackendError",
    "BackendUnavailable",
    "DeviceUnavailable",
    "DownloadFailed",
    "DubError",
    "InvalidOption",
    "InvalidUrl",
    "MediaError",
    "ModelNotInstalled",
    "ProcessingFailed",
    "RequestError",
    "UnknownBackend",
    "UnsupportedLanguage",
    "__version__",
]
