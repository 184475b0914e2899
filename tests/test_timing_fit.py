"""Stage 6 on real speech: each line fits its time, or is shortened, never beyond the cap."""

from __future__ import annotations

import numpy as np
import pytest

from dubengine._types import Segment
from dubengine.media import Audio
from dubengine.pipeline.align import MAX_LEAD_SEC, MAX_SLIP_SEC, AlignOptions, align

CAP = AlignOptions().max_speed
# Lines of two_speakers_en.wav with Spanish translations, and how much longer each one's
# natural speech is than the time it gets: one fits as spoken, one needs a slight speed-up,
# two are far too long even with the pause after them.
LINES = (
    ("I need the design.", "Necesito el diseño.", 0.8),
    ("I didn't know you were there.", "No sabía que estabas ahí.", 1.15),
    (
        "I'm in New Jersey now, though.",
        "Aunque ahora mismo estoy viviendo en el estado de Nueva Jersey.",
        2.5,
    ),
    (
        "I looked everywhere for the keys.",
        "He buscado las llaves absolutamente por todas partes de la casa.",
        2.5,
    ),
)
PAUSE = 0.2


@pytest.fixture(scope="module")
def fitted(synthesizers, translator):
    kokoro = synthesizers["kokoro"]

    def speak(text: str, speed: float):
        return kokoro.synthesize(text, "es", speed=speed)

    batches: list[int] = []

    def shorten(segments, max_chars):
        batches.append(len(segments))
        return translator.shorten(segments, "en", "es", max_chars)

    natural, segments, start = {}, [], 0.0
    for i, (text, translation, too_long) in enumerate(LINES):
        natural[i] = speak(translation, 1.0)
        end = round(start + natural[i].duration / too_long, 2)  # as a transcriber times it
        segments.append(Segment(i, start, end, text, translation=translation))
        start = round(end + PAUSE, 2)
    placed = align(segments, natural, lambda s: speak, shorten, duration=start)
    return placed, natural, batches, segments


def test_every_line_starts_at_its_source_and_stays_within_the_cap(fitted):
    placed, _, _, segments = fitted
    assert [p.fit.id for p in placed] == [s.id for s in segments]
    for line, segment in zip(placed, segments, strict=True):
        assert line.fit.start == pytest.approx(segment.start + line.fit.slipped)
        assert line.fit.slipped <= MAX_SLIP_SEC
        assert line.fit.speed <= CAP * 1.01
        assert line.audio.duration == pytest.approx(line.fit.end - line.fit.start, abs=1e-3)


def test_a_line_that_fits_is_left_at_its_natural_pace(fitted):
    placed, natural, _, _ = fitted
    assert placed[0].fit.method == "natural"
    assert placed[0].audio.n_samples == natural[0].n_samples


def test_a_slightly_long_line_is_sped_up_into_its_slot(fitted):
    placed, _, _, segments = fitted
    fit = placed[1].fit
    assert fit.method in {"tts-speed", "stretched"}
    assert 1.1 < fit.speed <= CAP * 1.01
    assert fit.end <= segments[1].end + 1e-3


def test_lines_too_long_for_any_window_are_shortened_together(fitted):
    placed, _, batches, segments = fitted
    assert batches[0] == 2  # both in one translator call, not one call per line
    for line, segment in zip(placed[2:], segments[2:], strict=True):
        assert line.fit.shortened >= 1
        assert len(line.fit.text) < len(segment.translation)
        assert line.fit.method in {"shortened", "overflow"}


def tone(text: str, speed: float) -> Audio:
    """A fake voice: a tenth of a second per character at speed 1."""
    seconds = len(text) / 10 / speed
    t = np.arange(int(seconds * 24_000)) / 24_000
    return Audio((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[None, :], 24_000)


def test_a_line_that_fits_nowhere_delays_the_next_one_when_it_has_room():
    # Back to back, no pause to borrow: line 0 needs 0.8 s at its natural pace for 0.5 s.
    segments = [
        Segment(0, 0.0, 0.5, "a", translation="x" * 8),
        Segment(1, 0.5, 1.5, "b", translation="y" * 3),
        Segment(2, 1.6, 1.9, "c", translation="z" * 3),
    ]
    natural = {s.id: tone(s.translation, 1.0) for s in segments}
    placed = align(segments, natural, lambda s: tone, None, duration=2.5)
    first, second, third = (p.fit for p in placed)
    assert first.speed == pytest.approx(CAP, abs=0.01) and first.overflow == 0
    assert second.slipped == pytest.approx(first.end + AlignOptions().gap - 0.5, abs=1e-3)
    assert second.start == pytest.approx(0.5 + second.slipped) and second.end <= 1.5
    # the third has no room to slip into: the second would run into it
    assert third.slipped == 0


def test_a_line_that_fits_nowhere_starts_early_into_the_silence_before_it():
    segments = [
        Segment(0, 0.0, 0.5, "a", translation="x" * 3),
        Segment(1, 0.8, 1.3, "b", translation="y" * 8),  # 0.8 s, 0.62 s at the cap
        Segment(2, 1.3, 2.3, "c", translation="z" * 3),
    ]
    natural = {s.id: tone(s.translation, 1.0) for s in segments}
    first, second, third = (p.fit for p in align(segments, natural, lambda s: tone, None, 2.5))
    assert second.overflow == 0 and second.end <= 1.3 + 1e-3
    assert -MAX_LEAD_SEC <= second.slipped < 0
    assert second.start >= first.end + AlignOptions().gap - 1e-3
    assert third.slipped == 0


def test_the_line_after_one_that_fits_nowhere_is_sped_up_to_start_late_and_end_on_time():
    segments = [
        Segment(0, 0.0, 0.5, "a", translation="x" * 7),  # 0.54 s at the cap for 0.5
        Segment(1, 0.5, 1.0, "b", translation="y" * 4),  # fits at its natural pace
        Segment(2, 1.1, 1.5, "c", translation="z" * 3),
    ]
    natural = {s.id: tone(s.translation, 1.0) for s in segments}
    first, second, _ = (p.fit for p in align(segments, natural, lambda s: tone, None, 2.0))
    assert first.overflow == 0
    assert 0 < second.slipped <= MAX_SLIP_SEC and second.start >= first.end + 0.1 - 1e-3
    assert 1.0 < second.speed <= CAP and second.end <= 1.0 + 1e-3
