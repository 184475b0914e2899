"""Lines a dubber would speak, length budgets, and cleaning what an LLM adds."""

from __future__ import annotations

import pytest

from dubengine._types import Segment, Transcript, Word
from dubengine.quality.metrics import character_error_rate, normalize_text
from dubengine.toolkit.budget import budget_chars, clean_translation
from dubengine.toolkit.lines import MAX_LINE_SEC, words_to_lines


def words(*spec: tuple[float, float, str]) -> list[Word]:
    return [Word(s, e, t) for s, e, t in spec]


def test_a_sentence_end_starts_a_new_line():
    lines = words_to_lines(
        words(
            (0, 0.4, " Hello"),
            (0.4, 0.9, " there."),
            (1.0, 1.5, " How"),
            (1.5, 2.2, " are"),
            (2.2, 2.8, " you?"),
        )
    )
    assert [line.text for line in lines] == ["Hello there.", "How are you?"]
    assert (lines[1].start, lines[1].end) == (1.0, 2.8)


def test_a_long_pause_ends_a_line_without_punctuation():
    lines = words_to_lines(words((0, 0.5, " so"), (0.5, 1.2, " anyway"), (3.0, 3.6, " right")))
    assert [line.text for line in lines] == ["so anyway", "right"]


def test_a_long_sentence_is_split_at_its_last_clause_mark():
    spec = [(i * 0.5, i * 0.5 + 0.45, f" w{i}" + ("," if i == 9 else "")) for i in range(24)]
    lines = words_to_lines(words(*spec))
    assert all(line.end - line.start <= MAX_LINE_SEC for line in lines)
    assert lines[0].text.endswith("w9,")


def test_chinese_words_join_without_spaces():
    lines = words_to_lines(words((0, 0.3, "砸"), (0.3, 0.6, "自己"), (0.6, 1.0, "的脚")))
    assert lines[0].text == "砸自己的脚"


def test_transcript_round_trips_through_a_dict():
    transcript = Transcript(
        language="en",
        segments=(Segment(0, 0.0, 1.0, "Hi.", "SPEAKER_00", "Hola.", (Word(0.0, 1.0, " Hi."),)),),
    )
    assert Transcript.from_dict(transcript.to_dict()) == transcript


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Ecco la traduzione in italiano:\n\nNon lo so.", "Non lo so."),
        ('"Hola, amigo."', "Hola, amigo."),
        ("Translation: Bonjour.", "Bonjour."),
        ("Hallo.\n(Note: informal register)", "Hallo."),
        ("«Привет»", "Привет"),
        ("Sure, here is the translation: Ciao.", "Ciao."),
        ("「こんにちは」", "こんにちは"),
    ],
)
def test_clean_translation_keeps_only_the_translation(raw, clean):
    assert clean_translation(raw) == clean


def test_budget_grows_with_duration_and_is_tighter_for_chinese():
    assert budget_chars(4.0, "en") > budget_chars(2.0, "en")
    assert budget_chars(2.0, "zh") < budget_chars(2.0, "es")
    assert budget_chars(0.1, "en") >= 4


def test_character_error_rate_ignores_case_and_punctuation():
    assert character_error_rate("Hello, World!", "hello world") == 0.0
    assert character_error_rate("abcd", "abxd") == pytest.approx(0.25)
    assert normalize_text("今天 天气，很好。", "zh") == "今天天气很好"


def test_chinese_error_rate_ignores_the_script_it_is_written_in():
    # Whisper heard "我哥哥在河边的医院工作" in traditional characters, one word wrong
    heard = "我各個在河邊的醫院工作"
    assert character_error_rate("我哥哥在河边的医院工作。", heard, "zh") == pytest.approx(2 / 11)


def test_a_line_may_count_on_half_a_second_of_the_pause_after_it():
    from dubengine.toolkit.budget import line_limits, line_rooms

    lines = (Segment(0, 0.0, 1.0, "a"), Segment(1, 1.3, 2.0, "b"), Segment(2, 5.0, 6.0, "c"))
    assert line_rooms(Transcript("en", lines)) == pytest.approx([1.2, 1.2, 1.0])
    limits = line_limits(Transcript("en", lines), "es")
    assert limits[0] == budget_chars(1.2, "es", speed=1.25) > budget_chars(1.0, "es")


def test_only_lines_past_their_limit_are_asked_again_and_not_for_the_same_answers():
    from dubengine.toolkit.chat import ChatTranslator

    class Scripted(ChatTranslator):
        """Translates long; asked for shorter, answers the same two lines every time."""

        def __init__(self) -> None:
            self.asked: list[str] = []

        def complete(self, static, prompts, budgets, progress=None, stage="shorten", hypotheses=1):
            lines = [prompt[-1]["content"] for prompt in prompts]
            if stage == "translate":
                return [[{"Hi.": "x" * 16, "Go.": "y" * 40}[line]] for line in lines]
            self.asked += lines
            return [["y" * 38, "y" * 39] for _ in lines]

    # 1 s at 14 characters a second: budget 15, limit 17: "Hi." is over budget, within limit
    lines = (Segment(0, 0.0, 1.0, "Hi."), Segment(1, 1.1, 2.1, "Go."))
    translator = Scripted()
    out = translator.translate(Transcript("en", lines), "es")
    assert translator.asked == ["Go.", "Go."]  # the second round's answers were all seen
    assert [s.translation for s in out.segments] == ["x" * 16, "y" * 38]


def _shortening(answers: list[list[str]]):
    """A chat translator that translates "Go." long and, asked for shorter, gives the next
    of ``answers`` (the last again once they run out)."""
    from dubengine.toolkit.chat import ChatTranslator

    class Scripted(ChatTranslator):
        def __init__(self) -> None:
            self.asked: list[str] = []

        def complete(self, static, prompts, budgets, progress=None, stage="shorten", hypotheses=1):
            lines = [prompt[-1]["content"] for prompt in prompts]
            if stage == "translate":
                return [["y" * 40] for _ in lines]
            self.asked += lines
            return [answers[min(len(self.asked), len(answers)) - 1] for _ in lines]

    return Scripted()


def test_a_line_is_asked_again_while_its_answers_get_shorter():
    translator = _shortening([["y" * 36], ["y" * 30], ["y" * 25]])
    out = translator.translate(Transcript("en", (Segment(0, 0.0, 1.0, "Go."),)), "es")
    assert translator.asked == ["Go."] * 3  # every retry brought it closer
    assert out.segments[0].translation == "y" * 25


def test_a_line_the_model_stalls_on_is_not_asked_again_by_the_aligner():
    translator = _shortening([["y" * 30, "y" * 33], ["y" * 31], ["y" * 12]])
    out = translator.translate(Transcript("en", (Segment(0, 0.0, 1.0, "Go."),)), "es")
    assert translator.asked == ["Go.", "Go."]  # the second answers were no shorter
    assert out.segments[0].translation == "y" * 30
    shorter = translator.shorten(out.segments, "en", "es", [20])
    assert translator.asked == ["Go.", "Go."]  # nothing new to be had: what it offered
    assert shorter == ["y" * 30]
    fresh = Segment(1, 2.0, 3.0, "Stop.", translation="z" * 30)
    assert translator.shorten((fresh,), "en", "es", [20]) == ["y" * 12]  # a new line is asked
    assert translator.asked[-1] == "Stop."
