"""A finished dub kept for editing: the state of its lines and voices (JSON: in the job
store for a job, else ``project.json``, never both) and beside the output, in
``<output stem>.edit/``, what a re-render reads: the input, the separated stems, the last mix
and dub track, and the clip cache."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._options import DubOptions
from .._types import DEFAULT_SPEAKER, LineFit, Segment, Transcript, Voice, Word
from ..media.decode import Audio
from ..pipeline import DubArtifacts
from ..pipeline.clips import ClipCache, key_of, voice_keys

FOLDER_SUFFIX = ".edit"
STATE_FILE = "project.json"
FORMAT = 1


@dataclass(slots=True)
class Speaker:
    """The voice one speaker is dubbed with."""

    voice: str
    pitch_ratio: float = 1.0
    formant_ratio: float = 1.0
    similarity: float | None = None
    style: str | None = None  # file of a blended style vector, in the project folder
    reference: str | None = None  # file of the speech a cloning synthesizer imitates
    conditioning: str | None = None  # file of what the synthesizer made of that speech


@dataclass(slots=True)
class Line:
    """One line of the dub as the editor sees it; ``stale`` until spoken again."""

    segment: Segment
    fit: LineFit | None = None
    clip: str | None = None  # the placed speech, a key of the clip cache
    stale: bool = False
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Project:
    """Everything that decides what a render writes, but the audio files."""

    folder: str  # the project folder's name, beside the output
    input: str  # the input's file name in the folder
    output: str  # the output's file name, beside the folder
    duration: float
    source_language: str
    target_language: str
    lag: float
    original_volume: float
    synthesizer: str  # "name:options", part of every clip's key
    gain_db: float  # the dub's gain from the first mix, kept so a re-render matches it
    voices_available: list[str]
    speakers: dict[str, Speaker]
    lines: list[Line]
    mixed_spans: list[list[float]] = field(default_factory=list)  # the lines' spans when mixed
    format: int = FORMAT

    @property
    def segments(self) -> tuple[Segment, ...]:
        return tuple(line.segment for line in self.lines)

    def transcript(self) -> Transcript:
        return Transcript(self.source_language, self.segments, target_language=self.target_language)

    def renumber(self) -> None:
        """Segment ids are positions; after a split, merge, insert or delete they move."""
        for i, line in enumerate(self.lines):
            if line.segment.id != i:
                line.segment = dataclasses.replace(line.segment, id=i)
                if line.fit is not None:
                    line.fit = dataclasses.replace(line.fit, id=i)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Project:
        lines = [
            Line(
                segment=Segment(
                    **{
                        **line["segment"],
                        "words": tuple(Word(**w) for w in line["segment"].get("words", ())),
                    }
                ),
                fit=LineFit(**line["fit"]) if line.get("fit") else None,
                clip=line.get("clip"),
                stale=line.get("stale", False),
                warnings=list(line.get("warnings", ())),
            )
            for line in data["lines"]
        ]
        speakers = {name: Speaker(**s) for name, s in data["speakers"].items()}
        return cls(**{**data, "lines": lines, "speakers": speakers})


def project_folder(output: Path) -> Path:
    """``talk.es.edit`` beside ``talk.es.mp4``."""
    return output.with_name(output.stem + FOLDER_SUFFIX)


def spans_of(segments: tuple[Segment, ...]) -> list[list[float]]:
    return [[s.start, s.end] for s in segments]


def placed_key(voice: str, fit: LineFit) -> str:
    """The key of a line's placed speech: its voice, text and how it was sped up."""
    return key_of("placed", voice, fit.text, round(fit.tts_speed, 4), round(fit.stretch, 4))


def save_project(
    folder: Path,
    artifacts: DubArtifacts,
    *,
    transcript: Transcript,
    input_path: Path,
    output: Path,
    options: DubOptions,
    duration: float,
) -> Project:
    """Writes what a re-render reads into ``folder`` (the input linked, the stems, the last
    mix and dub track, each placed line in the clip cache) and returns the project's state,
    which the caller keeps: the job store for a job, ``project.json`` for ``dub()``."""
    folder.mkdir(parents=True, exist_ok=True)
    _link_or_copy(input_path, folder / input_path.name)
    np.save(folder / "speech.npy", artifacts.speech.samples)
    if artifacts.background is not None:
        np.save(folder / "background.npy", artifacts.background.samples)
    np.save(folder / "mix.npy", artifacts.mixed.samples)
    np.save(folder / "dub.npy", artifacts.dub_track)
    voices = artifacts.voices
    speakers = {name: _save_voice(folder, name, voice) for name, voice in voices.items()}
    keys = voice_keys(voices, artifacts.synthesizer, options.target_lang)
    cache = ClipCache(folder / "clips")
    lines = []
    for segment, line in zip(transcript.segments, artifacts.placed, strict=True):
        voice = keys[segment.speaker or DEFAULT_SPEAKER]
        lines.append(Line(segment, line.fit, cache.put(placed_key(voice, line.fit), line.audio)))
    return Project(
        folder=folder.name,
        input=input_path.name,
        output=output.name,
        duration=duration,
        source_language=transcript.language,
        target_language=options.target_lang,
        lag=options.translation_lag_time,
        original_volume=options.original_speech_volume,
        synthesizer=artifacts.synthesizer,
        gain_db=artifacts.gain_db,
        voices_available=list(artifacts.voices_available),
        speakers=speakers,
        lines=lines,
        mixed_spans=spans_of(transcript.segments),
    )


def write_state(folder: Path, project: Project) -> Path:
    """The state of a project edited without a job store, beside its audio."""
    path = folder / STATE_FILE
    path.write_text(json.dumps(project.to_dict(), ensure_ascii=False), encoding="utf-8")
    return path


def read_state(folder: Path) -> Project:
    return Project.from_dict(json.loads((folder / STATE_FILE).read_text(encoding="utf-8")))


def _link_or_copy(source: Path, target: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(source, target)


def cloned_files(speaker: str) -> tuple[str, str]:
    """Where a speaker's cloned voice is kept in the project folder: their reference speech
    and what the synthesizer made of it (written once, kept while the project lives)."""
    return f"voices/{speaker}.reference.npz", f"voices/{speaker}.conditioning.npz"


def _save_voice(folder: Path, name: str, voice: Voice) -> Speaker:
    speaker = Speaker(voice.name, voice.pitch_ratio, voice.formant_ratio, voice.similarity)
    if voice.style is not None or voice.reference is not None:
        (folder / "voices").mkdir(exist_ok=True)
    if voice.style is not None:
        speaker.style = f"voices/{name}.style.npy"
        np.save(folder / speaker.style, voice.style)
    if voice.reference is not None:
        speaker.reference, speaker.conditioning = cloned_files(name)
        reference = voice.reference
        np.savez(folder / speaker.reference, samples=reference.samples, rate=reference.sample_rate)
        np.savez(folder / speaker.conditioning, **(voice.conditioning or {}))
    return speaker


def load_voices(folder: Path, speakers: dict[str, Speaker]) -> dict[str, Voice]:
    """The project's speakers as the synthesizer's voices."""
    voices = {}
    for name, speaker in speakers.items():
        style = np.load(folder / speaker.style) if speaker.style else None
        reference = conditioning = None
        if speaker.reference:
            with np.load(folder / speaker.reference) as data:
                reference = Audio(data["samples"], int(data["rate"]))
        if speaker.conditioning:
            with np.load(folder / speaker.conditioning) as data:
                conditioning = {key: data[key] for key in data.files} or None
        voices[name] = Voice(
            speaker.voice,
            style,
            speaker.pitch_ratio,
            speaker.formant_ratio,
            speaker.similarity,
            reference,
            conditioning=conditioning,
        )
    return voices


def project_view(project: Project) -> dict[str, Any]:
    """The lines and voices as the studio shows them."""
    return {
        "source_lang": project.source_language,
        "target_lang": project.target_language,
        "duration": project.duration,
        "voices_available": project.voices_available,
        "speakers": {
            name: {
                "voice": s.voice,
                "pitch_ratio": s.pitch_ratio,
                "formant_ratio": s.formant_ratio,
                "similarity": s.similarity,
            }
            for name, s in project.speakers.items()
        },
        "segments": [_line_view(line) for line in project.lines],
    }


def _line_view(line: Line) -> dict[str, Any]:
    segment, fit = line.segment, line.fit
    return {
        "index": segment.id,
        "start": segment.start,
        "end": segment.end,
        "text": segment.text,
        "translation": segment.translation,
        "speaker": segment.speaker,
        "stale": line.stale,
        "warnings": line.warnings,
        "fit": None
        if fit is None
        else {
            "start": fit.start,
            "end": fit.end,
            "text": fit.text,
            "speed": fit.speed,
            "method": fit.method,
            "overflow": fit.overflow,
            "iou": fit.iou,
        },
    }
