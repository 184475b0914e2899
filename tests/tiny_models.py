"""Model folders a user would bring (large-v3, NLLB, ...), built here small: the real
architecture with random weights, saved the way the real ones are, so a backend loads them
through the same code as a user's folder. Their output is gibberish by design."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def build_tiny_whisper(folder: Path) -> Path:
    """A CTranslate2 Whisper folder (what faster-whisper loads), converted from a
    transformers Whisper of width 16 with one layer each side, with Whisper's real tokenizer."""
    import ctranslate2.converters
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    from dubengine.weights import WHISPER_BASE, ensure_model

    base = ensure_model(WHISPER_BASE)  # for its tokenizer and language ids only
    torch.manual_seed(0)
    config = WhisperConfig(
        vocab_size=51865,
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_mel_bins=80,
        max_source_positions=1500,
        max_target_positions=448,
    )
    hf = folder.with_name(folder.name + "-hf")
    WhisperForConditionalGeneration(config).save_pretrained(hf)
    shutil.copy(base / "tokenizer.json", hf / "tokenizer.json")
    converter = ctranslate2.converters.TransformersConverter(str(hf), copy_files=["tokenizer.json"])
    converter.convert(str(folder), quantization="int8")
    settings = json.loads((base / "config.json").read_text())
    settings["alignment_heads"] = [[0, 0], [0, 1]]  # word timings from the one layer it has
    (folder / "config.json").write_text(json.dumps(settings))
    shutil.rmtree(hf)
    return folder
