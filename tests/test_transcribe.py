"""faster-whisper with the embedded Whisper base, on the real recordings."""

from __future__ import annotations

import pytest
from conftest import SPEECH, require

from dubengine._progress import ProgressEvent
from dubengine.media import decode_audio
from dubengine.quality.metrics import word_error_rate

JFK = (
    "And so, my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


def test_jfk_gives_the_known_sentence_in_english(transcriber):
    events: list[ProgressEvent] = []
    transcript = transcriber.transcribe(
        decode_audio(require(SPEECH / "jfk_en.flac"), 16_000), progress=events.append
    )
    heard = " ".join(s.text for s in transcript.segments)
    assert transcript.language == "en"
    assert transcript.language_probability > 0.5
    assert word_error_rate(JFK, heard) <= 0.1, heard
    assert events and events[-1].completed == events[-1].total


@pytest.mark.parametrize(
    ("name", "language", "heard"),
    [("short_fr.aiff", "fr", "dictée"), ("short_zh.flac", "zh", "自己")],
)
def test_language_is_detected(transcriber, name, language, heard):
    transcript = transcriber.transcribe(decode_audio(require(SPEECH / name), 16_000))
    assert transcript.language == language
    assert heard in " ".join(s.text for s in transcript.segments)


def test_conversation_yields_timed_lines_inside_the_clip(transcriber):
    audio = decode_audio(require(SPEECH / "two_speakers_en.wav"), 16_000)
    transcript = transcriber.transcribe(audio)
    assert len(transcript.segments) >= 5
    previous_end = 0.0
    for line in transcript.segments:
        assert line.words, line
        assert 0.0 <= line.start < line.end <= audio.duration + 0.05
        assert line.start >= previous_end - 0.05  # lines follow one another
        assert all(line.start <= w.start <= w.end <= line.end for w in line.words)
        assert line.text == "".join(w.text for w in line.words).strip()
        previous_end = line.end


def test_wrong_sample_rate_is_refused(transcriber):
    with pytest.raises(ValueError, match="16000 Hz"):
        transcriber.transcribe(decode_audio(require(SPEECH / "short_en.wav"), 44_100))
