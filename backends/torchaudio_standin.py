"""The part of torchaudio that XTTS-v2 inference uses, in plain torch, for the XTTS backend.

PyPI has no torchaudio for the torch this project pins, and coqui-tts refuses to import
without one, yet XTTS inference needs only ``load``, ``functional.resample`` and
``transforms.MelSpectrogram``. These follow torchaudio 2.11's Python code line for line (the
tests compare them with values it produced), and keep its module and buffer names
(``spectrogram.window``, ``mel_scale.fb``), which XTTS checkpoints hold and load strictly.

``standing_in()`` puts this module in ``sys.modules`` as ``torchaudio`` only while coqui-tts
imports, and takes it out after, so no other library ever sees it; the modules that imported
it keep their reference. When a real torchaudio is importable it does nothing.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import math
import os
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

# What coqui-tts looks for: it checks torchcodec's presence on torch >= 2.9, never imports it.
NAMES = ("torchaudio", "torchaudio.functional", "torchaudio.transforms", "torchcodec")


def resample(
    waveform: Tensor,
    orig_freq: int,
    new_freq: int,
    lowpass_filter_width: int = 6,
    rolloff: float = 0.99,
    resampling_method: str = "sinc_interp_hann",
    beta: float | None = None,
) -> Tensor:
    """Band-limited (windowed sinc) resampling, as ``torchaudio.functional.resample``."""
    if resampling_method != "sinc_interp_hann" or beta is not None:
        raise NotImplementedError("only the sinc_interp_hann resampling XTTS uses")
    if orig_freq <= 0 or new_freq <= 0:
        raise ValueError("sample rates must be positive")
    if orig_freq == new_freq:
        return waveform
    gcd = math.gcd(int(orig_freq), int(new_freq))
    old, new = int(orig_freq) // gcd, int(new_freq) // gcd
    kernel, width = _sinc_kernel(old, new, lowpass_filter_width, rolloff, waveform)
    shape = waveform.size()
    flat = waveform.view(-1, shape[-1])
    length = flat.shape[1]
    padded = torch.nn.functional.pad(flat, (width, width + old))
    out = torch.nn.functional.conv1d(padded[:, None], kernel, stride=old)
    out = out.transpose(1, 2).reshape(flat.shape[0], -1)
    target = torch.ceil(torch.as_tensor(new * length / old)).long()
    return out[..., :target].view((*shape[:-1], -1))


def _sinc_kernel(
    old: int, new: int, zeros: int, rolloff: float, like: Tensor
) -> tuple[Tensor, int]:
    base = min(old, new) * rolloff
    width = math.ceil(zeros * old / base)
    dtype, device = like.dtype, like.device
    idx = torch.arange(-width, width + old, dtype=dtype, device=device)[None, None] / old
    t = torch.arange(0, -new, -1, dtype=dtype, device=device)[:, None, None] / new + idx
    t = (t * base).clamp_(-zeros, zeros)
    window = torch.cos(t * math.pi / zeros / 2) ** 2
    t = t * math.pi
    kernels = torch.where(t == 0, torch.tensor(1.0).to(t), t.sin() / t)
    return kernels * (window * (base / old)), width


def _hz_to_mel(freq: float, mel_scale: str) -> float:
    if mel_scale == "htk":
        return 2595.0 * math.log10(1.0 + freq / 700.0)
    step, min_log_hz = 200.0 / 3, 1000.0
    if freq < min_log_hz:
        return freq / step
    return min_log_hz / step + math.log(freq / min_log_hz) / (math.log(6.4) / 27.0)


def _mel_to_hz(mels: Tensor, mel_scale: str) -> Tensor:
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    step, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / step, math.log(6.4) / 27.0
    freqs = step * mels
    log_t = mels >= min_log_mel
    freqs[log_t] = min_log_hz * torch.exp(logstep * (mels[log_t] - min_log_mel))
    return freqs


def melscale_fbanks(
    n_freqs: int,
    f_min: float,
    f_max: float,
    n_mels: int,
    sample_rate: int,
    norm: str | None = None,
    mel_scale: str = "htk",
) -> Tensor:
    """Triangular mel filters, (n_freqs, n_mels), as ``torchaudio.functional.melscale_fbanks``."""
    if norm not in (None, "slaney") or mel_scale not in ("htk", "slaney"):
        raise ValueError('norm is None or "slaney"; mel_scale is "htk" or "slaney"')
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    m_pts = torch.linspace(_hz_to_mel(f_min, mel_scale), _hz_to_mel(f_max, mel_scale), n_mels + 2)
    f_pts = _mel_to_hz(m_pts, mel_scale)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    fb = torch.max(torch.zeros(1), torch.min(down, up))
    if norm == "slaney":
        fb *= (2.0 / (f_pts[2 : n_mels + 2] - f_pts[:n_mels])).unsqueeze(0)
    return fb


class Spectrogram(torch.nn.Module):
    """Power spectrogram, (..., freq, time), as ``torchaudio.transforms.Spectrogram``."""

    def __init__(
        self,
        n_fft: int = 400,
        win_length: int | None = None,
        hop_length: int | None = None,
        pad: int = 0,
        window_fn: Callable[..., Tensor] = torch.hann_window,
        power: float | None = 2.0,
        normalized: bool = False,
        wkwargs: dict | None = None,
        center: bool = True,
        pad_mode: str = "reflect",
        onesided: bool = True,
    ) -> None:
        super().__init__()
        if normalized:
            raise NotImplementedError("normalized spectrograms are not used by XTTS")
        self.n_fft, self.pad, self.power = n_fft, pad, power
        self.win_length = win_length if win_length is not None else n_fft
        self.hop_length = hop_length if hop_length is not None else self.win_length // 2
        self.center, self.pad_mode, self.onesided = center, pad_mode, onesided
        self.register_buffer("window", window_fn(self.win_length, **(wkwargs or {})))

    def forward(self, waveform: Tensor) -> Tensor:
        if self.pad > 0:
            waveform = torch.nn.functional.pad(waveform, (self.pad, self.pad), "constant")
        shape = waveform.size()
        spec = torch.stft(
            waveform.reshape(-1, shape[-1]),
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window,
            center=self.center,
            pad_mode=self.pad_mode,
            normalized=False,
            onesided=self.onesided,
            return_complex=True,
        )
        spec = spec.reshape(shape[:-1] + spec.shape[-2:])
        if self.power is None:
            return spec
        return spec.abs() if self.power == 1.0 else spec.abs().pow(self.power)


class MelScale(torch.nn.Module):
    """Spectrogram → mel spectrogram, as ``torchaudio.transforms.MelScale``."""

    def __init__(
        self,
        n_mels: int = 128,
        sample_rate: int = 16000,
        f_min: float = 0.0,
        f_max: float | None = None,
        n_stft: int = 201,
        norm: str | None = None,
        mel_scale: str = "htk",
    ) -> None:
        super().__init__()
        f_max = f_max if f_max is not None else float(sample_rate // 2)
        if f_min > f_max:
            raise ValueError(f"Require f_min: {f_min} <= f_max: {f_max}")
        fb = melscale_fbanks(n_stft, f_min, f_max, n_mels, sample_rate, norm, mel_scale)
        self.register_buffer("fb", fb)

    def forward(self, specgram: Tensor) -> Tensor:
        return torch.matmul(specgram.transpose(-1, -2), self.fb).transpose(-1, -2)


class MelSpectrogram(torch.nn.Module):
    """Waveform → mel spectrogram, as ``torchaudio.transforms.MelSpectrogram``."""

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 400,
        win_length: int | None = None,
        hop_length: int | None = None,
        f_min: float = 0.0,
        f_max: float | None = None,
        pad: int = 0,
        n_mels: int = 128,
        window_fn: Callable[..., Tensor] = torch.hann_window,
        power: float = 2.0,
        normalized: bool = False,
        wkwargs: dict | None = None,
        center: bool = True,
        pad_mode: str = "reflect",
        onesided: bool | None = None,
        norm: str | None = None,
        mel_scale: str = "htk",
    ) -> None:
        super().__init__()
        win_length = win_length if win_length is not None else n_fft
        hop_length = hop_length if hop_length is not None else win_length // 2
        self.spectrogram = Spectrogram(
            n_fft, win_length, hop_length, pad, window_fn, power, normalized, wkwargs, center,
            pad_mode,
        )  # fmt: skip
        n_stft = n_fft // 2 + 1
        self.mel_scale = MelScale(n_mels, sample_rate, f_min, f_max, n_stft, norm, mel_scale)

    def forward(self, waveform: Tensor) -> Tensor:
        return self.mel_scale(self.spectrogram(waveform))


def load(path: str | os.PathLike[str]) -> tuple[Tensor, int]:
    """(channels, frames) float32 in [-1, 1] at the file's own rate, as ``torchaudio.load``
    (through the project's media layer; more than two channels come down to two)."""
    from dubengine.media import decode_audio, probe

    stream = probe(path).audio
    rate = (stream and stream.sample_rate) or 16_000  # no audio: decode_audio says so
    channels = min((stream and stream.channels) or 1, 2)
    return torch.from_numpy(decode_audio(path, rate, channels).samples.copy()), rate


def _module(name: str, **attributes: object) -> types.ModuleType:
    module = types.ModuleType(name, "stand-in: see dubengine.backends.torchaudio_standin")
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)  # found by find_spec
    module.__standin__ = True
    module.__dict__.update(attributes)
    return module


def standin_modules() -> dict[str, types.ModuleType]:
    functional = _module(
        "torchaudio.functional", resample=resample, melscale_fbanks=melscale_fbanks
    )
    transforms = _module(
        "torchaudio.transforms",
        Spectrogram=Spectrogram,
        MelScale=MelScale,
        MelSpectrogram=MelSpectrogram,
    )
    root = _module(
        "torchaudio", functional=functional, transforms=transforms, load=load, __version__="2.11.0"
    )
    return {
        "torchaudio": root,
        "torchaudio.functional": functional,
        "torchaudio.transforms": transforms,
        "torchcodec": _module("torchcodec"),
    }


def real_torchaudio() -> bool:
    """Whether a real torchaudio (not this stand-in) could be imported."""
    if "torchaudio" in sys.modules:
        return not getattr(sys.modules["torchaudio"], "__standin__", False)
    try:
        return importlib.util.find_spec("torchaudio") is not None
    except (ImportError, ValueError):
        return False


@contextmanager
def standing_in() -> Iterator[bool]:
    """While inside, ``import torchaudio`` gives the stand-in (unless a real one exists);
    yields whether the stand-in is in use. Nothing of it stays in ``sys.modules`` after."""
    if real_torchaudio():
        yield False
        return
    modules = standin_modules()
    if importlib.util.find_spec("torchcodec") is not None:
        del modules["torchcodec"]  # a real one stays itself
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield True
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
