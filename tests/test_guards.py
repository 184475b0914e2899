"""Guards against loops and invented lines: the checks themselves, the stages trying again
(on the fakes: fast), and real dubs of inputs built to provoke loops, heard back."""

from __future__ import annotations

from dataclasses import replace

import fakes
import numpy as np
import pytest
from conftest import SPEECH, VIDEO, require

from dubengine import dub
from dubengine._guards import (
    MARK,
    collapse_loops,
    longest_loop,
    loop_problem,
    transcript_problem,
    translation_problem,
)
from dubengine.media import Audio, decode_audio, probe, write_output


@pytest.mark.parametrize(
    ("text", "language", "looped"),
    [
        ("Il va faire, il va faire, il va faire, il va faire.", "fr", True),
        ("Oh, no, no, no, no, no, no.", "es", True),
        ("他要做他要做他要做他要做", "zh", True),
        ("No, no, no, I said no.", "en", False),  # emphasis
        (
            "Ask not what your country can do for you, ask what you can do for your country.",
            "en",
            False,
        ),
        ("Hello. Hello. Oh, hello.", "en", False),
    ],
)
def test_a_loop_is_a_phrase_said_over_and_over(text, language, looped):
    assert (loop_problem(text, language) is not None) is looped


def test_a_translation_may_repeat_only_what_its_source_repeats():
    source = "Oh, I don't hear that in New Jersey now."
    assert translation_problem(source, "Oh, no, no, no, no, no, no.", "en", "es") == (
        "repeats 'no' 6 times, its source does not"
    )
    assert (
        translation_problem("No, no, no, no, no, no!", "¡No, no, no, no, no, no!", "en", "es")
        is None
    )
    assert "characters for a source of" in translation_problem(
        "I said you know, I heard of these.", "Lo siento.", "en", "es"
    )
    assert (
        translation_problem(source, "Oh, eso no lo oigo ahora en Nueva Jersey.", "en", "es") is None
    )
    assert (
        translation_problem("Where did you put the keys?", "你把钥匙放哪儿了？", "en", "zh") is None
    )


@pytest.mark.parametrize(
    ("source", "translation", "target", "found"),
    [
        # the shared conversation → es, once: an assistant's refusal in place of the line
        (
            "I said you know this is Diane in New Jersey.",
            "Lo siento, pero no puedo entender eso.",
            "es",
            "refuses instead of translating",
        ),
        (
            "Ask not what your country can do for you.",
            "Désolé, je ne peux pas traduire cela.",
            "fr",
            "refuses instead of translating",
        ),
        ("I'm sorry, I can't come tonight.", "Lo siento, no puedo venir esta noche.", "es", None),
        (
            "I said you know this is Diane in New Jersey.",
            "Ella vive en otra ciudad.",
            "es",
            "drops every name of its source (Diane, New, Jersey)",
        ),
        ("This is Diane in New Jersey.", "Esta es Diane, de Nueva Jersey.", "es", None),
        ("We choose to go to the Moon.", "Elegimos ir a la Luna.", "es", None),  # one name
        ("Diane lives in Texas.", "Диана живёт в Техасе.", "ru", None),  # another script
    ],
)
def test_a_refusal_or_a_line_made_up_in_place_of_the_source_is_not_a_translation(
    source, translation, target, found
):
    assert translation_problem(source, translation, "en", target) == found


def test_text_faster_than_speech_is_not_what_was_said():
    many = "ask not what your country can do for you, ask what you can do for your country"
    assert "faster than speech" in transcript_problem(many, 2.0, "en")
    assert transcript_problem("ask not what your country can do for you", 3.0, "en") is None


def test_collapsing_says_each_loop_once():
    assert collapse_loops("Il va faire, il va faire, il va faire. Merci.", "fr") == (
        "Il va faire, Merci."
    )
    assert longest_loop(collapse_loops("他要做他要做他要做他要做", "zh"), "zh")[1] == 1


def test_a_looped_transcript_is_heard_again_from_the_mixture(fake_backends, tmp_path):
    config = replace(fakes.CONFIG, transcriber="fake-looping")
    result = dub(require(SPEECH / "short_en.wav"), "es", out=tmp_path / "out.wav", config=config)
    assert fakes.LoopingTranscriber.calls == 2  # the stem, then the mixture
    # around the looped line only (0.1-1.27 s, a second either side), not the whole input
    stem, again = fakes.LoopingTranscriber.durations
    assert stem == pytest.approx(2.745, abs=0.01) and again == pytest.approx(2.27, abs=0.01)
    assert result.transcript.segments[0].text == "Hello there."
    guard = [w for w in result.warnings if w.startswith(MARK)]
    assert len(guard) == 1 and "heard again from the original mixture: 'Hello there.'" in guard[0]


def test_a_looped_translation_is_asked_again_alone(fake_backends, tmp_path):
    config = replace(fakes.CONFIG, translator="fake-looping")
    result = dub(require(SPEECH / "short_en.wav"), "es", out=tmp_path / "out.wav", config=config)
    assert result.transcript.segments[0].translation == "HELLO THERE."
    guard = [w for w in result.warnings if w.startswith(MARK)]
    assert len(guard) == 1 and "repeats 'no' 7 times, its source does not" in guard[0]
    assert "asked again alone: 'HELLO THERE.'" in guard[0]


# Real dubs of inputs built to provoke loops (slow: the session's real models).

R = 48_000


def _speech(name: str, seconds: float | None = None, start: float = 0.0) -> np.ndarray:
    audio = decode_audio(require(SPEECH / name), R, 1).samples[0]
    audio = audio[int(start * R) :]
    return audio[: int(seconds * R)] if seconds else audio


def _level(samples: np.ndarray, rms: float = 0.05) -> np.ndarray:
    return samples / (np.sqrt((samples**2).mean()) + 1e-9) * rms


def provoking_inputs(folder) -> dict[str, object]:
    """Overlapping speakers from two recordings; speech under music as loud as it; a long
    pause inside a conversation."""
    two, jfk = _level(_speech("two_speakers_en.wav", 14, start=6)), _level(_speech("jfk_en.flac"))
    overlap = two.copy()
    overlap[4 * R : 4 * R + len(jfk)] += jfk[: len(overlap) - 4 * R]
    music = _level(decode_audio(require(VIDEO / "bbb_vp8_vorbis_30s.webm"), R, 1).samples[0])
    under_music = jfk + music[: len(jfk)]
    pause = np.concatenate([two[: 6 * R], np.zeros(8 * R, np.float32), two[6 * R :]])
    like = probe(require(SPEECH / "two_speakers_en.wav"))
    paths = {}
    for name, samples in (("overlap", overlap), ("under_music", under_music), ("pause", pause)):
        peak = max(1.0, float(np.abs(samples).max()))
        audio = Audio((0.9 * samples / peak).astype(np.float32)[None, :], R)
        paths[name] = write_output(audio, like, folder / f"{name}.wav")
    return paths


@pytest.mark.slow
@pytest.mark.parametrize("case", ["overlap", "under_music", "pause"])
def test_no_dubbed_line_repeats_a_phrase_more_than_its_source(
    case, warm_pipeline, transcriber, tmp_path_factory
):
    folder = tmp_path_factory.mktemp("provoke")
    source = provoking_inputs(folder)[case]
    result = dub(source, "fr", out=folder / f"{case}.fr.wav", pipeline=warm_pipeline)
    heard_source = transcriber.transcribe(decode_audio(source, 16_000), language="en")
    allowed = max((longest_loop(s.text, "en")[1] for s in heard_source.segments), default=1)
    heard = transcriber.transcribe(decode_audio(result.output, 16_000), language="fr")
    for line in heard.segments:
        assert loop_problem(line.text, "fr", allowed) is None, (line.text, result.warnings)
    for fit in result.fits:  # what was spoken, as written
        assert loop_problem(fit.text, "fr", allowed) is None, (fit.text, result.warnings)


def test_a_chat_translator_asks_again_in_another_form_when_it_gets_a_refusal():
    from dubengine._types import Segment, Transcript
    from dubengine.toolkit.chat import ChatTranslator

    class Refusing(ChatTranslator):
        """Refuses one garbled line when asked to translate it, answers the brief form."""

        def complete(self, static, prompts, budgets, progress=None, stage="shorten", hypotheses=1):
            answers = []
            for prompt in prompts:
                line = prompt[-1]["content"]
                if stage == "translate":
                    answers.append(
                        ["Lo siento, pero no puedo entender eso." if "Diane" in line else "Hola."]
                    )
                else:
                    answers.append(["Lo siento, no puedo.", "Es Diane, de Nueva Jersey."])
            return answers

    lines = (
        Segment(0, 0.0, 1.0, "Hello."),
        Segment(1, 1.2, 4.0, "I said you know this is Diane in New Jersey."),
    )
    out = Refusing().translate(Transcript("en", lines), "es")
    assert [s.translation for s in out.segments] == ["Hola.", "Es Diane, de Nueva Jersey."]


@pytest.mark.slow
def test_a_right_line_on_squeezed_times_keeps_every_word_and_gets_its_times_back(transcriber):
    """Whisper can put a right line on too short a span: "faster than speech" is then its
    times' fault, not its text's. Heard again, the line keeps all its words (taking only
    those inside the squeezed span lost the first) and the times its words were heard at."""
    from dubengine.pipeline.transcribe import guarded

    audio = decode_audio(require(SPEECH / "two_speakers_en.wav"), 16_000, 1)
    transcript = transcriber.transcribe(audio, language="en")
    lines = transcript.segments
    k = max(range(1, len(lines) - 1), key=lambda i: len(lines[i].text.split()))
    line = lines[k]
    squeezed = replace(line, start=line.start + 0.6 * line.duration, words=())
    doubtful = replace(transcript, segments=(*lines[:k], squeezed, *lines[k + 1 :]))
    warnings: list[str] = []
    fixed = guarded(doubtful, lambda: audio, transcriber, warnings.append).segments[k]
    print(line, squeezed, fixed, warnings, sep="\n")
    assert len(warnings) == 1 and "faster than speech" in warnings[0]
    assert "says the same" in warnings[0]
    assert fixed.text == line.text  # every word, none lost at the squeezed edge
    # a first word after a pause is timed up to half a second early, heard alone or not
    assert fixed.start == pytest.approx(line.start, abs=0.6)
    assert fixed.end == pytest.approx(line.end, abs=0.3)
