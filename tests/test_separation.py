"""Separating speech from music and effects, on real speech over a real soundtrack."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SPEECH, SPEECH_OVER_BACKGROUND_DB, VIDEO, require

from dubengine._errors import InvalidOption, ModelNotInstalled
from dubengine.media import Audio, decode_audio
from dubengine.quality.metrics import si_sdr
from dubengine.registry import create_backend
from dubengine.samples import under_speech

RATE = 44_100


@pytest.fixture(scope="module")
def known_mix() -> tuple[Audio, np.ndarray, np.ndarray]:
    """12 s of two people talking over Big Buck Bunny's soundtrack 6 dB under them."""
    speech = decode_audio(require(SPEECH / "two_speakers_en.wav"), RATE, 2).samples
    speech = speech[:, 6 * RATE : 18 * RATE]
    background = decode_audio(require(VIDEO / "bbb_vp8_vorbis_30s.webm"), RATE, 2).samples
    background = background[:, : speech.shape[1]]
    background = under_speech(speech, background, SPEECH_OVER_BACKGROUND_DB)
    return Audio((speech + background).astype(np.float32), RATE), speech, background


@pytest.fixture(scope="module")
def spleeter():
    separator = create_backend("separator", "spleeter", device="cpu")
    yield separator
    separator.close()


def test_spleeter_splits_speech_from_the_soundtrack(spleeter, known_mix):
    mixture, speech, background = known_mix
    stems = spleeter.separate(mixture)
    speech_sdr = si_sdr(stems.speech.samples, speech)
    background_sdr = si_sdr(stems.background.samples, background)
    print(
        f"spleeter: speech SI-SDR {speech_sdr:.1f} dB, background {background_sdr:.1f} dB, "
        f"mixture as background {si_sdr(mixture.samples, background):.1f} dB"
    )
    assert speech_sdr >= 12.0  # measured 17.3 dB
    assert background_sdr >= 8.0  # measured 11.1 dB
    assert stems.speech.samples.shape == stems.background.samples.shape == speech.shape
    # nothing is lost: the stems add up to the input
    np.testing.assert_allclose(
        stems.speech.samples + stems.background.samples, mixture.samples, atol=1e-5
    )


def test_chunked_separation_matches_one_pass(known_mix):
    mixture, _, background = known_mix
    whole = create_backend("separator", "spleeter", device="cpu", chunk_seconds=30)
    chunked = create_backend(
        "separator", "spleeter", device="cpu", chunk_seconds=4, overlap_seconds=0.5
    )
    a, b = whole.separate(mixture).background, chunked.separate(mixture).background
    assert si_sdr(b.samples, a.samples) >= 15.0
    assert si_sdr(b.samples, background) >= si_sdr(a.samples, background) - 1.0


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    import torch

    folder = tmp_path / "spleeter"
    folder.mkdir()
    for name in ("testcheckpoint0.ckpt", "testcheckpoint1.ckpt"):
        torch.save({"weights": np.ones(3), "hook": print}, folder / name)
    with pytest.raises(ModelNotInstalled, match="loads safely"):
        create_backend("separator", "spleeter", device="cpu", model=folder)


# demucs: no weights can be had, so a real HTDemucs with random weights, built here


def _tiny_demucs(path, sources=("drums", "bass", "other", "vocals")):
    import torch
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(0)
    kwargs = {
        "sources": list(sources),
        "channels": 8,
        "depth": 2,
        "samplerate": RATE,
        "segment": 2,
        "t_layers": 1,
        "t_heads": 2,
        "t_hidden_scale": 1.0,
        "dconv_depth": 1,
        "nfft": 1024,
    }
    model = HTDemucs(**kwargs)
    torch.save({"klass": HTDemucs, "args": (), "kwargs": kwargs, "state": model.state_dict()}, path)
    return model


def test_demucs_backend_runs_a_local_checkpoint_chunk_by_chunk(tmp_path, known_mix):
    import torch
    from demucs.apply import apply_model

    model = _tiny_demucs(tmp_path / "tiny.th").eval()
    separator = create_backend(
        "separator",
        "demucs",
        device="cpu",
        model=tmp_path / "tiny.th",
        chunk_seconds=3.0,
        overlap_seconds=0.5,
    )
    mixture = Audio(known_mix[0].samples[:, : 5 * RATE], RATE)
    stems = separator.separate(mixture)
    assert stems.speech.sample_rate == stems.background.sample_rate == RATE
    assert stems.speech.samples.shape == stems.background.samples.shape == (2, 5 * RATE)
    assert np.isfinite(stems.speech.samples).all()
    # the first chunk, before any cross-fade, is exactly what Demucs itself gives
    piece = torch.from_numpy(mixture.samples[:, : 3 * RATE])
    mean, std = piece.mean(0).mean(), piece.mean(0).std() + 1e-8
    with torch.inference_mode():
        out = (
            apply_model(model, ((piece - mean) / std)[None], shifts=0, split=True, overlap=0.25)[0]
            * std
            + mean
        )
    head = slice(0, int(2.5 * RATE))
    np.testing.assert_allclose(stems.speech.samples[:, head], out[3].numpy()[:, head], atol=1e-4)
    np.testing.assert_allclose(
        stems.background.samples[:, head], out[:3].sum(0).numpy()[:, head], atol=1e-4
    )


def test_demucs_needs_a_vocals_source_and_a_local_file(tmp_path):
    _tiny_demucs(tmp_path / "drums.th", sources=("drums", "other"))
    with pytest.raises(ModelNotInstalled, match="'vocals' source"):
        create_backend("separator", "demucs", device="cpu", model=tmp_path / "drums.th")
    with pytest.raises(InvalidOption, match="local checkpoint"):
        create_backend("separator", "demucs", device="cpu")
    with pytest.raises(ModelNotInstalled, match="does not exist"):
        create_backend("separator", "demucs", device="cpu", model=tmp_path / "none.th")


def test_the_stems_are_set_aside_on_disk_for_the_later_stages_unchanged(known_mix):
    from dubengine.pipeline.separate import Separated, set_aside, without_original

    mixture, speech, background = known_mix
    stems = Separated(mixture, Audio(speech, RATE), Audio(background, RATE))
    aside = set_aside(stems)
    assert without_original(aside).original is None  # only the transcriber hears it
    tracks = ((aside.original, mixture.samples), (aside.speech, speech))
    for kept, was in (*tracks, (aside.background, background)):
        assert isinstance(kept.samples, np.memmap) and kept.sample_rate == RATE
        assert np.array_equal(kept.samples, was)
    aside.speech.samples[:, :RATE] = 0.0  # a stage may write: its change stays its own
    assert not aside.speech.samples[:, :RATE].any() and speech[:, :RATE].any()
    nothing_separated = set_aside(Separated(mixture, mixture, None))
    assert nothing_separated.background is None and nothing_separated.original is None


def test_the_stage_separates_a_chunk_at_a_time_as_well_as_at_once(
    spleeter, known_mix, tmp_path, monkeypatch
):
    """Stage 1 decodes at the mix's rate and separates 4 s at a time here (30 s in a dub),
    so a long soundtrack is never resampled or separated whole."""
    from dubengine.media import probe, write_wav
    from dubengine.pipeline import separate as stage
    from dubengine.pipeline.mix import MIX_RATE

    mixture, speech, _ = known_mix
    path = write_wav(mixture, tmp_path / "mix.wav")
    monkeypatch.setattr(stage, "CHUNK_SEC", 4.0)
    monkeypatch.setattr(stage, "OVERLAP_SEC", 0.5)
    stems = stage.separate(probe(path), spleeter, lambda event: None, print)
    truth = decode_audio(path, MIX_RATE, 2).samples
    assert stems.speech.sample_rate == stems.background.sample_rate == MIX_RATE
    assert stems.speech.samples.shape == stems.background.samples.shape == truth.shape
    at_once = spleeter.separate(mixture)
    ours = decode_audio(write_wav(stems.speech, tmp_path / "speech.wav"), RATE, 2).samples
    chunked_sdr, whole_sdr = si_sdr(ours, speech), si_sdr(at_once.speech.samples, speech)
    print(f"speech SI-SDR: in 4 s chunks {chunked_sdr:.1f} dB, at once {whole_sdr:.1f} dB")
    assert chunked_sdr >= whole_sdr - 1.0
    # nothing is lost: speech + background is the soundtrack (up to the band resampling keeps)
    total = stems.speech.samples + stems.background.samples
    assert si_sdr(total, truth) >= 30.0


def test_centred_speech_moves_what_differs_between_channels_to_the_background():
    from dubengine.pipeline.separate import BLOCK, Separated, centre_speech

    rng = np.random.default_rng(0)
    n = BLOCK * 2 + 1000  # more than one block
    voice = rng.standard_normal(n).astype(np.float32)
    side = 0.1 * rng.standard_normal(n).astype(np.float32)
    speech = np.stack([voice + side, voice - side])
    background = rng.standard_normal((2, n)).astype(np.float32)
    expected = background + (speech - speech.mean(axis=0))
    stems = Separated(None, Audio(speech.copy(), RATE), Audio(background.copy(), RATE))
    centred = centre_speech(stems)
    np.testing.assert_allclose(centred.speech.samples, np.stack([voice, voice]), atol=1e-5)
    np.testing.assert_allclose(centred.background.samples, expected, atol=1e-5)
    # a speaker per channel, or one channel silent, is left as separated
    apart = np.stack([voice, rng.standard_normal(n).astype(np.float32)])
    silent = np.stack([voice, np.zeros(n, dtype=np.float32)])
    for stereo in (apart, silent):
        kept = centre_speech(Separated(None, Audio(stereo.copy(), RATE), Audio(background, RATE)))
        assert np.array_equal(kept.speech.samples, stereo)


def test_a_set_aside_stem_gives_back_what_was_read_and_reads_it_again(known_mix):
    import psutil

    from dubengine.media.decode import drop_resident, memory_mapped

    long = Audio(np.tile(known_mix[0].samples, (1, 20)), RATE)  # 4 minutes, 85 MB
    kept = memory_mapped(long)
    process = psutil.Process()
    before = process.memory_info().rss
    assert float(np.abs(kept.samples).sum()) > 0  # every page read
    read = process.memory_info().rss
    drop_resident(kept)
    dropped = process.memory_info().rss
    print(f"RSS: +{(read - before) / 1e6:.0f} MB read, +{(dropped - before) / 1e6:.0f} MB dropped")
    assert read - before > 60e6 and dropped - before < 10e6
    assert np.array_equal(kept.samples, long.samples)  # read again from the file
    drop_resident(known_mix[0])  # audio in memory: nothing to do
