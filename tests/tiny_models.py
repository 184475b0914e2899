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


XTTS_SPECIAL = ["[STOP]", "[UNK]", "[SPACE]"]
XTTS_LANGUAGES = ["en", "es", "fr", "de", "it", "pt", "pl", "tr", "ru", "nl", "cs", "ar"]
XTTS_LANGUAGES += ["zh-cn", "hu", "ko", "ja", "hi"]


def _xtts_vocabulary(folder: Path) -> dict[str, int]:
    """A character vocabulary with XTTS's special and language tokens (the wheel has none;
    the real one is a BPE over the same tokens), saved as the tokenizers file XTTS reads."""
    import string

    from tokenizers import Tokenizer
    from tokenizers.models import BPE

    chars = string.ascii_lowercase + string.digits + string.punctuation
    chars += "àâäáãçèéêëìíîïñòóôöõùúûüßœæ¿¡" + "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
    tokens = XTTS_SPECIAL + [f"[{code}]" for code in XTTS_LANGUAGES] + ["[START]"]
    vocab = {token: i for i, token in enumerate(tokens + sorted(set(chars)))}
    Tokenizer(BPE(vocab, [], unk_token="[UNK]")).save(str(folder / "vocab.json"))
    return vocab


def build_tiny_xtts(folder: Path, layers: int = 2, dim: int = 128, heads: int = 4) -> Path:
    """An XTTS-v2 model folder (config.json, model.pth, vocab.json, speakers_xtts.pth) of
    XTTS's architecture with ``layers`` GPT layers of width ``dim`` (the real one: 30 × 1024),
    random weights, saved as the released checkpoint is (``{"model": {"xtts.…": …}}``)."""
    import torch
    from dubengine.backends.torchaudio_standin import standing_in

    with standing_in():
        from TTS.tts.configs.xtts_config import XttsAudioConfig, XttsConfig
        from TTS.tts.models.xtts import Xtts, XttsArgs

    folder.mkdir(parents=True, exist_ok=True)
    vocab = _xtts_vocabulary(folder)
    args = XttsArgs(
        gpt_layers=layers,
        gpt_n_model_channels=dim,
        gpt_n_heads=heads,
        gpt_number_text_tokens=len(vocab),
        gpt_start_text_token=vocab["[START]"],
        gpt_stop_text_token=vocab["[STOP]"],
        gpt_num_audio_tokens=1026,
        gpt_start_audio_token=1024,
        gpt_stop_audio_token=1025,
        gpt_use_perceiver_resampler=True,
        gpt_max_audio_tokens=605,
        gpt_max_text_tokens=402,
        gpt_max_prompt_tokens=70,
        gpt_code_stride_len=1024,
        decoder_input_dim=dim,
    )
    config = XttsConfig(
        model_args=args,
        audio=XttsAudioConfig(sample_rate=22050, output_sample_rate=24000),
        languages=XTTS_LANGUAGES,
        temperature=0.75,
        repetition_penalty=5.0,
        top_k=50,
        top_p=0.85,
        gpt_cond_len=30,
        gpt_cond_chunk_len=4,
        max_ref_len=30,
    )
    config.save_json(str(folder / "config.json"))
    torch.manual_seed(0)
    model = Xtts(config)
    state = {f"xtts.{key}": value for key, value in model.state_dict().items()}
    torch.save({"model": state}, folder / "model.pth")
    stock = {
        "gpt_cond_latent": torch.randn(1, 32, dim),
        "speaker_embedding": torch.randn(1, 512, 1),
    }
    torch.save({"Tiny Stock": stock}, folder / "speakers_xtts.pth")
    return folder
