"""Backends are chosen by name, imported lazily, and fail with a way out."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dubengine import BackendUnavailable, DeviceUnavailable, InvalidOption, UnknownBackend
from dubengine.registry import available, backend_class, register_backend
from dubengine.toolkit.device import resolve_device


def test_unknown_backend_error_lists_known_names():
    with pytest.raises(UnknownBackend) as caught:
        backend_class("transcriber", "whisper-xxl")
    assert "faster-whisper" in caught.value.message


def test_backend_with_missing_dependency_says_how_to_install(monkeypatch):
    from dubengine import registry

    monkeypatch.setitem(
        registry._registry, ("translator", "ghost"), ("ghost_mt_pkg:Ghost", "pip install ghost")
    )
    with pytest.raises(BackendUnavailable, match="pip install ghost"):
        backend_class("translator", "ghost")


def test_listing_backends_imports_none_of_them():
    assert {"kokoro", "espeak-ng"} <= set(available("synthesizer"))
    code = (
        "import sys; from dubengine.registry import available; available('synthesizer'); "
        "print([m for m in sys.modules if m.startswith('dubengine.backends.')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_register_backend_refuses_to_clobber_silently():
    with pytest.raises(ValueError, match="already registered"):
        register_backend("transcriber", "faster-whisper", object)


@pytest.mark.parametrize(
    ("requested", "gpus", "expected"),
    [
        ("cpu", 1, ("cpu", 0)),
        ("auto", 0, ("cpu", 0)),
        ("auto", 2, ("cuda", 0)),
        ("cuda:1", 2, ("cuda", 1)),
    ],
)
def test_device_resolution(requested, gpus, expected):
    assert resolve_device(requested, lambda: gpus) == expected


def test_cuda_without_gpu_raises_device_unavailable():
    with pytest.raises(DeviceUnavailable):
        resolve_device("cuda", lambda: 0)
    with pytest.raises(InvalidOption):
        resolve_device("tpu", lambda: 0)


def test_real_backend_asked_for_cuda_without_gpu_raises_device_unavailable():
    import ctranslate2

    if ctranslate2.get_cuda_device_count() > 0:
        pytest.skip("a GPU is present")
    with pytest.raises(DeviceUnavailable):
        backend_class("transcriber", "faster-whisper")(device="cuda")


def test_ctranslate2_is_told_to_use_avx512_where_the_cpu_has_it(tmp_path, monkeypatch):
    from dubengine.toolkit.device import prefer_avx512

    zen5 = tmp_path / "zen5"
    zen5.write_text(
        "vendor_id\t: AuthenticAMD\nflags\t\t: fpu avx2 avx512f avx512dq avx512bw avx512vl\n"
    )
    older = tmp_path / "older"
    older.write_text("vendor_id\t: AuthenticAMD\nflags\t\t: fpu avx avx2\n")
    monkeypatch.delenv("CT2_FORCE_CPU_ISA", raising=False)
    prefer_avx512(older)
    assert "CT2_FORCE_CPU_ISA" not in os.environ
    prefer_avx512(tmp_path / "missing")  # not Linux: CTranslate2 chooses
    assert "CT2_FORCE_CPU_ISA" not in os.environ
    prefer_avx512(zen5)
    assert os.environ["CT2_FORCE_CPU_ISA"] == "AVX512"
    monkeypatch.setenv("CT2_FORCE_CPU_ISA", "AVX2")  # the user's choice stays
    prefer_avx512(zen5)
    assert os.environ["CT2_FORCE_CPU_ISA"] == "AVX2"
