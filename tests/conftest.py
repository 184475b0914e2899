"""Shared fixtures: the real recordings in ../shared/data and inputs built from them with PyAV."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from dubengine.media import Audio, decode_audio
from dubengine.samples import under_speech

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SPEECH = DATA / "speech"
VIDEO = DATA / "video"

# Encoder per accepted codec, and the settings each needs.
VIDEO_ENCODERS: dict[str, tuple[str, str, dict[str, str]]] = {
    # codec: (encoder, pix_fmt, options)
    "h264": ("libx264", "yuv420p", {"preset": "ultrafast"}),
    "hevc": ("libx265", "yuv420p", {"preset": "ultrafast", "x265-params": "log-level=error"}),
    "vp8": ("libvpx", "yuv420p", {"deadline": "realtime", "cpu-used": "8"}),
    "vp9": ("libvpx-vp9", "yuv420p", {"deadline": "realtime", "cpu-used": "8"}),
    "av1": ("libsvtav1", "yuv420p", {"preset": "12"}),
    "prores": ("prores_ks", "yuv422p10le", {}),
    "mpeg4": ("mpeg4", "yuv420p", {}),
}
AUDIO_ENCODERS: dict[str, tuple[str, int, dict[str, str]]] = {
    # codec: (encoder, sample rate, options)
    "aac": ("aac", 48_000, {}),
    "mp3": ("libmp3lame", 44_100, {}),
    "opus": ("libopus", 48_000, {}),
    "vorbis": ("vorbis", 44_100, {"strict": "experimental"}),
    "pcm": ("pcm_s16le", 48_000, {}),
    "flac": ("flac", 44_100, {}),
    "ac3": ("ac3", 48_000, {}),
    "wma": ("wmav2", 44_100, {}),
}
MUXERS = {
    "mp4": "mp4",
    "mov": "mov",
    "mkv": "matroska",
    "webm": "webm",
    "avi": "avi",
    "flv": "flv",
    "ts": "mpegts",
    "wav": "wav",
    "mp3": "mp3",
    "flac": "flac",
    "ogg": "ogg",
    "m4a": "ipod",
    "aac": "adts",
    "wma": "asf",
}

FRAME_RATE = Fraction(24)
FRAME_SIZE = (320, 180)


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared test data not found: {path}")
    return path


@pytest.fixture(scope="session")
def speech_clip() -> Audio:
    """The first 2.5 s of JFK's inaugural line, 48 kHz stereo."""
    audio = decode_audio(require(SPEECH / "jfk_en.flac"), sample_rate=48_000, channels=2)
    return audio.with_duration(2.5)


@pytest.fixture(scope="session")
def picture_frames() -> list[np.ndarray]:
    """2.5 s of Big Buck Bunny frames at 320x180, RGB."""
    frames = []
    with av.open(str(require(VIDEO / "bbb_vp8_vorbis_30s.webm"))) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time < 10:  # skip the title cards' black
                continue
            rgb = frame.reformat(width=FRAME_SIZE[0], height=FRAME_SIZE[1], format="rgb24")
            frames.append(rgb.to_ndarray())
            if len(frames) == int(2.5 * FRAME_RATE):
                break
    return frames


MediaMaker = Callable[..., Path]


@pytest.fixture(scope="session")
def make_media(speech_clip: Audio, picture_frames: list[np.ndarray]) -> MediaMaker:
    """Builds a short real-content file in any container with any codecs, via PyAV."""

    def make(
        path: Path,
        container: str,
        video_codec: str | None = None,
        audio_codec: str | None = "aac",
        rotation: int = 0,
    ) -> Path:
        with av.open(str(path), "w", format=MUXERS[container]) as out:
            vstream = _add_video(out, video_codec, rotation) if video_codec else None
            astream = _add_audio(out, audio_codec) if audio_codec else None
            if vstream is not None:
                for i, rgb in enumerate(picture_frames):
                    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                    frame.pts = i
                    frame.time_base = 1 / FRAME_RATE
                    out.mux(vstream.encode(frame))
                out.mux(vstream.encode(None))
            if astream is not None:
                _encode_audio(out, astream, speech_clip)
        return path

    return make


def _add_video(out: av.container.OutputContainer, codec: str, rotation: int) -> av.VideoStream:
    encoder, pix_fmt, options = VIDEO_ENCODERS[codec]
    stream = out.add_stream(encoder, rate=FRAME_RATE, options=options)
    stream.width, stream.height = FRAME_SIZE
    stream.pix_fmt = pix_fmt
    if rotation:
        stream.set_display_rotation(rotation)
    return stream


def _add_audio(out: av.container.OutputContainer, codec: str) -> av.AudioStream:
    encoder, rate, options = AUDIO_ENCODERS[codec]
    stream = out.add_stream(encoder, rate=rate, layout="stereo", options=options)
    if codec not in {"pcm", "flac"}:
        stream.bit_rate = 128_000
    return stream


def _encode_audio(out: av.container.OutputContainer, stream: av.AudioStream, audio: Audio) -> None:
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(audio.samples), format="fltp", layout="stereo"
    )
    frame.sample_rate = audio.sample_rate
    frame.pts = 0
    frame.time_base = Fraction(1, audio.sample_rate)
    out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def write_silence_wav(path: Path, seconds: float, sample_rate: int = 8_000) -> Path:
    """A cheap long input: 8-bit mono silence (601 s is under 5 MB)."""
    with av.open(str(path), "w", format="wav") as out:
        stream = out.add_stream("pcm_u8", rate=sample_rate, layout="mono")
        total = round(seconds * sample_rate)
        for start in range(0, total, sample_rate * 10):
            n = min(sample_rate * 10, total - start)
            frame = av.AudioFrame.from_ndarray(
                np.full((1, n), 128, dtype=np.uint8), format="u8", layout="mono"
            )
            frame.sample_rate = sample_rate
            frame.pts = start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def similarity(a: np.ndarray, b: np.ndarray, sample_rate: int, max_lag: float = 0.1) -> float:
    """Peak normalised cross-correlation within ±max_lag (codecs add a little delay)."""
    n = min(len(a), len(b))
    a, b = a[:n] - a[:n].mean(), b[:n] - b[:n].mean()
    lag = int(max_lag * sample_rate)
    best = 0.0
    for shift in range(-lag, lag + 1, max(1, sample_rate // 4000)):
        x = a[max(0, shift) : n + min(0, shift)]
        y = b[max(0, -shift) : n - max(0, shift)]
        denom = float(np.linalg.norm(x) * np.linalg.norm(y)) or 1.0
        best = max(best, float(np.dot(x, y)) / denom)
    return best


@pytest.fixture(scope="session")
def speech_video(tmp_path_factory) -> Path:
    """Chaplin's H.264 picture with JFK's speech as its soundtrack (9.64 s)."""
    out = tmp_path_factory.mktemp("video") / "jfk_chaplin.mp4"
    speech = decode_audio(require(SPEECH / "jfk_en.flac"), 48_000, 2).with_duration(9.6)
    with (
        av.open(str(require(VIDEO / "chaplin_h264_mp3_10s.mp4"))) as src,
        av.open(str(out), "w") as dst,
    ):
        vin = src.streams.video[0]
        vout = dst.add_stream_from_template(vin)
        aout = dst.add_stream("aac", rate=48_000, layout="stereo")
        for packet in src.demux(vin):
            if packet.dts is not None:
                packet.stream = vout
                dst.mux(packet)
        frame = av.AudioFrame.from_ndarray(speech.samples, format="fltp", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = 48_000, 0, Fraction(1, 48_000)
        dst.mux(aout.encode(frame))
        dst.mux(aout.encode(None))
    return out


SPEECH_OVER_BACKGROUND_DB = 6.0  # dialogue above the soundtrack, as films mix it


@dataclass(frozen=True)
class Conversation:
    """A video whose soundtrack is known in parts: ``speech`` + ``background`` (48 kHz stereo)."""

    path: Path
    speech: Audio
    background: Audio


@pytest.fixture(scope="session")
def conversation_video(tmp_path_factory) -> Conversation:
    """Two people talking (two_speakers_en.wav, 30 s) over Big Buck Bunny's music and effects,
    6 dB under the speech, with its picture at 320x180 H.264; MP4 with AAC."""
    out = tmp_path_factory.mktemp("video") / "conversation_bbb.mp4"
    speech = decode_audio(require(SPEECH / "two_speakers_en.wav"), 48_000, 2)
    source = require(VIDEO / "bbb_vp8_vorbis_30s.webm")
    background = decode_audio(source, 48_000, 2).with_duration(speech.duration)
    background = Audio(
        under_speech(speech.samples, background.samples, SPEECH_OVER_BACKGROUND_DB), 48_000
    )
    mixture = speech.samples + background.samples
    with av.open(str(source)) as src, av.open(str(out), "w") as dst:
        vout = dst.add_stream("libx264", rate=24, options={"preset": "ultrafast"})
        vout.width, vout.height, vout.pix_fmt = 320, 180, "yuv420p"
        aout = dst.add_stream("aac", rate=48_000, layout="stereo", options={"b": "192k"})
        for index, frame in enumerate(src.decode(src.streams.video[0])):
            if index >= round(speech.duration * 24):
                break
            small = frame.reformat(width=320, height=180, format="yuv420p")
            small.pts, small.time_base = index, Fraction(1, 24)
            dst.mux(vout.encode(small))
        dst.mux(vout.encode(None))
        audio = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(mixture, dtype=np.float32), format="fltp", layout="stereo"
        )
        audio.sample_rate, audio.pts, audio.time_base = 48_000, 0, Fraction(1, 48_000)
        dst.mux(aout.encode(audio))
        dst.mux(aout.encode(None))
    return Conversation(out, speech, background)


@pytest.fixture
def fake_backends():
    """The fake backends registered for a test of the pipeline's plumbing, counts reset."""
    import fakes

    fakes.register_fakes()
    fakes.reset_counts()
    yield
    fakes.unregister_fakes()


# Real models, loaded once per test session (each load costs seconds and hundreds of MB): one
# warm pipeline holds them, and the backend fixtures hand out its instances.


@pytest.fixture(scope="session")
def warm_pipeline():
    from dubengine import Pipeline, PipelineConfig

    pipeline = Pipeline(PipelineConfig(device="cpu", keep_models_warm=True))
    yield pipeline
    pipeline.close()


@pytest.fixture(scope="session")
def transcriber(warm_pipeline):
    return warm_pipeline.models.get("transcriber", "faster-whisper")


@pytest.fixture(scope="session")
def translator(warm_pipeline):
    return warm_pipeline.models.get("translator", "qwen-ct2")


@pytest.fixture(scope="session")
def synthesizers(warm_pipeline):
    """Every embedded synthesizer by name."""
    return {name: warm_pipeline.models.get("synthesizer", name) for name in ("kokoro", "espeak-ng")}


@pytest.fixture(scope="session")
def jfk_es(warm_pipeline, tmp_path_factory):
    """JFK dubbed into Spanish, measured (quality=True): shared by the dub and quality tests."""
    from dubengine import dub

    out = tmp_path_factory.mktemp("dub") / "jfk.es.wav"
    return dub(
        require(SPEECH / "jfk_en.flac"),
        "es",
        out=out,
        pipeline=warm_pipeline,
        quality=True,
        stems=True,
    )


# A test that uses the session's real models is slow; so is one marked so by its module.
REAL_MODEL_FIXTURES = frozenset({"warm_pipeline"})


def pytest_collection_modifyitems(config, items):
    for item in items:
        if REAL_MODEL_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)
