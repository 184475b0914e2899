"""Synthesizer: espeak-ng, the Debian program (GPL-3, so we run it, never link it).

Robotic but intelligible, every language, about a hundred times faster than real time.
Japanese goes in as katakana (espeak-ng reads kana, not kanji), made by pyopenjtalk.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave

import numpy as np

from dubengine.media.decode import Audio
from dubengine.toolkit import (
    ESPEAK_VOICES,
    BackendUnavailable,
    ProcessingFailed,
    UnsupportedLanguage,
)

WORDS_PER_MINUTE = 165  # espeak's own default is 175, a little hurried for dialogue


class EspeakSynthesizer:
    """espeak-ng run as a separate program; ``voice`` is an espeak variant ("m3", "f2", ...).

    Args:
        device: accepted for a uniform interface; espeak-ng runs on the CPU only.
        executable: the program to run.
    """

    devices = ("cpu",)

    sample_rate = 22_050

    def __init__(self, device: str = "auto", executable: str = "espeak-ng") -> None:
        path = shutil.which(executable)
        if path is None:
            raise BackendUnavailable(
                f"{executable} is not installed; on Debian: apt-get install espeak-ng"
            )
        self._executable = path
        self.device = "cpu"
        self.load_seconds = 0.0

    def voices(self) -> tuple[str, ...]:
        return ("m1", "m3", "m7", "f1", "f2", "f4")

    def synthesize(
        self, text: str, language: str, voice: str | None = None, speed: float = 1.0
    ) -> Audio:
        if language not in ESPEAK_VOICES:
            raise UnsupportedLanguage(f"espeak-ng has no voice for {language!r}")
        if language == "ja":
            text = _katakana(text)
        name = ESPEAK_VOICES[language] + (f"+{voice}" if voice else "")
        rate = round(WORDS_PER_MINUTE * max(0.5, min(speed, 3.0)))
        result = subprocess.run(
            [self._executable, "-v", name, "-s", str(rate), "--stdout", "-b", "1", text],
            capture_output=True,
            check=False,
            timeout=120,
        )
        if result.returncode != 0 or not result.stdout:
            raise ProcessingFailed(f"espeak-ng failed: {result.stderr.decode(errors='replace')}")
        return _read_wav(result.stdout)

    def close(self) -> None:
        pass


def _katakana(text: str) -> str:
    import pyopenjtalk

    return pyopenjtalk.g2p(text, kana=True)


def _read_wav(data: bytes) -> Audio:
    with wave.open(io.BytesIO(data)) as wav:
        rate = wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    return Audio(_trim(samples)[None, :], rate)


def _trim(samples: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """espeak pads with silence; the timing fit wants the speech only."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    if not len(loud):
        return samples
    return samples[loud[0] : loud[-1] + 1]
