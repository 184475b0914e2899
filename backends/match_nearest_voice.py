"""Voice matcher: the stock voice (or blend) nearest each speaker, moved toward them with WORLD.

No cloning weights can be had offline (MODELS.md), so similarity comes from choosing well:

1. every stock voice of the synthesizer speaks a sample sentence in the target language;
   their speaker embeddings (CAM++ by default) and median pitch are cached per language;
2. speakers get different primary voices where there are enough (the assignment with the
   highest total similarity, Hungarian), so different speakers never share a voice;
3. per speaker, the primary voice and the blend of timbres a bounded search found nearest
   them (Kokoro: the decoder half of the style blended over the primary and the speaker's
   five nearest voices of their gender, the prosody half, where the pronunciation of the
   language lives, left the primary's; ``search_evals`` voices spoken, cached per speaker)
   are tried, each with the pitch moved to the speaker's median F0 (at most
   ``max_semitones``) and the formants warped by each of ``formants``; the combination
   whose embedding is nearest the speaker wins, measured;
4. speakers left sharing a voice (more speakers than voices) are kept apart by pitch, at
   least ``min_separation`` semitones.

``reduce_accent=True`` prefers native pronunciation over similarity: only the synthesizer's
native voices for the language are used (Kokoro: jm_kumo outside Japanese, where the female
voices carry a Japanese accent, all five in Japanese), no timbre search and no formant warp
(WORLD's envelope warp costs clarity), pitch moved at most 3 semitones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dubengine.media.decode import Audio
from dubengine.protocols import Embedder, Voice
from dubengine.registry import create_backend
from dubengine.samples import SENTENCES
from dubengine.toolkit.voicing import (
    adjust_voice,
    analyse,
    formant_mean,
    median_f0,
    semitones,
    speak_as,
)
from dubengine.weights import cache_dir

ACCENT_SEMITONES = 3.0
CACHE_VERSION = 2
TIMBRE_BASIS = 6  # voices whose timbres the search blends: the primary and its 5 nearest
SEARCH_EVALS = 12  # four rounds of three; ~1.5 s each on 2 Zen 4 cores
SEARCH_SECONDS = 20.0
# A blend must beat the voice alone by this on the sample sentence: smaller gains are the
# search's luck on one sentence (measured on the conversation in de: +0.005 there, -0.005
# on the dubbed lines).
SEARCH_MARGIN = 0.02


class NearestVoiceMatcher:
    """Per speaker, the nearest stock voice or blend, with pitch and formants adjusted.

    Args:
        device: for the speaker embedder, when none is given.
        cache: cache folder (stock voice embeddings are kept under ``voices/``).
        embedder: the speaker embedder (the pipeline hands its pool's); default CAM++.
        formants: formant warps tried per speaker (1.0 = none).
        max_semitones: the most the pitch is moved.
        min_separation: semitones between speakers that share a voice.
        search_evals: voices spoken and measured per speaker by the timbre search (0: none).
        search_seconds: the most time the timbre search takes per speaker.
    """

    def __init__(
        self,
        device: str = "auto",
        cache: str | os.PathLike[str] | None = None,
        embedder: Embedder | None = None,
        formants: tuple[float, ...] = (0.92, 1.0, 1.08),
        max_semitones: float = 6.0,
        min_separation: float = 2.0,
        search_evals: int = SEARCH_EVALS,
        search_seconds: float = SEARCH_SECONDS,
    ) -> None:
        self._owns_embedder = embedder is None  # one handed in is its owner's to close
        self._embedder = embedder or create_backend("embedder", "campp", device=device)
        self._cache = cache_dir(cache) / "voices"
        self.formants = formants
        self.max_semitones = max_semitones
        self.min_separation = min_separation
        self.search_evals = search_evals
        self.search_seconds = search_seconds

    def match(
        self,
        references: Mapping[str, Audio],
        language: str,
        synthesizer: Any,
        reduce_accent: bool = False,
    ) -> dict[str, Voice]:
        speakers = sorted(references)
        if not speakers:
            return {}
        stock = self._stock(synthesizer, language)
        native = getattr(synthesizer, "native_voices", None)
        foreign = set(getattr(synthesizer, "second_voices", lambda language: ())(language))
        allowed = tuple(native(language)) if reduce_accent and native else tuple(stock)
        allowed = tuple(v for v in allowed if v in stock) or tuple(stock)
        targets = {s: self._embedder.embed(references[s]) for s in speakers}
        pitches = {s: median_f0(references[s]) for s in speakers}
        similarity = {
            s: {v: float(targets[s] @ stock[v]["embedding"]) for v in allowed} for s in speakers
        }
        probe = self._probe(synthesizer, stock)
        votes = {s: {v: float(targets[s] @ probe[v]["embedding"]) for v in probe} for s in speakers}
        genders = {s: _gender(votes[s], pitches[s], references[s]) for s in speakers}
        near = {s: {**votes[s], **similarity[s]} for s in speakers}  # the timbres to blend
        home = tuple(v for v in allowed if v not in foreign) or allowed
        primary = _assign(speakers, home, similarity)
        _respect_genders(primary, speakers, home, allowed, foreign, genders, similarity)
        # reduce_accent, or voices that are all foreign to the language: a smaller pitch
        # move and no formant warp (measured: JFK in ru moved 9 semitones and warped was
        # heard as Croatian; the same voice unmoved, as Russian with p 0.98)
        accented = getattr(synthesizer, "accented", lambda language: False)(language)
        careful = reduce_accent or (accented and len(allowed) < len(synthesizer.voices()))
        limit = ACCENT_SEMITONES if careful else self.max_semitones
        voices = {}
        for speaker in speakers:
            # so is a foreign voice in a language with too few of its own (es, fr)
            gentle = careful or primary[speaker] in foreign
            others = {primary[o] for o in speakers if o != speaker}
            # the nearest timbres of the speaker's gender, none another speaker's own voice
            near_voices = [] if reduce_accent else _timbre_basis(near[speaker], genders[speaker])
            spare = [v for v in near_voices if v not in others and v != primary[speaker]]
            basis = [primary[speaker], *spare][:TIMBRE_BASIS]
            searched = self._search_timbre(synthesizer, language, basis, targets[speaker], stock)
            voices[speaker] = self._refine(
                synthesizer,
                language,
                primary[speaker],
                searched,
                targets[speaker],
                pitches[speaker],
                stock,
                ACCENT_SEMITONES if gentle else limit,
                (1.0,) if gentle else self.formants,
            )
        voices = self._keep_apart(voices, synthesizer, language, targets, limit)
        return {  # what the search and the moves gained over the stock voice as it is
            s: dataclasses.replace(v, similarity_before=similarity[s][primary[s]])
            for s, v in voices.items()
        }

    def _probe(
        self, synthesizer: Any, stock: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """The voices a speaker's gender is judged by: the English voices when there are
        many (13 male, 15 female: a fair vote), else the candidates."""
        many = len(synthesizer.voices()) > len(stock) and hasattr(synthesizer, "candidate_voices")
        return self._stock(synthesizer, "en") if many else stock

    def _search_timbre(
        self,
        synthesizer: Any,
        language: str,
        basis: list[str],
        target: np.ndarray,
        stock: dict[str, dict[str, Any]],
    ) -> Voice | None:
        """The blend of the ``basis`` voices' timbres, spoken with the first one's prosody,
        nearest ``target``: a (1+3) evolution strategy on the blend's weights from the first
        voice alone, at most ``search_evals`` voices spoken or ``search_seconds``
        (cached per speaker). None when no blend measured SEARCH_MARGIN nearer than the first
        voice."""
        blend = getattr(synthesizer, "timbre_blend", None)
        if blend is None or len(basis) < 2 or self.search_evals < 3:
            return None
        path = self._search_cache(synthesizer, language, basis, target)
        if path.is_file():
            found = json.loads(path.read_text())
        else:
            found = self._evolve(synthesizer, language, basis, target, stock)
            _write_atomically(path, json.dumps(found))
        if found is None:
            return None
        weights = {v: w for v, w in found["weights"].items() if w >= 0.01}
        mix = "+".join(f"{v}*{w:.2f}" for v, w in sorted(weights.items(), key=lambda x: -x[1]))
        return Voice(f"{basis[0]}, timbre {mix}", style=blend(basis[0], weights))

    def _evolve(
        self,
        synthesizer: Any,
        language: str,
        basis: list[str],
        target: np.ndarray,
        stock: dict[str, dict[str, Any]],
    ) -> dict[str, Any] | None:
        rng = np.random.default_rng(0)  # the same speaker gets the same voice again
        started = time.perf_counter()
        best_w = np.eye(len(basis))[0]  # the first voice alone
        best = float(target @ stock[basis[0]]["embedding"])
        alone, step, spoken, found = best, 0.5, 0, None
        while spoken + 3 <= self.search_evals:
            if time.perf_counter() - started > self.search_seconds:
                break
            # each trial moves a ``step`` of the way toward a random (sparse) blend
            trials = [
                (1 - step) * best_w + step * rng.dirichlet(np.full(len(basis), 0.5))
                for _ in range(3)
            ]
            scores = [self._score(synthesizer, language, basis, w, target) for w in trials]
            spoken += 3
            i = int(np.argmax(scores))
            if scores[i] > best:
                best, best_w, step = scores[i], trials[i], min(1.0, step * 1.2)
                weights = dict(zip(basis, best_w.tolist(), strict=True))
                found = {"weights": weights, "similarity": best}
            else:
                step *= 0.6
        return found if found and found["similarity"] >= alone + SEARCH_MARGIN else None

    def _score(
        self, synthesizer: Any, language: str, basis: list[str], w: np.ndarray, target: np.ndarray
    ) -> float:
        style = synthesizer.timbre_blend(basis[0], dict(zip(basis, w, strict=True)))
        return float(target @ self._embedder.embed(_speak(synthesizer, language, Voice("", style))))

    def _search_cache(
        self, synthesizer: Any, language: str, basis: list[str], target: np.ndarray
    ) -> Path:
        embedder = type(getattr(self._embedder, "wrapped", self._embedder)).__name__
        key = hashlib.sha256(
            json.dumps(
                [CACHE_VERSION, embedder, language, basis, self.search_evals, SEARCH_MARGIN]
            ).encode()
            + np.round(target, 3).astype(np.float32).tobytes()
        ).hexdigest()[:16]
        return self._cache / "timbres" / f"{language}-{key}.json"

    def _refine(
        self,
        synthesizer: Any,
        language: str,
        primary: str,
        searched: Voice | None,
        target: np.ndarray,
        pitch: float | None,
        stock: dict[str, dict[str, Any]],
        limit: float,
        formants: tuple[float, ...],
    ) -> Voice:
        candidates = [Voice(primary)] + ([searched] if searched else [])
        best: Voice | None = None
        for candidate in candidates:
            sample = _speak(synthesizer, language, candidate)
            world = analyse(sample)
            own = world.median_f0 if candidate.style is not None else stock[primary]["f0"]
            moved = _pitch_ratio(pitch, own, limit)
            for ratio in dict.fromkeys((moved, 1.0)):  # unmoved too: moving may not help
                for formant in formants:
                    voiced = adjust_voice(sample, ratio, formant, world)
                    score = float(target @ self._embedder.embed(voiced))
                    if best is None or score > (best.similarity or -1):
                        best = Voice(candidate.name, candidate.style, ratio, formant, score)
        assert best is not None
        return best

    def _keep_apart(
        self,
        voices: dict[str, Voice],
        synthesizer: Any,
        language: str,
        targets: dict[str, np.ndarray],
        limit: float,
    ) -> dict[str, Voice]:
        """Speakers on the same voice and formants get pitches ``min_separation`` semitones
        apart, all within ±``limit``; moved voices are measured again."""
        groups: dict[tuple[str, float], list[str]] = {}
        for speaker, voice in voices.items():
            groups.setdefault((voice.name, voice.formant_ratio), []).append(speaker)
        out = dict(voices)
        for members in groups.values():
            members.sort(key=lambda s: voices[s].pitch_ratio)
            wanted = [semitones(voices[s].pitch_ratio) for s in members]
            for i in range(1, len(wanted)):
                wanted[i] = max(wanted[i], wanted[i - 1] + self.min_separation)
            shift = max(0.0, wanted[-1] - limit)
            for speaker, tones in zip(members, wanted, strict=True):
                ratio = 2 ** (max(tones - shift, -limit) / 12)
                voice = voices[speaker]
                if abs(semitones(ratio / voice.pitch_ratio)) < 1e-4:
                    continue
                plain = _speak(synthesizer, language, Voice(voice.name, voice.style))
                sample = adjust_voice(plain, ratio, voice.formant_ratio)
                score = float(targets[speaker] @ self._embedder.embed(sample))
                out[speaker] = Voice(voice.name, voice.style, ratio, voice.formant_ratio, score)
        return out

    def _stock(self, synthesizer: Any, language: str) -> dict[str, dict[str, Any]]:
        """The embedding and pitch of every voice worth trying in ``language`` (cached)."""
        candidates = getattr(synthesizer, "candidate_voices", None)
        voices = tuple(candidates(language) if candidates else synthesizer.voices())
        embedder = type(getattr(self._embedder, "wrapped", self._embedder)).__name__
        key = hashlib.sha256(
            json.dumps(
                [CACHE_VERSION, type(synthesizer).__name__, embedder, language, voices]
            ).encode()
        ).hexdigest()[:16]
        path = self._cache / f"{type(synthesizer).__name__}-{embedder}-{language}-{key}.json"
        if path.is_file():
            data = json.loads(path.read_text())
        else:
            data = {}
            for name in voices:
                sample = _speak(synthesizer, language, Voice(name))
                data[name] = {
                    "embedding": self._embedder.embed(sample).tolist(),
                    "f0": median_f0(sample),
                }
            _write_atomically(path, json.dumps(data))
        return {
            name: {"embedding": np.asarray(v["embedding"], dtype=np.float32), "f0": v["f0"]}
            for name, v in data.items()
        }

    def close(self) -> None:
        if self._owns_embedder:
            self._embedder.close()


def _speak(synthesizer: Any, language: str, voice: Voice) -> Audio:
    return speak_as(synthesizer, SENTENCES[language][0], language, voice)


def _write_atomically(path: Path, text: str) -> None:
    """Two dubs may fill the cache at once: a reader sees the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(text)
    partial.replace(path)


def _timbre_basis(near: Mapping[str, float], gender: str | None) -> list[str]:
    """The voices of the speaker's gender (any when it is unknown), nearest first."""
    same = [v for v in near if gender is None or voice_gender(v) in (gender, None)]
    return sorted(same, key=lambda v: -near[v])


def _pitch_ratio(target: float | None, own: float | None, limit: float) -> float:
    if not target or not own:
        return 1.0
    return float(np.clip(target / own, 2 ** (-limit / 12), 2 ** (limit / 12)))


MALE_BELOW_HZ = 155.0  # median F0 under this: a man (in conversation men sit ~85-150 Hz)
# Above it, a woman, unless the nearest male voice is at least RAISED_MALE_LEAN nearer than
# the nearest female one and the formants are a man's (F2-F4 mean under MALE_FORMANTS_HZ):
# a raised male voice. Measured: JFK's oratory, 218-243 Hz, leans 0.044-0.078, formants
# 2329-2346 Hz; the AMI women leaning that way (0.025, 0.034) have 2634 and 2863 Hz.
RAISED_MALE_LEAN = 0.02
MALE_FORMANTS_HZ = 2500.0


def stock_voice(name: str) -> str:
    """The stock voice a voice's name starts from: "ef_dora" of "ef_dora, timbre
    ef_dora*0.6+af_sky*0.4" (its prosody) or of the blend "ef_dora*0.5+pf_dora*0.5"."""
    return re.split(r"[*,]", name, maxsplit=1)[0]


def voice_gender(name: str) -> str | None:
    """ "f" or "m" from a Kokoro-style name ("am_adam", "jf_alpha"); None if it says neither."""
    return name[1] if len(name) > 2 and name[2] == "_" and name[1] in "fm" else None


def _gender(similarity: dict[str, float], pitch: float | None, speech: Audio) -> str | None:
    """ "m", "f" or None (cannot tell) for a speaker, by their median pitch first (see
    ``RAISED_MALE_LEAN``); by which gender's nearest voice is nearer only when nothing is
    voiced. That nearness alone was wrong for 8 of 13 people of the AMI meetings (5 men
    nearer the female voices): against clean studio voices it follows the room as much as
    the person; pitch alone was wrong only for JFK. The formants of ``speech`` are measured
    only for a high voice leaning male."""
    nearest = {
        g: max((v for k, v in similarity.items() if voice_gender(k) == g), default=None)
        for g in "mf"
    }
    male, female = nearest["m"], nearest["f"]
    lean = male - female if male is not None and female is not None else None
    if pitch is None:
        return None if lean is None or abs(lean) <= 0.03 else "m" if lean > 0 else "f"
    if pitch < MALE_BELOW_HZ:
        return "m"
    if lean is not None and lean >= RAISED_MALE_LEAN:
        tract = formant_mean(speech)
        if tract is not None and tract < MALE_FORMANTS_HZ:
            return "m"
    return "f"


def _same_gender(voices: tuple[str, ...], gender: str | None) -> tuple[str, ...]:
    """The voices of that gender (all when it is unknown, or none of it is there)."""
    same = tuple(v for v in voices if voice_gender(v) in (gender, None))
    return same if gender and same else voices


def _respect_genders(
    primary: dict[str, str],
    speakers: list[str],
    home: tuple[str, ...],
    allowed: tuple[str, ...],
    foreign: set[str],
    genders: Mapping[str, str | None],
    similarity: Mapping[str, Mapping[str, float]],
) -> None:
    """A male voice never gets a female one, nor the reverse: rather a foreign voice heard
    right, or a shared one, kept apart. Changes ``primary`` in place."""
    for speaker in speakers:
        keep = _same_gender(home, genders[speaker])
        taken = {primary[o] for o in speakers if o != speaker}
        if primary[speaker] in keep and primary[speaker] not in taken:
            continue
        second = [v for v in allowed if v in foreign and voice_gender(v) == genders[speaker]]
        free = (
            [v for v in keep if v not in taken]
            or [v for v in second if v not in taken]
            or list(keep)
        )
        primary[speaker] = max(free, key=lambda v: similarity[speaker][v])


def _assign(
    speakers: list[str], voices: tuple[str, ...], similarity: dict[str, dict[str, float]]
) -> dict[str, str]:
    """Distinct voices for as many speakers as there are voices (highest total similarity);
    the rest get their nearest voice."""
    from scipy.optimize import linear_sum_assignment

    scores = np.array([[similarity[s][v] for v in voices] for s in speakers])
    rows, cols = linear_sum_assignment(-scores)
    chosen = {speakers[r]: voices[c] for r, c in zip(rows, cols, strict=True)}
    for speaker in speakers:
        chosen.setdefault(speaker, max(voices, key=lambda v: similarity[speaker][v]))
    return chosen
