"""The studio: REST routes that edit a completed dub and render it again (extensions of the
reference's API, beside its routes), a line's audio to play, and the web page at /studio."""

from __future__ import annotations

import io
import wave
from collections.abc import Callable
from importlib.resources import files
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from .._errors import InvalidOption
from ..editing.tracks import Track
from ..jobs import Engine
from ..media.decode import Audio
from ..pipeline.mix import MIX_RATE
from .security import owner_of

TAG = "studio (extension)"


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class LineEdit(_Body):
    text: str | None = None
    translation: str | None = None
    speaker: str | None = None
    start: float | None = Field(default=None, allow_inf_nan=False)
    end: float | None = Field(default=None, allow_inf_nan=False)


class LineInsert(_Body):
    start: float = Field(allow_inf_nan=False)
    end: float = Field(allow_inf_nan=False)
    text: str
    translation: str
    speaker: str | None = None


class Split(_Body):
    at: float = Field(allow_inf_nan=False)


class VoiceChoice(_Body):
    voice: str


def studio_routes(app: FastAPI, engine: Engine) -> None:
    def owner(request: Request) -> str | None:
        return owner_of(request.state.token)

    base = "/api/dubbing/jobs/{job_id}"

    @app.get(base + "/segments", tags=[TAG])
    def segments(job_id: str, request: Request) -> dict[str, Any]:
        """The dub's lines (with fit and warnings), voices, revision and output_revision."""
        return engine.segments(job_id, owner(request))

    @app.patch(base + "/segments/{index}", tags=[TAG])
    def edit(job_id: str, index: int, body: LineEdit, request: Request) -> dict[str, Any]:
        """Changes a line; it is marked stale until the next render."""
        changes = body.model_dump(exclude_unset=True)
        if any(value is None for value in changes.values()):
            raise InvalidOption("a line's fields cannot be null")
        return engine.edit_segment(job_id, index, owner(request), **changes)

    @app.post(base + "/segments", tags=[TAG], status_code=201)
    def insert(job_id: str, body: LineInsert, request: Request) -> dict[str, Any]:
        return engine.insert_segment(job_id, owner=owner(request), **body.model_dump())

    @app.delete(base + "/segments/{index}", tags=[TAG])
    def delete(job_id: str, index: int, request: Request) -> dict[str, Any]:
        return engine.delete_segment(job_id, index, owner(request))

    @app.post(base + "/segments/{index}/split", tags=[TAG])
    def split(job_id: str, index: int, body: Split, request: Request) -> dict[str, Any]:
        return engine.split_segment(job_id, index, body.at, owner(request))

    @app.post(base + "/segments/{index}/merge", tags=[TAG])
    def merge(job_id: str, index: int, request: Request) -> dict[str, Any]:
        """The line and the one after it (same speaker) as one line."""
        return engine.merge_segments(job_id, index, owner(request))

    @app.patch(base + "/speakers/{speaker}", tags=[TAG])
    def voice(job_id: str, speaker: str, body: VoiceChoice, request: Request) -> dict[str, Any]:
        return engine.set_voice(job_id, speaker, body.voice, owner(request))

    @app.post(base + "/undo", tags=[TAG])
    def undo(job_id: str, request: Request) -> dict[str, Any]:
        """The dub as it was before its last edit (one step, none past the last render)."""
        return engine.undo(job_id, owner(request))

    @app.post(base + "/render", tags=[TAG], status_code=202)
    def render(job_id: str, request: Request) -> dict[str, Any]:
        """Renders the latest revision in the background (409 while a render runs); poll
        /segments for ``render`` and ``output_revision``."""
        return engine.render(job_id, owner(request))

    _audio_routes(app, engine, base, owner)


def _audio_routes(
    app: FastAPI, engine: Engine, base: str, owner: Callable[[Request], str | None]
) -> None:
    """A line's audio, and the studio page that plays it."""

    @app.get(
        base + "/segments/{index}/audio",
        tags=[TAG],
        responses={200: {"content": {"audio/wav": {}}}},
    )
    def audio(job_id: str, index: int, request: Request, track: Track = "dub") -> Response:
        """A line as heard in the original or in the latest render (WAV)."""
        samples = engine.line_audio(job_id, index, track, owner(request))
        return _wav_response(Audio(samples, MIX_RATE))

    @app.get(base + "/peaks", tags=[TAG])
    def peaks(job_id: str, request: Request, track: Track = "dub") -> dict[str, Any]:
        """The track's waveform: the largest sample of each 1/``per_second`` s, 0-255,
        base64-encoded bytes (cached on the server until the track changes)."""
        return engine.peaks(job_id, track, owner(request))

    @app.get(base + "/audio", tags=[TAG], responses={200: {"content": {"audio/wav": {}}}})
    def track_audio(job_id: str, request: Request, track: Track = "dub") -> Response:
        """The whole original or latest render, mono 24 kHz WAV, to play in the studio."""
        return _wav_response(engine.track_audio(job_id, track, owner(request)))

    @app.post(
        base + "/speakers/{speaker}/preview",
        tags=[TAG],
        responses={200: {"content": {"audio/wav": {}}}},
    )
    def preview(job_id: str, speaker: str, body: VoiceChoice, request: Request) -> Response:
        """The speaker's first line spoken in ``voice``, without changing the dub."""
        return _wav_response(engine.preview_voice(job_id, speaker, body.voice, owner(request)))

    @app.get("/studio", include_in_schema=False)
    def studio() -> HTMLResponse:
        return HTMLResponse(files("dubengine.server").joinpath("studio.html").read_text("utf-8"))


def _wav_response(audio: Audio) -> Response:
    return Response(_wav(audio.samples, audio.sample_rate), media_type="audio/wav")


def _wav(samples: np.ndarray, rate: int) -> bytes:
    """16-bit PCM WAV of float samples shaped (channels, n)."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").T.copy()
    out = io.BytesIO()
    with wave.open(out, "wb") as handle:
        handle.setnchannels(samples.shape[0])
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.tobytes())
    return out.getvalue()
