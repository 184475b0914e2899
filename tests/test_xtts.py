"""XTTS-v2 cloning: the torchaudio stand-in against torchaudio's own numbers, coqui-tts
imported without torchaudio leaking out, a random-weight XTTS of the real architecture built
here and loaded from a folder by coqui-tts's own loading code, a whole dub through it (each
speaker conditioned on their own speech) and a studio voice change rendered with a cloned
voice, conditioned on nothing again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SPEECH, require
from dubengine.backends import torchaudio_standin as ta

from dubengine.pipeline.align import MAX_LEAD_SEC
from dubengine.toolkit import InvalidOption, ModelNotInstalled

REFERENCE = Path(__file__).parent / "data" / "torchaudio_2_11_reference.npz"
SPEAKER_MEL = {  # XTTS's speaker encoder (hifigan_decoder.speaker_encoder.torch_spec[1])
    "sample_rate": 16000, "n_fft": 512, "win_length": 400, "hop_length": 160,
    "window_fn": torch.hamming_window, "n_mels": 64,
}  # fmt: skip
CONDITIONING_MEL = {  # the GPT's conditioning mel (TorchMelSpectrogram)
    "sample_rate": 22050, "n_fft": 2048, "hop_length": 256, "win_length": 1024,
    "n_mels": 80, "f_max": 8000, "norm": "slaney", "power": 2,
}  # fmt: skip


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as data:  # made by scripts/torchaudio_reference.py
        return dict(data)


@pytest.mark.parametrize("rates", [(44100, 22050), (22050, 16000), (24000, 22050), (16000, 22050)])
def test_the_stand_in_resamples_as_torchaudio_does(reference, rates):
    source, target = rates
    out = ta.resample(torch.from_numpy(reference["input"]), source, target).numpy()
    expected = reference[f"resample_{source}_{target}"]
    assert out.shape == expected.shape
    assert np.abs(out - expected).max() <= 1e-6 * np.abs(expected).max()


@pytest.mark.parametrize(
    ("settings", "key"), [(SPEAKER_MEL, "speaker"), (CONDITIONING_MEL, "cond")]
)
def test_the_stand_in_mel_spectrograms_are_torchaudios(reference, settings, key):
    mel = ta.MelSpectrogram(**settings)
    out = mel(torch.from_numpy(reference["input"])).numpy()
    expected = reference[f"{key}_mel"]
    assert out.shape == expected.shape
    assert np.abs(out - expected).max() <= 1e-5 * np.abs(expected).max()
    assert np.allclose(mel.mel_scale.fb.numpy(), reference[f"{key}_fb"], rtol=0, atol=1e-7)


def test_the_stand_in_keeps_the_buffer_names_checkpoints_hold():
    state = ta.MelSpectrogram(**SPEAKER_MEL).state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == {
        "spectrogram.window": (400,),
        "mel_scale.fb": (257, 64),
    }


def test_the_stand_in_loads_a_file_at_its_own_rate_and_channels():
    from dubengine.media import probe

    path = require(SPEECH / "stereo_two_speakers.wav")
    samples, rate = ta.load(path)
    stream = probe(path).audio
    assert rate == stream.sample_rate and samples.dtype == torch.float32
    assert samples.shape[0] == 2
    assert samples.shape[1] == pytest.approx(stream.duration * rate, abs=2)
    assert 0.0 < samples.abs().max() <= 1.0


def test_importing_coqui_tts_leaves_no_torchaudio_behind():
    code = (
        "import sys\n"
        "from dubengine.backends.torchaudio_standin import standing_in\n"
        "with standing_in() as used:\n"
        "    from TTS.tts.models.xtts import Xtts\n"
        "import TTS.tts.models.xtts as x\n"
        "print(used, 'torchaudio' in sys.modules, 'torchcodec' in sys.modules,"
        " x.torchaudio.__standin__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "False", "True"]


def test_a_real_torchaudio_is_never_stood_in_for(monkeypatch):
    import importlib.machinery
    import importlib.util

    find_spec = importlib.util.find_spec

    def fake(name, *args):
        if name == "torchaudio":
            return importlib.machinery.ModuleSpec("torchaudio", None, origin="/site/torchaudio")
        return find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", fake)
    monkeypatch.delitem(sys.modules, "torchaudio", raising=False)
    with ta.standing_in() as used:
        assert used is False
        assert "torchaudio" not in sys.modules


def test_a_missing_or_wrong_model_folder_is_one_line_before_anything_loads(tmp_path):
    from dubengine.config import settings_from
    from dubengine.registry import check_options

    with pytest.raises(InvalidOption, match="needs its model folder"):
        check_options("synthesizer", "xtts", {})
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(
        ModelNotInstalled, match=r"not an XTTS-v2 model folder: it has no model\.pth, vocab\.json"
    ):
        check_options("synthesizer", "xtts", {"model": str(tmp_path)})
    with pytest.raises(InvalidOption, match=r"^x\.toml: \[synthesizer\] .* has no model\.pth"):
        settings_from({"synthesizer": {"name": "xtts", "model": str(tmp_path)}}, "x.toml")
    out = subprocess.run(
        [sys.executable, "-m", "dubengine", "dub", str(require(SPEECH / "short_en.wav")), "-t",
         "de", "--synthesizer", "xtts"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs its model folder" in lines[0], out.stderr


@pytest.fixture(scope="module")
def tiny_xtts(tmp_path_factory) -> Path:
    from tiny_models import build_tiny_xtts

    return build_tiny_xtts(tmp_path_factory.mktemp("xtts") / "XTTS-v2")


@pytest.fixture(scope="module")
def xtts(tiny_xtts):
    from dubengine.registry import create_backend

    synthesizer = create_backend("synthesizer", "xtts", model=str(tiny_xtts), device="cpu")
    yield synthesizer
    synthesizer.close()


@pytest.mark.slow
def test_a_model_folder_loads_through_coqui_tts_strictly_and_speaks_every_language(xtts):
    from dubengine._types import LANGUAGES
    from dubengine.media import Audio

    state = xtts._model.state_dict()
    encoder = "hifigan_decoder.speaker_encoder.torch_spec.1."
    assert state[encoder + "spectrogram.window"].shape == (400,)
    assert state[encoder + "mel_scale.fb"].shape == (257, 64)
    assert "torchaudio" not in sys.modules
    rng = np.random.default_rng(1)
    reference = Audio((0.1 * rng.standard_normal((1, 16000 * 6))).astype(np.float32), 16000)
    conditioning = xtts.condition(reference)
    assert conditioning["gpt_cond_latent"].shape == (1, 32, 128)
    assert conditioning["speaker_embedding"].shape == (1, 512, 1)
    for language in LANGUAGES:
        clip = xtts.synthesize_like("Hello, how are you?", language, reference, 1.0, conditioning)
        assert clip.sample_rate == 24000 and 0.2 < clip.duration < 6.0, language
    again = xtts.synthesize_like("Hello, how are you?", "de", reference, 1.0, conditioning)
    first = xtts.synthesize_like("Hello, how are you?", "de", reference, 1.0, conditioning)
    assert np.array_equal(again.samples, first.samples)  # a line spoken again sounds the same
    assert xtts.voices() == ("Tiny Stock",)
    assert xtts.synthesize("Guten Tag.", "de", voice="Tiny Stock").duration > 0.2


def test_a_long_line_is_spoken_in_pieces_within_the_languages_limit():
    from dubengine.backends.tts_xtts import text_chunks

    text = "Das ist der erste Satz. " * 8 + "Und dann, ohne Punkt, ein langer Teil " * 6
    pieces = list(text_chunks(text, 82))
    assert all(len(p) <= 82 for p in pieces) and len(pieces) > 3
    assert " ".join(pieces) == " ".join(text.split())
    assert pieces[0].endswith(".")


@pytest.fixture(scope="module")
def xtts_dub(tiny_xtts, tmp_path_factory):
    """``dubengine dub two_speakers_en.wav -t de --config xtts.toml --speakers 2`` with the
    random-weight model (its speech is noise-like, so lines are cut at the pace of speech)."""
    folder = tmp_path_factory.mktemp("xtts-dub")
    config = folder / "xtts.toml"
    config.write_text(
        f'[synthesizer]\nname = "xtts"\nmodel = "{tiny_xtts}"\nslowest_pace = 15.0\n'
        'device = "cpu"\n'
    )
    out = folder / "conversation.de.wav"
    source = require(SPEECH / "two_speakers_en.wav")
    run = subprocess.run(
        [sys.executable, "-m", "dubengine", "dub", str(source), "-t", "de", "--config",
         str(config), "--speakers", "2", "--out", str(out), "--json"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return source, out, json.loads(run.stdout)


@pytest.mark.slow
def test_the_cli_dubs_a_conversation_in_each_speakers_cloned_voice(xtts_dub):
    from dubengine.media import probe

    source, out, result = xtts_dub
    assert probe(out).duration == pytest.approx(probe(source).duration, abs=0.05)
    voices = result["voices"]
    assert sorted(voices) == ["SPEAKER_00", "SPEAKER_01"]
    lines = result["transcript"]["segments"]
    for speaker, voice in voices.items():
        assert voice["voice"] == f"cloned:{speaker}"
        own = [(s["start"], s["end"]) for s in lines if s["speaker"] == speaker]
        assert voice["reference_spans"] and all(
            any(a - 0.01 <= start and end <= b + 0.01 for a, b in own)
            for start, end in voice["reference_spans"]
        ), (voice["reference_spans"], own)  # each reference is the speaker's own speech
    stages = {s["name"]: s for s in result["stages"]}
    assert stages["Matching voices"]["backends"] == ["synthesizer:xtts"]  # no matcher loaded
    fits = result["fits"]
    assert len(fits) == len(lines) and all(f["text"] for f in fits)
    for fit in fits:  # every line placed at its line (an overflowing one may lead a little)
        assert fit["start"] >= fit["source_start"] - MAX_LEAD_SEC - 0.01
        assert fit["end"] <= fit["source_end"] + 1.5, fit


@pytest.fixture(scope="module")
def studio_dub(tiny_xtts, tmp_path_factory):
    """The conversation dubbed as a job of the engine the studio edits (a cloned voice per
    speaker, kept in its project), and the engine."""
    from dubengine import Engine, PipelineConfig

    config = PipelineConfig(
        device="cpu",
        num_speakers=2,
        synthesizer="xtts",
        backend_options={("synthesizer", "xtts"): {"model": str(tiny_xtts), "slowest_pace": 15.0}},
    )
    with Engine(tmp_path_factory.mktemp("studio"), workers=1, config=config) as engine:
        job = engine.create_job(str(require(SPEECH / "two_speakers_en.wav")), "de")
        assert engine.wait(job.job_id, timeout=900).status.value == "completed"
        yield engine, job.job_id


@pytest.mark.slow
def test_a_studio_voice_change_renders_with_the_other_speakers_clone_unconditioned(
    studio_dub, monkeypatch
):
    from dubengine.backends.tts_xtts import XttsSynthesizer

    from dubengine.media import decode_audio

    engine, job_id = studio_dub
    view = engine.segments(job_id)
    assert {"cloned:SPEAKER_00", "cloned:SPEAKER_01"} <= set(view["voices_available"])
    lines = view["segments"]
    before = decode_audio(engine.get_result(job_id).path, 48_000, 1).samples[0]
    conditioned = []
    original = XttsSynthesizer.condition
    monkeypatch.setattr(
        XttsSynthesizer, "condition", lambda self, ref: conditioned.append(1) or original(self, ref)
    )
    engine.set_voice(job_id, "SPEAKER_00", "cloned:SPEAKER_01")
    status = engine.render(job_id, wait=True)
    assert status["state"] == "done", status
    assert conditioned == []  # the kept conditioning was used: nobody conditioned again
    view = engine.segments(job_id)
    assert view["speakers"]["SPEAKER_00"]["voice"] == "cloned:SPEAKER_01"
    after = decode_audio(engine.get_result(job_id).path, 48_000, 1).samples[0]
    assert after.shape == before.shape
    changed = np.flatnonzero(before != after) / 48_000
    others = [(s["fit"]["start"], s["fit"]["end"]) for s in lines if s["speaker"] == "SPEAKER_01"]
    # where only SPEAKER_01 speaks: the two overlap in the conversation, and so in its dub
    respoken = [
        (s["fit"]["start"], s["fit"]["end"])
        for s in (*lines, *view["segments"])
        if s["speaker"] == "SPEAKER_00"
    ]
    inside_others = [
        t
        for t in changed
        if any(a + 0.2 < t < b - 0.2 for a, b in others)
        and not any(a - 0.2 < t < b + 0.2 for a, b in respoken)
    ]
    assert len(changed) > 48_000 * 0.5, "SPEAKER_00's lines were not spoken again"
    assert len(inside_others) < 0.05 * len(changed)  # SPEAKER_01's lines are as they were
