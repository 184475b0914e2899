"""Who spoke when: Resemblyzer diarization on real conversations, scored by the standard DER."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from conftest import SPEECH, require

from dubengine._errors import BackendUnavailable, InvalidOption, ModelNotInstalled
from dubengine._types import Segment, Word
from dubengine.media import Audio, decode_audio
from dubengine.pipeline.lines import assign_speakers
from dubengine.quality.metrics import diarization_error_rate, read_rttm
from dubengine.registry import create_backend


@pytest.fixture(scope="module")
def diarizer():
    backend = create_backend("diarizer", "resemblyzer", device="cpu")
    yield backend
    backend.close()


def turns_of(diarizer, audio: Audio, **options) -> list[tuple[float, float, str]]:
    return [(t.start, t.end, t.speaker) for t in diarizer.diarize(audio, **options)]


def channel_reference(stereo: Audio, frame: float = 0.05) -> list[tuple[float, float, str]]:
    """Turns read off a recording with one speaker per channel: where one channel is at
    least 6 dB louder than the other and clearly above silence, for 0.2 s or more."""
    hop = int(stereo.sample_rate * frame)
    n = stereo.n_samples // hop
    level = np.sqrt((stereo.samples[:, : n * hop].reshape(2, n, hop) ** 2).mean(axis=2))
    loud = level.max(axis=1, keepdims=True) * 0.1
    turns: list[tuple[float, float, str]] = []
    for i in range(n):
        left, right = level[:, i]
        speaker = "left" if left > loud[0] and left > 2 * right else None
        if right > loud[1] and right > 2 * left:
            speaker = "right"
        if speaker is None:
            continue
        if turns and turns[-1][2] == speaker and i * frame - turns[-1][1] <= 0.3:
            turns[-1] = (turns[-1][0], (i + 1) * frame, speaker)  # bridge short pauses
        else:
            turns.append((i * frame, (i + 1) * frame, speaker))
    return [t for t in turns if t[1] - t[0] >= 0.2]  # blips are cross-talk, not turns


def test_two_speakers_are_found_within_the_der_limit(diarizer):
    audio = decode_audio(require(SPEECH / "two_speakers_en.wav"))
    reference = read_rttm(require(SPEECH / "two_speakers_en.rttm"))
    hypothesis = turns_of(diarizer, audio)
    score = diarization_error_rate(reference, hypothesis)
    collar = diarization_error_rate(reference, hypothesis, collar=0.25)
    print(f"two_speakers_en.wav: DER {score['der']:.3f} (missed {score['missed']:.2f} s, "
          f"false alarm {score['false_alarm']:.2f} s, confusion {score['confusion']:.2f} s of "
          f"{score['total']:.2f} s); with a 0.25 s collar {collar['der']:.3f}")  # fmt: skip
    assert score["speakers_hypothesis"] == 2
    assert score["der"] <= 0.20


def test_a_speaker_on_each_channel_is_told_apart(diarizer):
    stereo = decode_audio(require(SPEECH / "stereo_two_speakers.wav"), 16_000, 2)
    mono = Audio(stereo.samples.mean(axis=0, keepdims=True), 16_000)
    reference = channel_reference(stereo)
    score = diarization_error_rate(reference, turns_of(diarizer, mono))
    print(f"stereo_two_speakers.wav (mono mix) against turns read off its channels: DER "
          f"{score['der']:.3f}, of which confusion {score['confusion']:.2f} s of "
          f"{score['total']:.2f} s")  # fmt: skip
    assert score["speakers_hypothesis"] == 2
    # The channel-level reference misses quiet speech, so missed / false alarm say little
    # here; confusion says whether each channel's speaker got their own label.
    assert score["confusion"] <= 0.2  # measured 0.10 s: the hand-over found 0.1 s late


def test_one_speaker_stays_one_speaker(diarizer):
    audio = decode_audio(require(SPEECH / "jfk_en.flac"))
    assert {speaker for *_, speaker in turns_of(diarizer, audio)} == {"SPEAKER_00"}


def test_a_known_speaker_count_is_used(diarizer):
    audio = decode_audio(require(SPEECH / "jfk_en.flac"))
    assert len({s for *_, s in turns_of(diarizer, audio, num_speakers=2)}) == 2


def test_der_follows_the_standard_definition():
    reference = [(0.0, 10.0, "a"), (10.0, 20.0, "b")]
    # b's first 2 s given to a (confusion), 1 s of a missed, 1 s of silence claimed
    hypothesis = [(1.0, 12.0, "x"), (12.0, 21.0, "y")]
    score = diarization_error_rate(reference, hypothesis)
    assert score["missed"] == pytest.approx(1.0, abs=0.02)
    assert score["false_alarm"] == pytest.approx(1.0, abs=0.02)
    assert score["confusion"] == pytest.approx(2.0, abs=0.02)
    assert score["der"] == pytest.approx(4.0 / 20.0, abs=0.002)
    # labels do not matter, only the mapping
    assert diarization_error_rate(reference, [(0, 10, "q"), (10, 20, "p")])["der"] == 0.0


def _words(*spans: tuple[float, float, str]) -> tuple[Word, ...]:
    return tuple(Word(a, b, text) for a, b, text in spans)


def test_a_line_is_split_where_the_speaker_changes():
    line = Segment(0, 0.0, 4.0, "Hello there. Hi, how are you?", words=_words(
        (0.0, 0.5, " Hello"), (0.5, 1.2, " there."), (2.0, 2.4, " Hi,"), (2.5, 2.9, " how"),
        (2.9, 3.2, " are"), (3.2, 4.0, " you?")))  # fmt: skip
    other = Segment(1, 5.0, 6.0, "Fine.", words=_words((5.0, 6.0, " Fine.")))
    turns = [(0.0, 1.5, "SPEAKER_00"), (1.8, 4.2, "SPEAKER_01"), (4.8, 6.5, "SPEAKER_00")]
    lines = assign_speakers([line, other], turns)
    assert [(s.id, s.speaker, s.text) for s in lines] == [
        (0, "SPEAKER_00", "Hello there."),
        (1, "SPEAKER_01", "Hi, how are you?"),
        (2, "SPEAKER_00", "Fine."),
    ]
    assert (lines[1].start, lines[1].end) == (2.0, 4.0)


def test_a_flicker_inside_a_line_does_not_split_it():
    line = Segment(0, 0.0, 3.0, "one two three", words=_words(
        (0.0, 1.0, " one"), (1.0, 1.2, " two"), (1.3, 3.0, " three")))  # fmt: skip
    turns = [(0.0, 1.0, "A"), (1.0, 1.25, "B"), (1.25, 3.0, "A")]
    assert [s.speaker for s in assign_speakers([line], turns)] == ["A"]


def test_pyannote_backend_says_how_to_install_it():
    # pyannote.audio is an optional extra (it needs torchaudio): not installed here
    pytest.importorskip("torch")
    try:
        import pyannote.audio  # noqa: F401
    except ImportError:
        with pytest.raises(BackendUnavailable, match=r"dubengine\[pyannote\]"):
            create_backend("diarizer", "pyannote", device="cpu", model="/nowhere")
    else:
        with pytest.raises(ModelNotInstalled):
            create_backend("diarizer", "pyannote", device="cpu", model="/nowhere")


def test_pyannote_output_becomes_turns_and_local_weights_are_required(tmp_path):
    from dubengine.backends.diar_pyannote import config_path, turns_from_tracks

    seg = lambda a, b: SimpleNamespace(start=a, end=b)  # noqa: E731  pyannote's Segment fields
    tracks = [(seg(3.0, 4.5), "B", "spk_7"), (seg(0.5, 2.0), "A", "spk_2"),
              (seg(5.0, 6.0), "C", "spk_2")]  # fmt: skip
    turns = turns_from_tracks(tracks)
    assert [(t.start, t.end, t.speaker) for t in turns] == [
        (0.5, 2.0, "SPEAKER_00"),
        (3.0, 4.5, "SPEAKER_01"),
        (5.0, 6.0, "SPEAKER_00"),
    ]
    with pytest.raises(InvalidOption, match="local pipeline"):
        config_path(None)
    with pytest.raises(ModelNotInstalled):
        config_path(tmp_path)  # a folder without config.yaml
    (tmp_path / "config.yaml").write_text("pipeline: {}\n")
    assert config_path(tmp_path) == tmp_path / "config.yaml"
