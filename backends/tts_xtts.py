"""Synthesizer: XTTS-v2 (coqui-tts), speaking each line in the voice of the speaker's own
speech, in all ten languages.

XTTS weights are in no package: the user gives the model folder (``config.json``,
``model.pth``, ``vocab.json``; ``speakers_xtts.pth`` adds its stock speakers as voices).
coqui-tts imports torchaudio, which has no build for this project's torch, so it is imported
with the plain-torch stand-in (``torchaudio_standin``) in place; a real torchaudio, when
installed, is used instead.

A speaker is conditioned once (``condition``: GPT latents and speaker embedding from their
reference); the pipeline keeps that with the voice and the editable project, so speaking a
line again never conditions again.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from dubengine.media.decode import Audio
from dubengine.toolkit import InvalidOption, ModelNotInstalled, UnsupportedLanguage
from dubengine.toolkit.device import torch_device

SAMPLE_RATE = 24_000
CONDITIONING_RATE = 22_050  # what XTTS computes its latents from
MODEL_FILES = ("config.json", "model.pth", "vocab.json")
STOCK_SPEAKERS = "speakers_xtts.pth"
AUDIO_TOKENS_PER_SECOND = 21.5  # 22050 Hz / 1024 samples per GPT code
XTTS_LANGUAGE = {"zh": "zh-cn"}
CONFIG_EXAMPLE = '[synthesizer]\nname = "xtts"\nmodel = "/models/XTTS-v2"'


def check_model_folder(model: str | os.PathLike[str] | None) -> Path:
    """The model folder, or one line saying what is wrong with it (nothing is loaded)."""
    if model is None:
        raise InvalidOption(
            "the xtts synthesizer needs its model folder (config.json, model.pth, vocab.json): "
            f"in a config file, {CONFIG_EXAMPLE!r}"
        )
    folder = Path(model).expanduser()
    if not folder.is_dir():
        raise ModelNotInstalled(f"XTTS model folder {folder} does not exist")
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise ModelNotInstalled(
            f"{folder} is not an XTTS-v2 model folder: it has no {', '.join(missing)}"
        )
    return folder


class XttsSynthesizer:
    """A local XTTS-v2 model.

    Args:
        model: the model folder (required).
        device: "auto", "cpu", "cuda" or "cuda:N".
        temperature, top_k, top_p, repetition_penalty: XTTS's sampling.
        seed: lines are sampled with this seed and their text, so a line spoken again
            sounds the same.
        slowest_pace: spoken characters a second below which speech is cut: a line never
            runs longer than its text at this pace plus half a second (XTTS, like every
            autoregressive speaker, can babble past the end of its text).
    """

    sample_rate = SAMPLE_RATE
    requires = ("TTS",)  # coqui-tts, imported when it loads
    weights = "user-supplied: model=PATH (folder with config.json, model.pth, vocab.json)"

    @staticmethod
    def check(options: Mapping[str, Any]) -> None:
        """Refuses a missing or wrong model folder before anything loads."""
        check_model_folder(options.get("model"))

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        device: str = "auto",
        temperature: float = 0.75,
        top_k: int = 50,
        top_p: float = 0.85,
        repetition_penalty: float = 5.0,
        seed: int = 0,
        slowest_pace: float = 5.0,
    ) -> None:
        folder = check_model_folder(model)
        name, self.device = torch_device(device)
        started = time.perf_counter()
        self._model = load_xtts(folder, name)
        self.load_seconds = time.perf_counter() - started
        self._sampling = {
            "temperature": temperature,
            "top_k": top_k,
            "top_p": top_p,
            "repetition_penalty": repetition_penalty,
        }
        self._seed = seed
        self._slowest_pace = slowest_pace
        self._lock = threading.Lock()  # one line at a time: the model holds per-call state
        self.languages = frozenset(self._model.config.languages)
        manager = self._model.speaker_manager
        self._stock = dict(manager.speakers) if manager is not None else {}

    def voices(self) -> tuple[str, ...]:
        """The model's stock speakers (from speakers_xtts.pth), if the folder has them."""
        return tuple(self._stock)

    def condition(self, reference: Audio) -> dict[str, np.ndarray]:
        """What XTTS speaks a voice from: GPT conditioning latents and the speaker embedding
        of ``reference`` (mono speech, any rate)."""
        import torch

        from .torchaudio_standin import resample

        config = self._model.config
        audio = torch.from_numpy(np.ascontiguousarray(reference.samples.mean(axis=0)))[None]
        audio = resample(audio, reference.sample_rate, CONDITIONING_RATE).clamp(-1, 1)
        audio = audio[:, : CONDITIONING_RATE * config.max_ref_len].to(self._model.device)
        with torch.inference_mode():
            embedding = self._model.get_speaker_embedding(audio, CONDITIONING_RATE)
            latents = self._model.get_gpt_cond_latents(
                audio,
                CONDITIONING_RATE,
                length=config.gpt_cond_len,
                chunk_length=config.gpt_cond_chunk_len,
            )
        return {
            "gpt_cond_latent": latents.float().cpu().numpy(),
            "speaker_embedding": embedding.float().cpu().numpy(),
        }

    def synthesize_like(
        self,
        text: str,
        language: str,
        reference: Audio,
        speed: float = 1.0,
        conditioning: Mapping[str, np.ndarray] | None = None,
    ) -> Audio:
        """``text`` in the voice of ``reference``; ``conditioning`` (from ``condition``)
        spares conditioning on it again."""
        return self._speak(text, language, conditioning or self.condition(reference), speed)

    def synthesize(
        self, text: str, language: str, voice: str | None = None, speed: float = 1.0
    ) -> Audio:
        """``text`` by one of the model's stock speakers."""
        if voice not in self._stock:
            known = ", ".join(self._stock) or "none (the folder has no speakers_xtts.pth)"
            raise InvalidOption(f"XTTS has no stock voice {voice!r}; its voices: {known}")
        latents = {key: value.cpu().numpy() for key, value in self._stock[voice].items()}
        return self._speak(text, language, latents, speed)

    def _speak(
        self, text: str, language: str, latents: Mapping[str, np.ndarray], speed: float
    ) -> Audio:
        import torch

        lang = XTTS_LANGUAGE.get(language, language)
        if lang not in self.languages:
            raise UnsupportedLanguage(f"XTTS-v2 does not speak {language!r}")
        limit = self._model.tokenizer.char_limits.get(language, 250)
        device = self._model.device
        cond = torch.from_numpy(latents["gpt_cond_latent"]).to(device)
        embedding = torch.from_numpy(latents["speaker_embedding"]).to(device)
        pieces = []
        for chunk in text_chunks(text, limit):
            with self._lock, torch.inference_mode(), _quiet_transformers():
                torch.manual_seed(self._seed + zlib.crc32(chunk.encode()))
                # XTTS reads its longest output from here (a generate() argument of its own)
                self._model.gpt.max_gen_mel_tokens = self._most_tokens(chunk)
                out = self._model.inference(
                    chunk,
                    lang,
                    cond,
                    embedding,
                    speed=speed,
                    enable_text_splitting=False,  # lines are short; long ones come chunked
                    **self._sampling,
                )
            pieces.append(np.asarray(out["wav"], dtype=np.float32).reshape(-1))
        samples = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        return Audio(samples[None, :], SAMPLE_RATE)

    def _most_tokens(self, text: str) -> int:
        # tokens come at the natural pace; ``speed`` only stretches the decoded latents
        seconds = len(text) / self._slowest_pace + 0.5
        return max(8, min(int(seconds * AUDIO_TOKENS_PER_SECOND), self._max_tokens()))

    def _max_tokens(self) -> int:
        return int(self._model.args.gpt_max_audio_tokens) - 3  # start and stop tokens

    def close(self) -> None:
        self._model = None


def text_chunks(text: str, limit: int) -> Iterator[str]:
    """``text`` in pieces of at most ``limit`` characters, cut after a sentence, else a
    clause, else a word (XTTS's tokenizer truncates beyond its per-language limit)."""
    text = " ".join(text.split())
    while len(text) > limit:
        head = text[: limit + 1]
        cut = _last_break(head, r"[.!?。！？]\s") or _last_break(head, r"[,;:、，]\s")
        cut = cut or head.rfind(" ") + 1 or limit
        yield text[:cut].strip()
        text = text[cut:].strip()
    if text:
        yield text


def _last_break(text: str, pattern: str) -> int:
    ends = [m.end() for m in re.finditer(pattern, text)]
    return ends[-1] if ends else 0


def load_xtts(folder: Path, device: str) -> Any:
    """The model in ``folder``, through coqui-tts's own loading code (strict)."""
    from .torchaudio_standin import standing_in

    with standing_in():
        from TTS.tts.configs.xtts_config import XttsConfig
        from TTS.tts.models.xtts import Xtts
    _adapt_generation()
    config = XttsConfig()
    config.load_json(str(folder / "config.json"))
    with _quiet_transformers():
        model = Xtts(config)
        model.load_checkpoint(config, checkpoint_dir=str(folder), eval=True, use_deepspeed=False)
    return model.to(device)


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers' warnings about XTTS's GPT-2 settings (its token ids, a max_length
    beside the bound set here), which are as XTTS means them, kept off the user's screen."""
    logger = logging.getLogger("transformers")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _adapt_generation() -> None:
    """transformers 5.24 hands the key-value cache to ``forward`` as ``cache=`` (coqui-tts
    0.28.0 reads ``past_key_values`` and fails); this forward takes either and passes it on
    under the name the installed GPT-2 takes. Same tokens as the original on 5.23."""
    from transformers import GPT2Model
    from transformers.modeling_outputs import CausalLMOutputWithCrossAttentions
    from TTS.tts.layers.xtts import gpt_inference

    model_class = gpt_inference.GPT2InferenceModel
    if getattr(model_class.forward, "__adapted__", False):
        return
    name = "cache" if "cache" in inspect.signature(GPT2Model.forward).parameters else None
    name = name or "past_key_values"

    def forward(
        self: Any,
        input_ids: Any = None,
        past_key_values: Any = None,
        attention_mask: Any = None,
        token_type_ids: Any = None,
        position_ids: Any = None,
        use_cache: bool | None = None,
        cache: Any = None,
        **_: Any,
    ) -> CausalLMOutputWithCrossAttentions:
        cache = cache if cache is not None else past_key_values
        emb = _embeddings(self, input_ids, cache)
        out = self.transformer(
            inputs_embeds=emb,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            use_cache=use_cache,
            return_dict=True,
            **{name: cache},
        )
        logits = self.lm_head(out[0])
        return CausalLMOutputWithCrossAttentions(logits=logits, **{name: getattr(out, name)})

    forward.__adapted__ = True  # type: ignore[attr-defined]
    model_class.forward = forward


def _embeddings(model: Any, input_ids: Any, cache: Any) -> Any:
    """The GPT's input: the conditioning prefix and the text on the first step, then one
    audio token at its position (as coqui-tts's own forward)."""
    import torch

    prefix = model.cached_prefix_emb
    prefix_len = prefix.shape[1]
    if input_ids.shape[1] != 1:
        gen_emb = model.embeddings(input_ids[:, prefix_len:])
        gen_emb = gen_emb + model.pos_embedding(gen_emb)
        if prefix.shape[0] != gen_emb.shape[0]:
            prefix = prefix.repeat_interleave(gen_emb.shape[0] // prefix.shape[0], 0)
        return torch.cat([prefix.to(gen_emb.dtype), gen_emb], dim=1)
    emb = model.embeddings(input_ids)
    position = cache.get_seq_length() - prefix_len
    return emb + model.pos_embedding.get_fixed_embedding(position, input_ids.device)
