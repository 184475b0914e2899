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

__version__ = "0.1.0"

__all__ = [
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
