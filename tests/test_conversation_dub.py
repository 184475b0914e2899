"""A real multi-speaker clip with a soundtrack, dubbed: background kept, no English left,
each speaker in their own voice."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dubengine import Pipeline, dub
from dubengine.media import decode_audio, probe
from dubengine.media.resample import resample
from dubengine.quality.metrics import si_sdr

RATE = 48_000
FIRST_WORD_SEC = 6.69  # two_speakers_en.rttm: nobody speaks before this


@pytest.fixture(scope="module")
def dubbed(conversation_video, warm_pipeline, tmp_path_factory):
    """Dubbed with the count of speakers given: on the separated speech of this mix the
    count estimate is not reliable (see test_diarization.py for the estimate on clean
    speech); the session's loaded models are reused."""
    pipeline = Pipeline(replace(warm_pipeline.config, num_speakers=2))
    pipeline.models = warm_pipeline.models
    out = tmp_path_factory.mktemp("dub") / "conversation.es.mp4"
    result = dub(
        conversation_video.path, "es", out=out, pipeline=pipeline, quality=True, stems=True
    )
    return result, decode_audio(result.output, RATE, 2)


def test_the_picture_and_length_are_kept(conversation_video, dubbed):
    result, _ = dubbed
    before, after = probe(conversation_video.path), probe(result.output)
    assert (after.video.codec, after.audio.codec) == ("h264", "aac")
    assert (after.video.width, after.video.height) == (320, 180)
    assert abs(after.duration - before.duration) <= 1 / 24


def test_the_background_is_kept_under_the_dub(conversation_video, dubbed):
    result, output = dubbed
    speech = decode_audio(result.files.stem_dubbed_speech_wav, RATE, 2)
    truth = conversation_video.background.samples
    n = min(output.n_samples, speech.n_samples, truth.shape[1])
    residual = output.samples[:, :n] - speech.samples[:, :n]
    score = si_sdr(residual, truth[:, :n])
    # Before anyone speaks the soundtrack is the background, plus the speech recording's own
    # room tone: the input file itself is the most any output could correlate there.
    before = slice(0, int((FIRST_WORD_SEC - 0.5) * RATE))
    truth_before = truth.mean(axis=0)[before]
    original = decode_audio(conversation_video.path, RATE, 2).mono()[before]
    correlation = float(np.corrcoef(output.mono()[before], truth_before)[0, 1])
    ceiling = float(np.corrcoef(original, truth_before)[0, 1])
    print(
        f"background: SI-SDR of (output - dubbed speech) against the true background "
        f"{score:.1f} dB; correlation with it before anyone speaks {correlation:.3f} (the "
        f"input file's: {ceiling:.3f}); report {result.quality.background}"
    )
    assert score >= 8.0
    assert correlation >= 0.98 * ceiling


def test_no_english_is_left_in_the_output(dubbed, transcriber):
    from lingua import Language, LanguageDetectorBuilder

    output = dubbed[1]
    heard = transcriber.transcribe(resample(output, 16_000, 1))
    detector = LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.SPANISH).build()
    # Names ("Sheila y Texas") sound English to a detector: only a confident call counts.
    sentences = [s.text for s in heard.segments if len(s.text.split()) >= 4]
    english = [
        t for t in sentences if detector.compute_language_confidence(t, Language.ENGLISH) >= 0.9
    ]
    print(
        f"heard back ({heard.language}, p={heard.language_probability:.2f}): "
        f"{' | '.join(s.text for s in heard.segments)}"
    )
    assert heard.language == "es"
    assert english == []


def test_each_speaker_gets_a_voice_of_their_own(dubbed):
    result, _ = dubbed
    speakers = {s.speaker for s in result.transcript.segments}
    voices = {speaker: result.voices[speaker].to_dict() for speaker in speakers}
    print(
        f"speakers found: {len(speakers)}; voices: {voices}; dubbed voice similarity "
        f"{result.quality.to_dict()['dubbed_voice_similarity']}; to the originals "
        f"{result.quality.to_dict()['speaker_similarity']}"
    )
    assert len(speakers) == 2
    identities = {(v["voice"], v["pitch_semitones"], v["formant_ratio"]) for v in voices.values()}
    assert len(identities) == len(speakers)
