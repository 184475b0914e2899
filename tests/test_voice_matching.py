"""Each speaker gets their own voice, chosen and adjusted toward them, measured by embedding."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DATA, SPEECH, require
from dubengine.backends.match_nearest_voice import stock_voice, voice_gender

from dubengine._spans import joined, subtract
from dubengine.media import Audio, decode_audio
from dubengine.quality.metrics import read_rttm
from dubengine.samples import SENTENCES
from dubengine.toolkit.voicing import adjust_voice, median_f0, semitones, speak_as

# Lines the voices are heard speaking in the checks (not the sentences the matcher samples).
LINES = [
    "Mi hermano trabaja en el hospital cerca del río.",
    "¿Podrías decirme dónde está la estación de tren?",
]


@pytest.fixture(scope="module")
def references() -> dict[str, Audio]:
    """The two people of two_speakers_en.wav, each from their own turns (per the RTTM)."""
    audio = decode_audio(require(SPEECH / "two_speakers_en.wav"))
    rate, mono = audio.sample_rate, audio.samples[0]
    turns = read_rttm(require(SPEECH / "two_speakers_en.rttm"))
    out = {}
    for speaker in sorted({t[2] for t in turns}):
        pieces = [mono[int(a * rate) : int(b * rate)] for a, b, s in turns if s == speaker]
        out[speaker] = Audio(np.concatenate(pieces)[None, :], rate)
    return out


@pytest.fixture(scope="module")
def kokoro(synthesizers):
    return synthesizers["kokoro"]


@pytest.fixture(scope="module")
def matcher(warm_pipeline):
    return warm_pipeline.models.get("voice_matcher", "nearest")


@pytest.fixture(scope="module")
def embedder(warm_pipeline):
    return warm_pipeline.models.get("embedder", warm_pipeline.config.embedder)  # the matcher's


@pytest.fixture(scope="module")
def matched(matcher, references, kokoro):
    return matcher.match(references, "es", kokoro)


def test_two_speakers_get_distinct_voices_nearer_their_choice_than_each_other(
    matched, references, kokoro, embedder
):
    a, b = sorted(matched)
    dubbed = {s: embedder.embed(_speak_lines(kokoro, matched[s])) for s in (a, b)}
    chosen = {
        s: embedder.embed(speak_as(kokoro, SENTENCES["es"][0], "es", matched[s])) for s in (a, b)
    }
    original = {s: embedder.embed(references[s]) for s in (a, b)}
    between = float(dubbed[a] @ dubbed[b])
    for s in (a, b):
        own_choice = float(dubbed[s] @ chosen[s])
        print(
            f"{s}: {matched[s].name}, pitch {semitones(matched[s].pitch_ratio):+.1f} st, "
            f"formants {matched[s].formant_ratio}; dubbed vs its chosen voice {own_choice:.3f}, "
            f"vs the original speaker {float(dubbed[s] @ original[s]):.3f}; matching measured "
            f"{matched[s].similarity:.3f}"
        )
        assert between < own_choice
    print(
        f"between the two dubbed voices {between:.3f}; between the originals "
        f"{float(original[a] @ original[b]):.3f}"
    )
    assert (matched[a].name, matched[a].pitch_ratio) != (matched[b].name, matched[b].pitch_ratio)


def test_the_match_is_at_least_as_near_as_the_default_voice(matched, references, kokoro, embedder):
    for speaker, voice in matched.items():
        target = embedder.embed(references[speaker])
        plain = embedder.embed(
            kokoro.synthesize(SENTENCES["es"][0], "es", voice=stock_voice(voice.name))
        )
        assert voice.similarity >= float(target @ plain) - 1e-6  # adjusting never made it worse


def test_reduce_accent_keeps_native_voices_unwarped(matcher, references, kokoro):
    voices = matcher.match(references, "es", kokoro, reduce_accent=True)
    for voice in voices.values():
        assert voice.name in kokoro.native_voices("es")  # ef_dora, em_alex, em_santa
        assert voice.style is None and voice.formant_ratio == 1.0
        assert abs(semitones(voice.pitch_ratio)) <= 3.0 + 1e-6
    a, b = sorted(voices)
    # both women, and one native female voice: they share it, told apart by pitch
    assert voices[a].name == voices[b].name == "ef_dora"
    assert abs(semitones(voices[a].pitch_ratio / voices[b].pitch_ratio)) >= 2.0 - 1e-6


def test_pitch_adjustment_moves_the_measured_pitch(kokoro):
    speech = kokoro.synthesize(SENTENCES["es"][0], "es", voice="jm_kumo")
    raised = adjust_voice(speech, pitch_ratio=1.26)
    assert raised.n_samples == speech.n_samples
    assert median_f0(raised) / median_f0(speech) == pytest.approx(1.26, rel=0.05)


def _speak_lines(synthesizer, voice) -> Audio:
    clips = [speak_as(synthesizer, line, "es", voice) for line in LINES]
    return Audio(np.concatenate([c.samples for c in clips], axis=1), clips[0].sample_rate)


def test_two_women_in_spanish_get_two_voices_one_native_and_both_female(matched, kokoro):
    # es has one native female voice (ef_dora): the second woman gets a foreign female voice
    # measured heard as Spanish on every sample sentence, not ef_dora again
    a, b = sorted(matched)
    names = {stock_voice(matched[s].name) for s in (a, b)}
    assert len(names) == 2 and all(voice_gender(n) == "f" for n in names)
    assert names & set(kokoro.native_voices("es"))
    for voice in matched.values():
        if voice.name in kokoro.second_voices("es"):
            assert voice.style is None and voice.formant_ratio == 1.0


def _alone(audio: Audio, turns: list[tuple[float, float, str]], least: float) -> dict[str, Audio]:
    """Each speaker's speech where nobody else talks (the reference turns, in runs of 0.5 s
    or more), for those who have ``least`` seconds of it."""
    rate, out = audio.sample_rate, {}
    for speaker in sorted({t[2] for t in turns}):
        own = joined([(a, b) for a, b, s in turns if s == speaker], gap=0.01)
        others = [(a, b) for a, b, s in turns if s != speaker]
        runs = subtract(own, others, shortest=0.5)
        if sum(b - a for a, b in runs) >= least:
            pieces = [audio.samples[0, round(a * rate) : round(b * rate)] for a, b in runs]
            out[speaker] = Audio(np.concatenate(pieces)[None, :], rate)
    return out


def test_meeting_speakers_get_a_voice_of_their_gender(embedder, kokoro):
    """The people of nine real meetings (AMI: a room's microphones, not a studio), each from
    their own speech as the reference turns give it; AMI's speaker IDs say their gender."""
    from dubengine.backends.match_nearest_voice import NearestVoiceMatcher

    matcher = NearestVoiceMatcher(embedder=embedder, search_evals=0, formants=(1.0,))
    rttm = require(DATA / "meetings" / "ami_train.rttm")
    wrong, checked = [], 0
    for path in sorted(rttm.parent.glob("ami_trn*.wav")):
        turns = read_rttm(rttm, uri=path.stem.removeprefix("ami_"))
        people = _alone(decode_audio(path, 16_000, 1), turns, least=2.0)
        for person, voice in matcher.match(people, "es", kokoro).items():
            checked += 1
            print(f"{path.stem} {person}: {voice.name}")
            if voice_gender(stock_voice(voice.name)) != person[0].lower():
                wrong.append(f"{path.stem} {person}: {voice.name}")
    assert checked >= 8
    assert not wrong, wrong


def test_a_raised_male_voice_is_told_from_a_woman_by_its_formants(jfk):
    """JFK's oratory sits above the male pitch bound, as a woman's voice does; his vocal
    tract does not. FEE087 (an AMI meeting) is a high voice whose embedding leans male."""
    from dubengine.backends.match_nearest_voice import MALE_BELOW_HZ, MALE_FORMANTS_HZ

    from dubengine.toolkit.voicing import formant_mean

    rttm = require(DATA / "meetings" / "ami_train.rttm")
    meeting = decode_audio(require(DATA / "meetings" / "ami_trn07.wav"), 16_000, 1)
    woman = _alone(meeting, read_rttm(rttm, uri="trn07"), least=2.0)["FEE087"]
    print(
        f"JFK {median_f0(jfk):.0f} Hz, formants {formant_mean(jfk):.0f} Hz; FEE087 "
        f"{median_f0(woman):.0f} Hz, {formant_mean(woman):.0f} Hz"
    )
    assert median_f0(jfk) > MALE_BELOW_HZ and median_f0(woman) > MALE_BELOW_HZ
    assert formant_mean(jfk) < MALE_FORMANTS_HZ < formant_mean(woman)


@pytest.fixture(scope="module")
def jfk() -> Audio:
    return decode_audio(require(SPEECH / "jfk_en.flac"), 16_000, 1)


def test_the_timbre_search_brings_the_voice_nearer_and_keeps_its_prosody(jfk, kokoro, embedder):
    """JFK in Spanish: the blend of male timbres found is nearer him than em_alex (his
    primary) on lines the search never heard; the prosody half of the style is em_alex's."""
    import time

    from dubengine.backends.match_nearest_voice import NearestVoiceMatcher

    plain = NearestVoiceMatcher(embedder=embedder, search_evals=0)
    searching = NearestVoiceMatcher(embedder=embedder, search_seconds=60)
    before = plain.match({"jfk": jfk}, "es", kokoro)["jfk"]
    started = time.perf_counter()
    after = searching.match({"jfk": jfk}, "es", kokoro)["jfk"]
    searched = time.perf_counter() - started
    started = time.perf_counter()
    again = searching.match({"jfk": jfk}, "es", kokoro)["jfk"]
    cached = time.perf_counter() - started
    target = embedder.embed(jfk)
    near, nearer = (target @ embedder.embed(_speak_lines(kokoro, x)) for x in (before, after))
    print(
        f"{before.name}: {before.similarity:.3f} (on these lines {near:.3f}) -> "
        f"{after.name}: {after.similarity:.3f} ({nearer:.3f}); match {searched:.1f} s, "
        f"again from the cache {cached:.1f} s"
    )
    assert after.style is not None and voice_gender(stock_voice(after.name)) == "m"
    own = kokoro.voice_style(stock_voice(after.name))
    np.testing.assert_array_equal(after.style[..., 128:], own[..., 128:])
    assert after.similarity > before.similarity
    assert nearer > near
    # the result shows the stock voice as it was beside the voice found
    assert after.similarity_before == pytest.approx(before.similarity_before)
    assert after.similarity_before <= before.similarity + 1e-6 < after.similarity
    assert (again.name, again.pitch_ratio) == (after.name, after.pitch_ratio)
