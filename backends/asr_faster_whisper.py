"""Transcriber: faster-whisper (CTranslate2), Whisper base multilingual by default."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from dubengine.media.decode import Audio
from dubengine.toolkit import (
    LANGUAGES,
    ModelNotInstalled,
    Progress,
    ProgressEvent,
    Transcript,
    Word,
    no_progress,
)
from dubengine.toolkit.device import prefer_avx512, resolve_device
from dubengine.toolkit.lines import words_to_lines
from dubengine.weights import WHISPER_BASE, ensure_model

SAMPLE_RATE = 16_000
# Greedy, then one warmer retry: garbage audio cannot loop through six temperatures.
TEMPERATURES = (0.0, 0.4)


class FasterWhisperTranscriber:
    """Whisper via faster-whisper: VAD on, word timings on, language detected.

    Args:
        device: "auto", "cpu", "cuda" or "cuda:N".
        model: a CTranslate2 Whisper folder (e.g. large-v3 converted); default the embedded
            Whisper base. Never a hub name: dubengine does not download.
        compute_type: CTranslate2 compute type; "default" is int8 on CPU, float16 on CUDA.
        beam_size: beam width (5 as in Whisper; 1 is greedy and faster).
        threads: CPU threads (0 = CTranslate2's default).
        cache: model cache folder.
        languages: what language detection may answer; default the ten dubengine speaks, so
            a German clip Whisper finds "Latvian-ish" is still read as German.
    """

    weights = WHISPER_BASE  # or a CTranslate2 Whisper folder as ``model``

    def __init__(
        self,
        device: str = "auto",
        model: str | os.PathLike[str] | None = None,
        compute_type: str = "default",
        beam_size: int = 5,
        threads: int = 0,
        cache: str | os.PathLike[str] | None = None,
        languages: tuple[str, ...] = tuple(LANGUAGES),
    ) -> None:
        prefer_avx512()
        import ctranslate2
        from faster_whisper import WhisperModel

        kind, index = resolve_device(device, ctranslate2.get_cuda_device_count)
        if model is not None and not Path(model).is_dir():
            raise ModelNotInstalled(
                f"whisper model folder not found: {model} (give a local CTranslate2 folder; "
                "dubengine never downloads models)"
            )
        path = Path(model) if model else ensure_model(WHISPER_BASE, cache)
        if compute_type == "default":
            compute_type = "float16" if kind == "cuda" else "int8"
        started = time.perf_counter()
        self._model = WhisperModel(
            str(path),
            device=kind,
            device_index=index,
            compute_type=compute_type,
            cpu_threads=threads,
            local_files_only=True,
        )
        self.load_seconds = time.perf_counter() - started
        self.device = kind
        self.beam_size = beam_size
        self.languages = languages

    def transcribe(
        self, audio: Audio, language: str | None = None, progress: Progress = no_progress
    ) -> Transcript:
        if audio.sample_rate != SAMPLE_RATE:
            raise ValueError(
                f"the transcriber takes {SAMPLE_RATE} Hz audio, not {audio.sample_rate}"
            )
        samples = audio.mono()
        probability = None
        if language is None:
            language, probability = self._detect(samples)
        segments, info = self._model.transcribe(
            samples,
            language=language,
            beam_size=self.beam_size,
            temperature=TEMPERATURES,
            vad_filter=True,
            word_timestamps=True,
            condition_on_previous_text=False,
        )
        total = max(1, round(info.duration))
        words: list[Word] = []
        for segment in segments:
            words.extend(
                Word(
                    round(float(w.start), 3),
                    round(float(w.end), 3),
                    w.word,
                    round(float(w.probability), 3),
                )
                for w in segment.words or ()
            )
            progress(ProgressEvent("transcribe", min(total, round(segment.end)), total))
        progress(ProgressEvent("transcribe", total, total))
        return Transcript(
            language=info.language,
            language_probability=round(probability if probability is not None else 1.0, 3),
            segments=words_to_lines(words),
        )

    def detect_language(self, audio: Audio) -> tuple[str, float]:
        """The most likely of ``self.languages`` in the speech, with its probability."""
        return self._detect(audio.mono())

    def language_probabilities(self, audio: Audio) -> list[tuple[str, float]]:
        """Every language Whisper knows with its probability, the likeliest first (the free
        guess, not limited to ``self.languages``)."""
        return self._ranked(audio.mono())

    def _ranked(self, samples: np.ndarray) -> list[tuple[str, float]]:
        _, _, ranked = self._model.detect_language(
            samples, vad_filter=True, language_detection_segments=2
        )
        return [(code, float(p)) for code, p in ranked]

    def _detect(self, samples: np.ndarray) -> tuple[str, float]:
        ranked = self._ranked(samples)
        allowed = [(code, p) for code, p in ranked if code in self.languages]
        return max(allowed, key=lambda pair: pair[1]) if allowed else ranked[0]

    def close(self) -> None:
        self._model = None  # type: ignore[assignment]
