"""Small fake backends for the fast orchestration tests: registered through the registry like
any backend, they run in milliseconds and count what the pipeline does with them. They stand
in for models only in tests of the pipeline's plumbing, never for a stage's acceptance."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

import numpy as np

from dubengine import Pipeline, PipelineConfig, Segment, Transcript, Turn, Voice
from dubengine.media import Audio
from dubengine.protocols import Stems
from dubengine.registry import register_backend, unregister_backend

LOADS: Counter[str] = Counter()  # backend role → instances made
CLOSED: Counter[str] = Counter()  # backend role → instances closed
SYNTH_RATE = 16_000
CHARS_PER_SECOND = 15.0  # the fake voice's pace


class _Fake:
    role = ""

    def __init__(self, device: str = "auto") -> None:
        LOADS[self.role] += 1
        self.device = device

    def close(self) -> None:
        CLOSED[self.role] += 1


class FakeSeparator(_Fake):
    """Speech is the left channel's half, background the rest."""

    role = "separator"

    def separate(self, audio: Audio, progress=None) -> Stems:
        half = Audio(audio.samples * 0.5, audio.sample_rate)
        return Stems(speech=half, background=half)


class FakeTranscriber(_Fake):
    """Two lines, one per half of the input, in English; none for a silent input."""

    role = "transcriber"

    def transcribe(self, audio: Audio, language=None, progress=None) -> Transcript:
        if float(np.abs(audio.samples).max(initial=0.0)) < 1e-4:
            return Transcript(language="en")
        half = audio.duration / 2
        segments = (
            Segment(0, 0.1, half - 0.1, "Hello there."),
            Segment(1, half + 0.05, audio.duration - 0.1, "This line is rather long to say."),
        )
        return Transcript(language=language or "en", segments=segments)


class FakeDiarizer(_Fake):
    role = "diarizer"

    def diarize(self, audio: Audio, num_speakers=None, progress=None, **bounds) -> list[Turn]:
        half = audio.duration / 2
        return [Turn(0.0, half, "SPEAKER_00"), Turn(half, audio.duration, "SPEAKER_01")]


class FakeTranslator(_Fake):
    """Uppercases; ``shorten`` keeps the first word."""

    role = "translator"
    empty_ids: frozenset[int] = frozenset()

    def translate(
        self, transcript: Transcript, target: str, progress=None, paces=None
    ) -> Transcript:
        segments = tuple(
            replace(s, translation="" if s.id in self.empty_ids else s.text.upper())
            for s in transcript.segments
        )
        return replace(transcript, segments=segments, target_language=target)

    def shorten(
        self, segments: Sequence[Segment], source: str, target: str, max_chars: Sequence[int]
    ) -> list[str]:
        SHORTENED.extend(s.id for s in segments)
        return [(s.translation or s.text).split()[0] for s in segments]


SHORTENED: list[int] = []


class FakeSynthesizer(_Fake):
    """A tone as long as the text takes at CHARS_PER_SECOND, faster with ``speed``."""

    role = "synthesizer"
    sample_rate = SYNTH_RATE

    def voices(self) -> tuple[str, ...]:
        return ("low", "high")

    def synthesize(self, text: str, language: str, voice=None, speed: float = 1.0) -> Audio:
        seconds = max(0.05, len(text) / CHARS_PER_SECOND / speed)
        t = np.arange(int(seconds * SYNTH_RATE)) / SYNTH_RATE
        pitch = 220.0 if voice != "high" else 330.0
        return Audio((0.3 * np.sin(2 * np.pi * pitch * t)).astype(np.float32)[None, :], SYNTH_RATE)


class FakeCloner(FakeSynthesizer):
    """A cloning synthesizer: records each reference it was handed (their lengths, s)."""

    references: ClassVar[list[float]] = []

    def synthesize_like(self, text: str, language: str, reference: Audio, speed: float = 1.0):
        FakeCloner.references.append(reference.duration)
        return self.synthesize(text, language, None, speed)


class FakeEmbedder(_Fake):
    role = "embedder"

    def embed(self, audio: Audio) -> np.ndarray:
        return np.array([1.0, float(audio.duration)], dtype=np.float32)


class FakeMatcher(_Fake):
    """Voices in speaker order; records the embedder the pipeline handed it."""

    role = "voice_matcher"
    seen_embedder: object = None

    def __init__(self, device: str = "auto", embedder: object = None) -> None:
        super().__init__(device)
        FakeMatcher.seen_embedder = embedder

    def match(self, references, language, synthesizer, reduce_accent=False) -> dict[str, Voice]:
        names = synthesizer.voices()
        return {s: Voice(names[i % len(names)]) for i, s in enumerate(sorted(references))}


class PacedTranscriber(FakeTranscriber):
    """Takes as long as the audio lasts, like a real-time model, so a job stays in one stage
    long enough to be watched (or killed)."""

    def transcribe(self, audio: Audio, language=None, progress=None) -> Transcript:
        time.sleep(audio.duration)
        return super().transcribe(audio, language, progress)


class LoopingTranscriber(FakeTranscriber):
    """Loops on quiet audio (the fake separator's stem is the input at half level) and
    hears right on the mixture, as Whisper can on a stem full of separation artefacts."""

    calls = 0
    durations: ClassVar[list[float]] = []

    def transcribe(self, audio: Audio, language=None, progress=None) -> Transcript:
        LoopingTranscriber.calls += 1
        LoopingTranscriber.durations.append(audio.duration)
        heard = super().transcribe(audio, language, progress)
        if float(np.abs(audio.samples).max(initial=0.0)) > 0.6 or not heard.segments:
            return heard
        first = heard.segments[0]
        looped = replace(first, text="He's going to do it, " * 5 + "he's going to do it.")
        return replace(heard, segments=(looped, *heard.segments[1:]))


class ContextLoopingTranslator(FakeTranslator):
    """Loops a line when it translates it among others (a small model led astray by its
    context) and translates it right alone."""

    def translate(
        self, transcript: Transcript, target: str, progress=None, paces=None
    ) -> Transcript:
        result = super().translate(transcript, target, progress, paces)
        if len(result.segments) < 2:
            return result
        first = replace(result.segments[0], translation="NO, " * 6 + "NO.")
        return replace(result, segments=(first, *result.segments[1:]))


FAKES = {
    "separator": FakeSeparator,
    "transcriber": FakeTranscriber,
    "diarizer": FakeDiarizer,
    "translator": FakeTranslator,
    "synthesizer": FakeSynthesizer,
    "embedder": FakeEmbedder,
    "voice_matcher": FakeMatcher,
}


# Every role on its fake backend (register_fakes first).
CONFIG = PipelineConfig(
    device="cpu",
    separator="fake",
    transcriber="fake",
    diarizer="fake",
    translator="fake",
    synthesizer="fake",
    voice_matcher="fake",
    embedder="fake",
)


def register_fakes() -> None:
    for role, cls in FAKES.items():
        register_backend(role, "fake", cls, clobber=True)
    register_backend("transcriber", "fake-paced", PacedTranscriber, clobber=True)
    register_backend("synthesizer", "fake-cloner", FakeCloner, clobber=True)
    register_backend("transcriber", "fake-looping", LoopingTranscriber, clobber=True)
    register_backend("translator", "fake-looping", ContextLoopingTranslator, clobber=True)


def fake_pipeline() -> Pipeline:
    """A warm pipeline on the fakes, made where it runs: a Ray actor's own process registers
    them there (the factory pickles by reference to this module)."""
    register_fakes()
    return Pipeline(replace(CONFIG, keep_models_warm=True))


def paced_pipeline() -> Pipeline:
    """As ``fake_pipeline``, with transcription taking as long as the input."""
    register_fakes()
    return Pipeline(replace(CONFIG, keep_models_warm=True, transcriber="fake-paced"))


def unregister_fakes() -> None:
    for role in FAKES:
        unregister_backend(role, "fake")
    unregister_backend("transcriber", "fake-paced")
    unregister_backend("synthesizer", "fake-cloner")
    unregister_backend("transcriber", "fake-looping")
    unregister_backend("translator", "fake-looping")


def reset_counts() -> None:
    LOADS.clear()
    CLOSED.clear()
    SHORTENED.clear()
    FakeTranslator.empty_ids = frozenset()
    FakeCloner.references = []
    LoopingTranscriber.calls = 0
    LoopingTranscriber.durations = []
