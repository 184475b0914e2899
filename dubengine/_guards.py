"""Guards against degenerate model output: a phrase looped ("il va faire, il va faire, ..."),
text no one could say in the time it takes, a translation that repeats what its source does
not or is far longer or shorter than it, that refuses instead of translating ("Lo siento,
pero no puedo..."), or that drops every name its source says (a line made up in its place).
Each check says what it found in words, for the warning that names the line; the stages
decide how to try again.
"""

from __future__ import annotations

import re
import unicodedata
import zlib

LOOP_MIN = 3  # a phrase said this many times running is a loop, not emphasis
WORD_LOOP_MIN = 5  # one word: "no, no, no" is emphasis, six of them are not
MAX_PHRASE = 8  # the longest phrase (in words, or characters without spaces) looked for
MAX_CHARS_PER_SEC = 35.0  # faster than anyone speaks (fast talkers reach 25 in Whisper's timings)
MAX_COMPRESSION = 2.4  # Whisper's own threshold for repetitive output
NO_SPACES = frozenset({"zh", "ja"})  # written without spaces: characters are the units
# Characters per source character, against English, for a length check across scripts.
EXPANSION = {
    "en": 1.0,
    "es": 1.15,
    "fr": 1.2,
    "de": 1.2,
    "it": 1.1,
    "pt": 1.1,
    "ru": 1.05,
    "ja": 0.45,
    "ko": 0.5,
    "zh": 0.3,
}
MAX_LENGTH_RATIO = 3.0  # a translation 3x longer or shorter than expected is not one
# An assistant's apology and refusal, per language: a translation says it only if its source does.
REFUSALS = {
    "en": r"\bsorry\b.*\b(can ?not|can't|unable)\b",
    "es": r"\blo siento\b.*\bno (puedo|es posible)\b",
    "fr": r"d[ée]sol[ée].*\bne (peux|puis|suis pas en mesure)\b",
    "de": r"\b(tut mir leid|entschuldigung)\b.*\b(kann|nicht m[öo]glich)\b",
    "it": r"\bmi dispiace\b.*\bnon (posso|riesco)\b",
    "pt": r"\bdesculp.*\bn[ãa]o (posso|consigo)\b",
    "ru": r"(извините|простите|к сожалению).*не (могу|удается)",
    "ja": r"(申し訳|すみません).*(できません)",
    "ko": r"(죄송|미안).*(수 없)",
    "zh": r"(抱歉|对不起).*(无法|不能)",
}
LATIN = frozenset({"en", "es", "fr", "de", "it", "pt"})  # names are spelt alike across these
NAME_PREFIX = 3  # "Londres" keeps "Lon", "Marte" "Mar": a name carried over may end differently
MIN_NAMES = 2  # one name may well be translated ("the Moon", "la Luna"); all of two or more not
MARK = "[guard]"  # starts every warning a guard gives: the quality report collects them


def clip(text: str, length: int = 60) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def units(text: str, language: str) -> list[str]:
    """Words (or characters, for languages written without spaces), lowercased, without
    punctuation."""
    if language in NO_SPACES:
        return [c for c in text.lower() if c.isalnum()]
    return [w for w in re.sub(r"[^\w\s']", " ", text.lower()).split() if w]


def longest_loop(text: str, language: str) -> tuple[str, int]:
    """The phrase repeated most times in a row, and how many times (1: no repeat)."""
    tokens = units(text, language)
    best, count = "", 1
    for size in range(1, MAX_PHRASE + 1):
        for start in range(len(tokens) - size):
            phrase, n = tokens[start : start + size], 1
            while tokens[start + n * size : start + (n + 1) * size] == phrase:
                n += 1
            if n > count or (n == count and n > 1 and size > len(best.split())):
                best, count = " ".join(phrase), n
    return best, count


def is_loop(phrase: str, count: int, language: str) -> bool:
    single = len(phrase.split()) == 1 and (language not in NO_SPACES or len(phrase) == 1)
    return count >= (WORD_LOOP_MIN if single else LOOP_MIN)


def loop_problem(text: str, language: str, allowed: int = 1) -> str | None:
    """A loop in ``text`` repeated more than ``allowed`` times (what its source does)."""
    phrase, count = longest_loop(text, language)
    if count > allowed and is_loop(phrase, count, language):
        return f"repeats {phrase!r} {count} times"
    return None


def transcript_problem(text: str, duration: float, language: str) -> str | None:
    """Why a transcribed line cannot be what was said, or None."""
    looped = loop_problem(text, language)
    if looped:
        return looped
    if duration >= 0.5 and len(text) / duration > MAX_CHARS_PER_SEC:
        return f"{len(text)} characters in {duration:.1f} s, faster than speech"
    data = text.encode()
    if len(data) >= 60 and len(data) / len(zlib.compress(data)) > MAX_COMPRESSION:
        return "too repetitive (compression ratio over 2.4)"
    return None


def translation_problem(source: str, translation: str, source_lang: str, target: str) -> str | None:
    """Why ``translation`` is not a translation of ``source``, or None."""
    _, source_count = longest_loop(source, source_lang)
    looped = loop_problem(translation, target, allowed=source_count)
    if looped:
        return f"{looped}, its source does not"
    expected = len(source) * EXPANSION.get(target, 1.0) / EXPANSION.get(source_lang, 1.0)
    if len(source) >= 20 and expected > 0:
        ratio = len(translation) / expected
        if ratio > MAX_LENGTH_RATIO or ratio < 1 / MAX_LENGTH_RATIO:
            return f"{len(translation)} characters for a source of {len(source)}"
    if refuses(translation, target) and not refuses(source, source_lang):
        return "refuses instead of translating"
    names = names_in(source) if {source_lang, target} <= LATIN else []
    if len(names) >= MIN_NAMES and not any(_says(translation, name) for name in names):
        return f"drops every name of its source ({', '.join(names)})"
    return None


def refuses(text: str, language: str) -> bool:
    """Whether ``text`` is an assistant's apology and refusal in ``language``."""
    pattern = REFUSALS.get(language)
    return pattern is not None and re.search(pattern, text.lower()) is not None


def names_in(text: str) -> list[str]:
    """Capitalised words not starting a sentence ("Diane", "Jersey"; not "I" or "I'm")."""
    words = re.findall(r"[\w'’]+|[.!?]", text)
    names = []
    for before, word in zip([".", *words], words, strict=False):
        if before not in ".!?" and word[:1].isupper() and len(word) > 1 and "'" not in word:
            names.append(word)
    return list(dict.fromkeys(names))


def _says(text: str, name: str) -> bool:
    return _plain(name)[:NAME_PREFIX] in _plain(text)


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def collapse_loops(text: str, language: str) -> str:
    """``text`` with each looped phrase said once (the rest of the words kept)."""
    phrase, count = longest_loop(text, language)
    if not is_loop(phrase, count, language):
        return text
    if language in NO_SPACES:
        return re.sub(rf"(.{{1,{MAX_PHRASE}}}?)\1{{{LOOP_MIN - 1},}}", r"\1", text)
    words = text.split()
    size = len(phrase.split())
    for start in range(len(words)):
        if " ".join(units(" ".join(words[start : start + size]), language)) == phrase:
            end = start + size * count
            return " ".join(words[: start + size] + words[end:])
    return text
