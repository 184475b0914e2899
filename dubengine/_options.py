"""What a dub is asked for (``DubOptions``: the API's five job options, defined here once) and
how the engine runs it (``PipelineConfig``: backends, devices, timing fit).

``dub()``, ``Engine.create_job``, the server's request body and the CLI all build a
``DubOptions``; the server's request model is derived from its fields.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from ._errors import InvalidOption, UnsupportedLanguage
from ._types import LANGUAGES


@dataclass(frozen=True, slots=True)
class DubOptions:
    """The API's job options. ``validate`` raises the API's request errors.

    Attributes:
        target_lang: the dub's language (en, es, fr, de, it, pt, ru, ja, ko, zh).
        source_lang: the input's language, or "auto" to detect it.
        reduce_accent: prefer native pronunciation over similarity to the speaker.
        translation_lag_time: seconds (0-3) each dubbed line starts after its original.
        original_speech_volume: the original speech mixed under the dub (0-1).
    """

    target_lang: str
    source_lang: str = "auto"
    reduce_accent: bool = False
    translation_lag_time: float = 0.0
    original_speech_volume: float = 0.0

    @classmethod
    def build(cls, target_lang: str, **options: Any) -> DubOptions:
        """Options from keyword arguments, checked by name and range."""
        known = {f.name for f in dataclasses.fields(cls)} - {"target_lang"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise InvalidOption(
                f"unknown option {unknown[0]!r}; options: {', '.join(sorted(known))}"
            )
        return cls(target_lang=target_lang, **options).validate()

    def validate(self) -> DubOptions:
        if self.target_lang not in LANGUAGES:
            raise UnsupportedLanguage(f"Unsupported target language: {self.target_lang}")
        if self.source_lang != "auto" and self.source_lang not in LANGUAGES:
            raise UnsupportedLanguage(f"Unsupported source language: {self.source_lang}")
        if not 0 <= self.translation_lag_time <= 3:
            raise InvalidOption(
                f"translation_lag_time must be between 0 and 3 seconds, "
                f"not {self.translation_lag_time}"
            )
        if not 0 <= self.original_speech_volume <= 1:
            raise InvalidOption(
                f"original_speech_volume must be between 0 and 1, not {self.original_speech_volume}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DubOptions:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class AlignOptions:
    """How far a line may be pushed to fit.

    Attributes:
        max_speed: the fastest a line may be spoken, relative to the voice's natural pace
            (1.3: at most 30% faster). Native speed and time-stretch together stay below it.
        tts_max_speed: how much of that the synthesizer's own speed control provides before
            the time-stretcher takes over.
        gap: seconds of silence kept before the next line when borrowing.
        shorten_rounds: times a line that still does not fit is sent back to the translator.
    """

    max_speed: float = 1.3
    tts_max_speed: float = 1.3
    gap: float = 0.1
    shorten_rounds: int = 2


BackendKey = tuple[str, str]  # (role, name), e.g. ("transcriber", "faster-whisper")


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """Which backends run each stage, on which device, and how lines are fitted.

    Attributes:
        device: "auto", "cpu", "cuda" or "cuda:N", for every backend.
        separator: separator backend name; None keeps the soundtrack whole (the dub then
            replaces music and effects too).
        transcriber: transcriber backend name.
        diarizer: diarizer backend name; None makes every line one speaker.
        num_speakers: how many speakers there are, when known; None estimates it.
        voice_matcher: voice matcher backend name; None gives every speaker the
            synthesizer's default voice.
        translator: translator backend name.
        synthesizer: synthesizer backend name; None picks per language (pipeline.synthesize).
        embedder: speaker embedder for voice matching and the quality report's similarity.
        backend_options: extra constructor arguments per (role, name), e.g.
            {("transcriber", "faster-whisper"): {"model": "/models/large-v3", "beam_size": 5}};
            an argument the backend does not take is refused, naming those it does.
        align: how far lines may be sped up, borrowed and shortened.
        keep_models_warm: keep models loaded between stages and jobs.
        cache_dir: model cache folder (default $DUBENGINE_CACHE or ~/.cache/dubengine).
        quality: measure every dub (dubengine.quality): slower, as each line is transcribed
            back and each speaker's voice embedded.
    """

    device: str = "auto"
    separator: str | None = "spleeter"
    transcriber: str = "faster-whisper"
    diarizer: str | None = "seg3-campp"
    num_speakers: int | None = None
    voice_matcher: str | None = "nearest"
    translator: str = "qwen-ct2"
    synthesizer: str | None = None
    embedder: str = "campp"
    backend_options: dict[BackendKey, dict[str, Any]] = field(default_factory=dict)
    align: AlignOptions = field(default_factory=AlignOptions)
    keep_models_warm: bool = False
    cache_dir: str | os.PathLike[str] | None = None
    quality: bool = False

    def options_for(self, role: str, name: str) -> dict[str, Any]:
        return dict(self.backend_options.get((role, name), {}))
