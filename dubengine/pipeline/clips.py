"""The per-line audio cache: each clip under a key made of everything that determines it (the
synthesizer and its options, the voice, the language, the text, the speed), so a re-render
speaks again only what changed."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._types import DEFAULT_SPEAKER, Segment, Speak, Voice
from ..media.decode import Audio


def key_of(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def voice_key(voice: Voice, synthesizer: str, language: str) -> str:
    """Identifies how a voice sounds: its name, blended style, adjustments, cloning reference."""
    style = None if voice.style is None else hashlib.sha256(voice.style.tobytes()).hexdigest()
    reference = None
    if voice.reference is not None:
        reference = hashlib.sha256(voice.reference.samples.tobytes()).hexdigest()
    return key_of(
        synthesizer,
        language,
        voice.name,
        style,
        round(voice.pitch_ratio, 6),
        round(voice.formant_ratio, 6),
        reference,
    )


def voice_keys(voices: dict[str, Voice], synthesizer: str, language: str) -> dict[str, str]:
    return {name: voice_key(voice, synthesizer, language) for name, voice in voices.items()}


def cached_speech(
    cache: ClipCache, speak_for: Callable[[Segment], Speak], keys: dict[str, str]
) -> Callable[[Segment], Speak]:
    """``speak_for`` with every clip kept in ``cache``, under its speaker's voice key."""
    return lambda segment: cache.speaking(
        speak_for(segment), keys[segment.speaker or DEFAULT_SPEAKER]
    )


class ClipCache:
    """Clips as ``<key>.npz`` (samples and rate) in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.misses = 0  # clips made anew: synthesizer calls

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def get(self, key: str) -> Audio | None:
        path = self.path(key)
        if not path.is_file():
            return None
        with np.load(path) as data:
            return Audio(data["samples"], int(data["rate"]))

    def put(self, key: str, audio: Audio) -> str:
        path = self.path(key)
        if not path.is_file():  # written whole, then renamed: a reader never sees half
            tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
            with tmp.open("wb") as handle:
                np.savez(handle, samples=audio.samples.astype(np.float32), rate=audio.sample_rate)
            os.replace(tmp, path)
        return key

    def speaking(self, speak: Speak, voice: str) -> Speak:
        """``speak`` through the cache: a (text, speed) this voice said before is read back."""

        def cached(text: str, speed: float) -> Audio:
            key = key_of("speech", voice, text, round(speed, 4))
            clip = self.get(key)
            if clip is None:
                self.misses += 1
                clip = speak(text, speed)
                self.put(key, clip)
            return clip

        return cached
