"""dubengine: a local, offline dubbing engine.

Importing this package loads no model library; heavy imports happen inside backends.
"""

from ._errors import (
    ApiError,
    BackendError,
    BackendUnavailable,
    DeviceUnavailable,
    DownloadFailed,
    DubError,
    InvalidOption,
    InvalidUrl,
    JobNotCompleted,
    JobNotFound,
    MediaError,
    ModelNotInstalled,
    ProcessingFailed,
    RequestError,
    UnknownBackend,
    UnsupportedLanguage,
)
from ._options import AlignOptions, DubOptions, PipelineConfig
from ._progress import STAGES, ProgressEvent, Stage
from ._types import (
    LANGUAGES,
    LineFit,
    MixReport,
    Segment,
    StageReport,
    Transcript,
    Turn,
    Voice,
    VoiceReport,
    Word,
)
from .registry import available, register_backend

__version__ = "0.1.0"

# Loaded on first use, so ``import dubengine`` stays free of PyAV and model libraries.
_LAZY = {
    "dub": ".dubbing",
    "diarize": ".diarization",
    "Diarization": ".diarization",
    "DubResult": ".dubbing",
    "OutputFiles": ".dubbing",
    "Pipeline": ".pipeline",
    "PipelineResult": ".pipeline",
    "QualityReport": ".quality",
    "Engine": ".jobs",
    "EngineHooks": ".jobs",
    "Job": ".jobs",
    "JobList": ".jobs",
    "JobResult": ".jobs",
    "JobStatus": ".jobs",
    "UploadTarget": ".jobs",
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
    "STAGES",
    "AlignOptions",
    "DubOptions",
    "LineFit",
    "MixReport",
    "PipelineConfig",
    "ProgressEvent",
    "Segment",
    "Stage",
    "StageReport",
    "Transcript",
    "Turn",
    "Voice",
    "VoiceReport",
    "Word",
    "available",
    "register_backend",
    "ApiError",
    "BackendError",
    "BackendUnavailable",
    "DeviceUnavailable",
    "DownloadFailed",
    "DubError",
    "InvalidOption",
    "InvalidUrl",
    "JobNotCompleted",
    "JobNotFound",
    "MediaError",
    "ModelNotInstalled",
    "ProcessingFailed",
    "RequestError",
    "UnknownBackend",
    "UnsupportedLanguage",
    "__version__",
]
