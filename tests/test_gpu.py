"""Every default backend and a whole dub on CUDA: run by ``scripts/gpu_check.sh`` on a machine
with a GPU; skipped here without one (the CPU machines of this project have none)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SPEECH, require

from dubengine import DeviceUnavailable, PipelineConfig, dub
from dubengine.media import decode_audio, probe
from dubengine.registry import create_backend


def cuda_count() -> int:
    import ctranslate2

    return ctranslate2.get_cuda_device_count()


needs_cuda = pytest.mark.skipif(cuda_count() == 0, reason="no CUDA device")
pytestmark = [pytest.mark.gpu, needs_cuda]


@pytest.fixture(scope="module")
def clip():
    return decode_audio(require(SPEECH / "short_en.wav"), 16_000)


def test_transcriber_on_cuda_uses_float16(clip):
    transcriber = create_backend("transcriber", "faster-whisper", device="cuda")
    transcript = transcriber.transcribe(clip, "en")
    assert transcriber.device == "cuda" and transcript.segments


def test_translator_on_cuda():
    translator = create_backend("translator", "qwen-ct2", device="cuda")
    assert translator.device == "cuda"
    assert translator.translate_texts(["Good morning, everyone."], "en", "es")[0]


@pytest.mark.parametrize(
    ("role", "name"), [("separator", "spleeter"), ("diarizer", "seg3-campp"), ("embedder", "campp")]
)
def test_torch_backends_on_cuda(role, name, clip):
    backend = create_backend(role, name, device="cuda")
    if role == "separator":
        assert backend.separate(clip).speech.duration == pytest.approx(clip.duration, abs=0.05)
    elif role == "diarizer":
        assert backend.diarize(clip)
    else:
        assert np.isfinite(backend.embed(clip)).all()


def test_kokoro_on_cuda_or_a_clear_message():
    try:
        synthesizer = create_backend("synthesizer", "kokoro", device="cuda")
    except DeviceUnavailable as exc:
        pytest.skip(str(exc))
    assert synthesizer.synthesize("Hola a todos.", "es").duration > 0.3


def test_a_dub_on_cuda(tmp_path):
    source = require(SPEECH / "jfk_en.flac")
    result = dub(source, "es", out=tmp_path / "jfk.es.wav", config=PipelineConfig(device="cuda"))
    assert probe(result.output).duration == pytest.approx(probe(source).duration, abs=0.05)
    assert result.transcript.segments
