"""Translation with an instruction-tuned chat model, whatever runs it: the prompts, the
length budgets, the retries that ask for less, and the shortening the aligner asks for.

A backend supplies ``complete``: answers to chat prompts, each a static part (the same for
every line of a job, so an engine that caches it reads it once) and a short part per line.
``backends/mt_llm_ct2.py`` runs the embedded Qwen with CTranslate2;
``backends/mt_openai.py`` asks a local OpenAI-compatible server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from .._errors import UnsupportedLanguage
from .._guards import refuses
from .._progress import Progress, no_progress
from .._types import LANGUAGES, Segment, Transcript
from .budget import MIN_CHARS, Paces, best_fit, fits, line_budgets, line_limits, spoken_length

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}

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


OFFERS_KEPT = 4096


@dataclass(slots=True)
class Offers:
    """A line's shorter versions the model gave, and whether its last answers were none
    shorter than what it had (``stalled``)."""

    texts: list[str] = field(default_factory=list)
    stalled: bool = False


class ChatTranslator:
    """Translates each line with its neighbours as context and a length budget.

    Subclasses set ``retries`` and implement ``complete``."""

    retries: int = 3

    def complete(
        self,
        static: list[Message],
        prompts: list[list[Message]],
        budgets: list[int],
        progress: Progress = no_progress,
        stage: str = "shorten",
        hypotheses: int = 1,
    ) -> list[list[str]]:
        """For each prompt (after ``static``), up to ``hypotheses`` cleaned answers, best
        first; ``budgets`` bound each answer's length."""
        raise NotImplementedError

    def translate(
        self,
        transcript: Transcript,
        target: str,
        progress: Progress = no_progress,
        paces: Paces | None = None,
    ) -> Transcript:
        check_language(target)
        source = transcript.language
        segments = transcript.segments
        if source == target:  # re-voicing in the same language: nothing to translate
            same = tuple(replace(s, translation=s.text) for s in segments)
            return replace(transcript, segments=same, target_language=target)
        budgets = line_budgets(transcript, target, paces)
        prompts = [translate_request(segments, i, budgets[i]) for i in range(len(segments))]
        static = translate_static(source, target)
        texts = [c[0] for c in self.complete(static, prompts, budgets, progress, "translate")]
        texts = self._within_limits(
            segments, texts, source, target, budgets, line_limits(transcript, target, paces)
        )
        texts = self._not_refused(segments, texts, source, target, budgets)
        translated = tuple(replace(s, translation=t) for s, t in zip(segments, texts, strict=True))
        return replace(transcript, segments=translated, target_language=target)

    def _within_limits(
        self,
        segments: Sequence[Segment],
        texts: list[str],
        source: str,
        target: str,
        budgets: list[int],
        limits: list[int],
    ) -> list[str]:
        """Lines past their limit asked again, shorter, until they fit or the model offers
        nothing shorter than before (see _ask_shorter)."""
        texts = list(texts)
        over = [i for i, t in enumerate(texts) if not fits(t, limits[i])]
        for attempt in range(self.retries):
            if not over:
                break
            # The model overshoots what it is asked for: ask for less on each attempt.
            asked = [max(MIN_CHARS, int(budgets[i] * (0.9 - 0.15 * attempt))) for i in over]
            lines = [replace(segments[i], translation=texts[i]) for i in over]
            candidates = self._ask_shorter(lines, source, target, asked)
            for i, options in zip(over, candidates, strict=True):
                texts[i] = best_fit([texts[i], *options], limits[i])
            over = [
                i
                for i in over
                if not fits(texts[i], limits[i])
                and not self._offers_of(segments[i], source, target).stalled
            ]
        return texts

    def _not_refused(
        self,
        segments: Sequence[Segment],
        texts: list[str],
        source: str,
        target: str,
        budgets: list[int],
    ) -> list[str]:
        """A small model sometimes answers a garbled line with an apology and a refusal, and
        does again when asked the same way, or in the brief form. Given the line in quotes,
        as text to translate rather than a request to answer, it translates it (measured:
        "I said, you know, I heard of these." refused four times in either form, translated
        in quotes); the brief form is the last try."""
        texts = list(texts)
        for ask in (self._quoted, self._shorter):
            refused = [
                i
                for i, t in enumerate(texts)
                if refuses(t, target) and not refuses(segments[i].text, source)
            ]
            if not refused:
                break
            asked = [budgets[i] for i in refused]
            candidates = ask([segments[i] for i in refused], source, target, asked)
            for i, options in zip(refused, candidates, strict=True):
                usable = [o for o in options if o.strip() and not refuses(o, target)]
                if usable:
                    texts[i] = best_fit(usable, budgets[i])
        return texts

    def shorten(
        self, segments: Sequence[Segment], source: str, target: str, max_chars: Sequence[int]
    ) -> list[str]:
        """Shorter texts for the aligner; a line the model stalled on is not asked again,
        what it offered before is chosen from."""
        fresh = [
            i for i, s in enumerate(segments) if not self._offers_of(s, source, target).stalled
        ]
        asked = [max(MIN_CHARS, int(max_chars[i] * 0.8)) for i in fresh]
        answers = self._ask_shorter([segments[i] for i in fresh], source, target, asked)
        new = dict(zip(fresh, answers, strict=True))
        return [
            best_fit(
                [s.translation or s.text, *new.get(i, self._offers_of(s, source, target).texts)], n
            )
            for i, (s, n) in enumerate(zip(segments, max_chars, strict=True))
        ]

    def translate_texts(self, texts: Sequence[str], source: str, target: str) -> list[str]:
        """Plain sentences, no timing: for tests and tools."""
        segments = tuple(
            Segment(id=i, start=0.0, end=max(2.0, len(t) / 10), text=t) for i, t in enumerate(texts)
        )
        result = self.translate(Transcript(language=source, segments=segments), target)
        return [s.translation or "" for s in result.segments]

    def _shorter(
        self, segments: Sequence[Segment], source: str, target: str, asked: list[int]
    ) -> list[list[str]]:
        """Four candidates per line, translated afresh as "very short" within ``asked``."""
        prompts = [request(s.text, n) for s, n in zip(segments, asked, strict=True)]
        return self.complete(brief_static(source, target), prompts, asked, hypotheses=4)

    def _ask_shorter(
        self, segments: Sequence[Segment], source: str, target: str, asked: list[int]
    ) -> list[list[str]]:
        """_shorter, each line's answers remembered (_offers_of). A line whose answers are
        no shorter than the shortest it had is stalled, and not asked again: measured on the
        60 s benchmark, asked for less the model repeated the same four answers in two more
        retries and two aligner rounds, a third of the translator's time."""
        answers = self._shorter(segments, source, target, asked)
        for segment, options in zip(segments, answers, strict=True):
            offers = self._offers_of(segment, source, target)
            had = [segment.translation or segment.text, *offers.texts]
            shortest = min(map(spoken_length, had))
            offers.stalled = all(spoken_length(o) >= shortest for o in options if o.strip())
            offers.texts += [o for o in options if o not in offers.texts]
        return answers

    def _offers_of(self, segment: Segment, source: str, target: str) -> Offers:
        """What the model offered as a shorter ``segment`` (its source text, in these
        languages): kept by the translator for the most recent OFFERS_KEPT lines, so the
        aligner's rounds see what the translating stage's retries were given."""
        offers: dict[tuple[str, str, str], Offers] = self.__dict__.setdefault("_offers", {})
        key = (source, target, segment.text)
        if key not in offers and len(offers) >= OFFERS_KEPT:
            del offers[next(iter(offers))]  # the oldest
        return offers.setdefault(key, Offers())

    def _quoted(
        self, segments: Sequence[Segment], source: str, target: str, asked: list[int]
    ) -> list[list[str]]:
        """Four candidates per line, the line given in quotes, without its neighbours."""
        prompts = [request(f'"{s.text}"', n) for s, n in zip(segments, asked, strict=True)]
        return self.complete(translate_static(source, target), prompts, asked, hypotheses=4)


def check_language(code: str) -> None:
    if code not in LANGUAGES:
        raise UnsupportedLanguage(f"Unsupported target language: {code}")


# A prompt is a static part, the same for every line of a job (CTranslate2 reads it once),
# then a short part per line. The static part ends with a one-shot example; the per-line part
# gives the context and the length in a system turn and the line alone as the user turn, in
# the example's form, so the answer keeps the example's form too.


def _turn(role: str, text: str) -> Message:
    return {"role": role, "content": text}


def _static(system: str, source: str, answer: str) -> list[Message]:
    """The instructions, then the source language's example line answered with ``answer``."""
    example = EXAMPLE.get(source, EXAMPLE["en"])
    return [_turn("system", system), _turn("user", example), _turn("assistant", answer)]


def request(text: str, max_chars: int, context: str = "") -> list[Message]:
    """One line's part: its length (and context) in a system turn, the line as the user's."""
    note = f"At most {max_chars} characters.{context}"
    return [_turn("system", note), _turn("user", text)]


def translate_static(source: str, target: str) -> list[Message]:
    src, tgt = LANGUAGES.get(source, "English"), LANGUAGES[target]
    system = (
        f"You translate {src} dialogue into natural spoken {tgt} for dubbing. Answer with "
        f"the {tgt} translation of the user's line only, within the characters you are given."
    )
    return _static(system, source, EXAMPLE[target])


def translate_request(segments: Sequence[Segment], i: int, max_chars: int) -> list[Message]:
    before = " ".join(s.text for s in segments[max(0, i - 2) : i])
    after = " ".join(s.text for s in segments[i + 1 : i + 2])
    context = f' The line before it was: "{before}".' if before else ""
    if after:
        context += f' The line after it is: "{after}".'
    return request(segments[i].text, max_chars, context)


def brief_static(source: str, target: str) -> list[Message]:
    """Asked again, the model repeats a translation it is told to shorten; translating the
    source afresh as "very short", with a terse example, does get shorter lines."""
    src, tgt = LANGUAGES.get(source, "English"), LANGUAGES[target]
    system = (
        f"You translate {src} dialogue into very short spoken {tgt} for dubbing. Keep only "
        f"the essential meaning, within the characters you are given. Answer with the {tgt} "
        "line only."
    )
    return _static(system, source, TERSE_EXAMPLE[target])
