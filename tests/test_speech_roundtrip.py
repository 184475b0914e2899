"""Round trip for every target language: synthesize, transcribe back, character error rate.

The ceilings are set from measurement (benchmarks/tts_roundtrip.py, see dubengine/_synthesis.py)
with headroom for run-to-run variation; a broken front end (wrong phonemes, spoken markers,
wrong language) lands far above them.
"""

from __future__ import annotations

import pytest

from dubengine._types import LANGUAGES
from dubengine.media.resample import resample
from dubengine.pipeline.synthesize import synthesizer_for
from dubengine.quality.metrics import character_error_rate
from dubengine.samples import SENTENCES

# Mean CER over the three sample sentences, measured / ceiling:
# en .02 es .00 fr .21 de .03 it .03 pt .01 ru .13 ja .08 ko .28 zh .00
CEILING = {
    "en": 0.10,
    "es": 0.10,
    "fr": 0.35,
    "de": 0.15,
    "it": 0.15,
    "pt": 0.15,
    "ru": 0.25,
    "ja": 0.20,
    "ko": 0.40,
    "zh": 0.10,
}


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_spoken_sentences_come_back_as_written(language, synthesizers, transcriber):
    synthesizer = synthesizers[synthesizer_for(language)]
    rates = []
    for text in SENTENCES[language]:
        speech = synthesizer.synthesize(text, language)
        assert 0.5 < speech.duration < 10, speech.duration
        heard = transcriber.transcribe(resample(speech, 16_000, 1), language=language)
        rates.append(character_error_rate(text, " ".join(s.text for s in heard.segments), language))
    assert sum(rates) / len(rates) <= CEILING[language], rates


def test_faster_speed_gives_shorter_speech(synthesizers):
    kokoro = synthesizers["kokoro"]
    normal = kokoro.synthesize(SENTENCES["en"][0], "en", speed=1.0)
    fast = kokoro.synthesize(SENTENCES["en"][0], "en", speed=1.3)
    assert fast.duration < normal.duration * 0.85


def test_kokoro_voices_are_selectable_by_name(synthesizers):
    kokoro = synthesizers["kokoro"]
    assert "jm_kumo" in kokoro.voices()
    a = kokoro.synthesize("Hello there.", "en", voice="jm_kumo")
    b = kokoro.synthesize("Hello there.", "en", voice="jf_alpha")
    assert a.samples.shape != b.samples.shape or not (a.samples == b.samples).all()


def test_espeak_speaks_every_language(synthesizers):
    espeak = synthesizers["espeak-ng"]
    for language in LANGUAGES:
        assert espeak.synthesize(SENTENCES[language][0], language).duration > 0.5, language
