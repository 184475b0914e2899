"""Writes tests/data/torchaudio_2_11_reference.npz: what torchaudio 2.11's own Python code
gives for the resampling and mel spectrograms XTTS-v2 uses, for the stand-in's test.

torchaudio has no build for this project's torch, but these functions are plain torch in its
wheel; run them from the wheel with its compiled extension removed:

    pip download --no-deps torchaudio==2.11.0 -d /tmp/ta
    cd /tmp/ta && unzip -q torchaudio-2.11.0-*.whl -d x && rm -f x/torchaudio/lib/*.so
    PYTHONPATH=/tmp/ta/x python scripts/torchaudio_reference.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torchaudio

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "torchaudio_2_11_reference.npz"
RESAMPLINGS = ((44100, 22050), (22050, 16000), (24000, 22050), (16000, 22050))
SPEAKER_MEL = {  # XTTS's speaker encoder
    "sample_rate": 16000, "n_fft": 512, "win_length": 400, "hop_length": 160,
    "window_fn": torch.hamming_window, "n_mels": 64,
}  # fmt: skip
CONDITIONING_MEL = {  # the GPT's conditioning mel
    "sample_rate": 22050, "n_fft": 2048, "hop_length": 256, "win_length": 1024,
    "n_mels": 80, "f_max": 8000, "norm": "slaney", "power": 2,
}  # fmt: skip


def main() -> None:
    assert torchaudio.__version__.startswith("2.11"), torchaudio.__version__
    rng = np.random.default_rng(7)
    t = np.arange(6000) / 22050
    signal = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(6000)
    audio = torch.from_numpy(signal.astype(np.float32))[None]
    out = {"input": audio.numpy()}
    for source, target in RESAMPLINGS:
        resampled = torchaudio.functional.resample(audio, source, target)
        out[f"resample_{source}_{target}"] = resampled.numpy()
    for key, settings in (("speaker", SPEAKER_MEL), ("cond", CONDITIONING_MEL)):
        mel = torchaudio.transforms.MelSpectrogram(**settings)
        out[f"{key}_mel"] = mel(audio).numpy()
        out[f"{key}_fb"] = mel.mel_scale.fb.numpy()
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
