"""Translator: a user-supplied CTranslate2 sequence-to-sequence model (NLLB-200, M2M100, OPUS-MT).

No registry package ships these weights, so the folder comes from the user (converted with
``ct2-transformers-converter``, with the model's SentencePiece file copied beside it). The
family is read off the vocabulary: NLLB has ``eng_Latn``-style tokens, M2M100 ``__en__``,
OPUS-MT neither (a multi-target OPUS-MT model has ``>>spa<<`` tokens).

Such models cannot be told a length, so the budget is met by choice: the beam returns several
hypotheses and we keep the best-scored one that fits, else the shortest.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from dubengine.toolkit import (
    LANGUAGES,
    ModelNotInstalled,
    Progress,
    ProgressEvent,
    Segment,
    Transcript,
    UnsupportedLanguage,
    no_progress,
)
from dubengine.toolkit.budget import Paces, best_fit, line_budgets
from dubengine.toolkit.device import prefer_avx512, resolve_device

NLLB_CODES = {
    "en": "eng_Latn",
    "es": "spa_Latn",
    "fr": "fra_Latn",
    "de": "deu_Latn",
    "it": "ita_Latn",
    "pt": "por_Latn",
    "ru": "rus_Cyrl",
    "ja": "jpn_Jpan",
    "ko": "kor_Hang",
    "zh": "zho_Hans",
}
# OPUS-MT multi-target models select the output language with a ">>xxx<<" token.
OPUS_CODES = {
    "en": "eng",
    "es": "spa",
    "fr": "fra",
    "de": "deu",
    "it": "ita",
    "pt": "por",
    "ru": "rus",
    "ja": "jpn",
    "ko": "kor",
    "zh": "cmn_Hans",
}
_SPM_NAMES = ("sentencepiece.bpe.model", "sentencepiece.model", "spm.model", "source.spm")


def language_tokens(family: str, source: str, target: str) -> tuple[list[str], list[str]]:
    """(tokens before the source text, target prefix) for a model family."""
    for code in (source, target):
        if code not in LANGUAGES:
            raise UnsupportedLanguage(f"Unsupported target language: {code}")
    if family == "nllb":
        return [NLLB_CODES[source]], [NLLB_CODES[target]]
    if family == "m2m100":
        return [f"__{source}__"], [f"__{target}__"]
    return [], []


class Seq2SeqTranslator:
    """A CTranslate2 ``Translator`` folder given by the user.

    Args:
        model: the CTranslate2 model folder (required: nothing is downloaded).
        device: "auto", "cpu", "cuda" or "cuda:N".
        beam_size: beam width; also the number of hypotheses the budget chooses from.
        batch_size: lines translated together.
        compute_type: CTranslate2 compute type ("default": int8 on CPU, float16 on CUDA).
    """

    def __init__(
        self,
        model: str | os.PathLike[str],
        device: str = "auto",
        beam_size: int = 4,
        batch_size: int = 16,
        compute_type: str = "default",
    ) -> None:
        prefer_avx512()
        import ctranslate2
        import sentencepiece

        folder = Path(model)
        if not (folder / "model.bin").is_file():
            raise ModelNotInstalled(f"no CTranslate2 model (model.bin) in {folder}")
        kind, index = resolve_device(device, ctranslate2.get_cuda_device_count)
        if compute_type == "default":
            compute_type = "float16" if kind == "cuda" else "int8"
        self._translator = ctranslate2.Translator(
            str(folder), device=kind, device_index=index, compute_type=compute_type
        )
        spm = next((folder / n for n in _SPM_NAMES if (folder / n).is_file()), None)
        if spm is None:
            raise ModelNotInstalled(
                f"no SentencePiece model in {folder}; copy the model's "
                f"{' or '.join(_SPM_NAMES)} next to model.bin"
            )
        self._source_spm = sentencepiece.SentencePieceProcessor(model_file=str(spm))
        target_spm = folder / "target.spm"
        self._target_spm = (
            sentencepiece.SentencePieceProcessor(model_file=str(target_spm))
            if target_spm.is_file()
            else self._source_spm
        )
        self.vocabulary = _vocabulary(folder)
        self.family = _family(self.vocabulary)
        self.device = kind
        self.beam_size = beam_size
        self.batch_size = batch_size

    def translate(
        self,
        transcript: Transcript,
        target: str,
        progress: Progress = no_progress,
        paces: Paces | None = None,
    ) -> Transcript:
        segments = transcript.segments
        budgets = line_budgets(transcript, target, paces)
        texts: list[str] = []
        for start in range(0, len(segments), self.batch_size):
            batch = segments[start : start + self.batch_size]
            options = self._translate([s.text for s in batch], transcript.language, target)
            for hypotheses, budget in zip(options, budgets[start:], strict=False):
                texts.append(best_fit(hypotheses, budget))
            progress(ProgressEvent("translate", len(texts), len(segments)))
        translated = tuple(replace(s, translation=t) for s, t in zip(segments, texts, strict=True))
        return replace(transcript, segments=translated, target_language=target)

    def shorten(
        self, segments: Sequence[Segment], source: str, target: str, max_chars: Sequence[int]
    ) -> list[str]:
        hypotheses = self._translate([s.text for s in segments], source, target)
        return [best_fit(options, n) for options, n in zip(hypotheses, max_chars, strict=True)]

    def translate_texts(self, texts: Sequence[str], source: str, target: str) -> list[str]:
        return [h[0] for h in self._translate(list(texts), source, target)]

    def close(self) -> None:
        self._translator = None  # type: ignore[assignment]

    def _translate(self, texts: list[str], source: str, target: str) -> list[list[str]]:
        before, prefix = language_tokens(self.family, source, target)
        if self.family == "opus-mt":
            token = f">>{OPUS_CODES.get(target, target)}<<"
            before = [token] if token in self.vocabulary else []
        tokens = [before + self._source_spm.encode(t, out_type=str) + ["</s>"] for t in texts]
        results = self._translator.translate_batch(
            tokens,
            target_prefix=[prefix] * len(texts) if prefix else None,
            beam_size=self.beam_size,
            num_hypotheses=self.beam_size,
            max_decoding_length=256,
        )
        return [
            [self._target_spm.decode([t for t in h if t not in prefix]) for h in r.hypotheses]
            for r in results
        ]


def _vocabulary(folder: Path) -> frozenset[str]:
    for name in ("shared_vocabulary", "target_vocabulary"):
        if (folder / f"{name}.json").is_file():
            return frozenset(json.loads((folder / f"{name}.json").read_text()))
        if (folder / f"{name}.txt").is_file():
            return frozenset((folder / f"{name}.txt").read_text().splitlines())
    raise ModelNotInstalled(f"no vocabulary file in {folder}")


def _family(vocabulary: frozenset[str]) -> str:
    if "eng_Latn" in vocabulary:
        return "nllb"
    if "__en__" in vocabulary:
        return "m2m100"
    return "opus-mt"
