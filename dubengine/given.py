"""Lines the user already has, so the dub starts from them: source-language subtitles (no
transcription: their times and text are the lines; speakers are still diarized), target-
language subtitles on the same cues (no translation either: spoken exactly as given), or the
transcript JSON an earlier dub wrote (speakers and translations kept).

Everything is checked when it is read, before any model loads: a malformed file is refused
naming the file and the line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from ._errors import InvalidOption
from ._types import LANGUAGES, Segment, Transcript
from .subtitles import Cue, parse_subtitles

CUE_TOLERANCE_SEC = 0.5  # target cues must sit on the source cues' times, within this


@dataclass(frozen=True, slots=True)
class GivenLines:
    """The lines a dub starts from, instead of transcribing (and maybe translating)."""

    transcript: Transcript
    has_speakers: bool = False  # an earlier dub's transcript: no diarization needed
    translated: bool = False  # every line has its translation: no translation, no shortening

    def to_dict(self) -> dict[str, object]:
        return {
            "transcript": self.transcript.to_dict(),
            "has_speakers": self.has_speakers,
            "translated": self.translated,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> GivenLines:
        return cls(
            Transcript.from_dict(data["transcript"]),  # type: ignore[arg-type]
            bool(data["has_speakers"]),
            bool(data["translated"]),
        )


def given_lines(
    subtitles: str | None,
    translated: str | None,
    source_lang: str,
    names: tuple[str, str] = ("subtitles", "translated subtitles"),
) -> GivenLines | None:
    """From the texts of the files (None: not given); ``names`` say which in errors.

    Raises:
        InvalidOption: malformed, a language missing, or target cues not on the source's.
    """
    if subtitles is None:
        if translated is not None:
            raise InvalidOption(
                f"{names[1]} need the source-language subtitles of the same cues as well"
            )
        return None
    earlier = _earlier_dub(subtitles)
    if earlier is not None:
        if translated is not None:
            raise InvalidOption(f"{names[0]} is a dub's transcript: it has its translations")
        return earlier
    if source_lang == "auto":
        raise InvalidOption(f"{names[0]} do not say their language: give the source language")
    segments = tuple(
        Segment(i, start, end, text)
        for i, (start, end, text) in enumerate(parse_subtitles(subtitles, names[0]))
    )
    if translated is not None:
        segments = _with_translations(segments, parse_subtitles(translated, names[1]), names)
    return GivenLines(
        Transcript(language=source_lang, segments=segments), translated=translated is not None
    )


def check_within(given: GivenLines | None, duration: float) -> None:
    """Every line starts inside the media (a cue past its end is another file's)."""
    if given is None:
        return
    late = [s for s in given.transcript.segments if s.start >= duration]
    if late:
        raise InvalidOption(
            f"cue {late[0].id + 1} starts at {late[0].start:.2f} s, after the "
            f"media ends ({duration:.2f} s)"
        )


def read_given(
    subtitles: str | Path | None, translated: str | Path | None, source_lang: str
) -> GivenLines | None:
    """As ``given_lines``, from files."""
    texts = [_read(p) if p is not None else None for p in (subtitles, translated)]
    names = (str(subtitles), str(translated))
    return given_lines(texts[0], texts[1], source_lang, names)


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidOption(f"{path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise InvalidOption(f"{path}: not UTF-8 text") from None


def _earlier_dub(text: str) -> GivenLines | None:
    """The transcript of a dub's JSON sidecar (``<output>.json``), or None for other text."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        data = json.loads(text)
        transcript = Transcript.from_dict(data["transcript"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidOption(f"not a dub's transcript JSON ({type(exc).__name__}: {exc})") from None
    if not transcript.segments:
        raise InvalidOption("the dub's transcript has no lines")
    if transcript.language not in LANGUAGES:
        raise InvalidOption(
            f"the dub's transcript is in an unsupported language: {transcript.language!r}"
        )
    translated = all((s.translation or "").strip() for s in transcript.segments)
    return GivenLines(transcript, has_speakers=True, translated=translated)


def _with_translations(
    segments: tuple[Segment, ...], cues: list[Cue], names: tuple[str, str]
) -> tuple[Segment, ...]:
    if len(cues) != len(segments):
        raise InvalidOption(
            f"{names[1]} have {len(cues)} cues, {names[0]} {len(segments)}: "
            "they must be the same cues"
        )
    for line, (start, end, _) in zip(segments, cues, strict=True):
        if max(abs(start - line.start), abs(end - line.end)) > CUE_TOLERANCE_SEC:
            raise InvalidOption(
                f"{names[1]}: cue {line.id + 1} is at {start:.2f}-{end:.2f} s, "
                f"its source at {line.start:.2f}-{line.end:.2f} s"
            )
    return tuple(replace(s, translation=c[2]) for s, c in zip(segments, cues, strict=True))
