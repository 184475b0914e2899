"""The CTranslate2 seq2seq backend loads a user's model folder and runs it.

No NLLB, M2M100 or OPUS-MT weights can be had here, so the test builds a tiny Transformer with
the real architecture and random weights, plus a real SentencePiece model, in well under a
second. Its output is gibberish by design; what is checked is the loading, tokenising, language
tokens, batching and budget choice, i.e. the backend's own code.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from dubengine.backends.mt_ct2_seq2seq import Seq2SeqTranslator, language_tokens

from dubengine import ModelNotInstalled, UnsupportedLanguage
from dubengine._types import Segment, Transcript

CORPUS = [
    "hello world this is a tiny model",
    "ask not what your country can do for you",
    "the quick brown fox jumps over the lazy dog",
] * 20
FAMILY_SYMBOLS = {
    "nllb": ["eng_Latn", "spa_Latn", "fra_Latn"],
    "m2m100": ["__en__", "__es__", "__fr__"],
    "opus-mt": [">>spa<<", ">>fra<<"],
}


def build_tiny_model(folder: Path, family: str) -> Path:
    import ctranslate2.specs
    import sentencepiece

    folder.mkdir(parents=True)
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS),
        model_prefix=str(folder / "sentencepiece"),
        vocab_size=40,
        user_defined_symbols=FAMILY_SYMBOLS[family],
        bos_id=-1,
        pad_id=-1,
        unk_id=0,
        eos_id=1,
        minloglevel=2,
    )
    spm = sentencepiece.SentencePieceProcessor(model_file=str(folder / "sentencepiece.model"))
    vocab = ["<s>"] + [spm.id_to_piece(i) for i in range(spm.get_piece_size())]
    spec = ctranslate2.specs.TransformerSpec.from_config((1, 1), 2)
    rng = np.random.default_rng(0)
    for name, value in spec.variables().items():
        if value is None:
            shape = _shape(name, d=16, ff=32, vocab=len(vocab))
            weights = (
                np.ones(shape, np.float32)
                if name.endswith("gamma")
                else (0.1 * rng.standard_normal(shape)).astype(np.float32)
            )
            _set(spec, name, weights)
    spec.register_source_vocabulary(vocab)
    spec.register_target_vocabulary(vocab)
    spec.validate()
    spec.optimize(quantization=None)
    spec.save(str(folder))
    return folder


def _shape(name: str, d: int, ff: int, vocab: int) -> tuple[int, ...]:
    if name.endswith(("gamma", "beta")):
        return (d,)
    if "embeddings" in name or "projection" in name:
        return (vocab, d)
    if "ffn/linear_0" in name:
        return (ff, d)
    if "ffn/linear_1" in name:
        return (d, ff)
    if "self_attention/linear_0" in name:
        return (3 * d, d)  # fused query, key, value
    if "/attention/linear_1" in name:
        return (2 * d, d)  # fused key, value of the cross attention
    return (d, d)


def _set(root: object, name: str, value: np.ndarray) -> None:
    obj = root
    *path, leaf = name.split("/")
    for part in path:
        indexed = re.fullmatch(r"(.*)_(\d+)", part)
        if hasattr(obj, part) or not indexed:
            obj = getattr(obj, part)
        else:
            obj = getattr(obj, indexed.group(1))[int(indexed.group(2))]
    setattr(obj, leaf, value)


@pytest.fixture(scope="module", params=sorted(FAMILY_SYMBOLS))
def tiny_model(request, tmp_path_factory) -> tuple[str, Path]:
    family = request.param
    return family, build_tiny_model(tmp_path_factory.mktemp("ct2") / family, family)


def test_loads_and_translates_every_line_of_a_transcript(tiny_model):
    family, folder = tiny_model
    translator = Seq2SeqTranslator(folder, device="cpu", beam_size=2)
    assert translator.family == family
    transcript = Transcript(
        language="en",
        segments=(
            Segment(0, 0.0, 2.0, "hello world"),
            Segment(1, 2.5, 5.0, "ask not what your country can do for you"),
        ),
    )
    result = translator.translate(transcript, "es")
    assert result.target_language == "es"
    assert [s.text for s in result.segments] == [s.text for s in transcript.segments]
    for segment in result.segments:
        assert isinstance(segment.translation, str)
        assert "spa_Latn" not in segment.translation and "__es__" not in segment.translation


def test_language_tokens_per_family():
    assert language_tokens("nllb", "en", "ja") == (["eng_Latn"], ["jpn_Jpan"])
    assert language_tokens("m2m100", "fr", "zh") == (["__fr__"], ["__zh__"])
    assert language_tokens("opus-mt", "en", "de") == ([], [])
    with pytest.raises(UnsupportedLanguage):
        language_tokens("nllb", "en", "xx")


def test_folder_without_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotInstalled, match=r"model\.bin"):
        Seq2SeqTranslator(tmp_path, device="cpu")
