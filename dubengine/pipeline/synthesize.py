"""Stage 5, Synthesizing: every line spoken at its voice's natural pace.

Which synthesizer speaks which target language was chosen by measurement
(benchmarks/tts_roundtrip.py: speak three sentences per language, have Whisper base
transcribe them back, character error rate against the text). On 2026-11-25, mean CER per
language, Kokoro (jm_kumo) / espeak-ng:

    en 0.02 / 0.09   es 0.00 / 0.13   fr 0.21 / 0.55   de 0.03 / 0.32   it 0.03 / 0.21
    pt 0.01 / 0.26   ru 0.13 / 0.61   ja 0.08 / 0.85   ko 0.28 / 3.92   zh 0.00 / 4.51

Kokoro wins in every language (French and German included, once espeak's language-switch
markers are stripped from its phonemes), so it is the default everywhere; espeak-ng stays
available as the fast, robotic alternative (RTF 0.01 against Kokoro's 0.5-1.0 on 2 cores).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from .._progress import Progress, ProgressEvent
from .._types import DEFAULT_SPEAKER, LANGUAGES, Segment, Speak, Transcript, Voice
from ..media.decode import Audio
from ..samples import SENTENCES
from ..toolkit.budget import spoken_length
from ..toolkit.voicing import speak_as

SYNTHESIZER_FOR_LANGUAGE: dict[str, str] = dict.fromkeys(LANGUAGES, "kokoro")


def synthesizer_for(language: str) -> str:
    return SYNTHESIZER_FOR_LANGUAGE[language]


def speaker_of(
    get_synthesizer: Callable[[], Any], language: str, voices: Mapping[str, Voice]
) -> Callable[[Segment], Speak]:
    """segment → how its speaker's voice says a text at a speed. The synthesizer is asked
    for at each line: a model pool may have released it meanwhile, and loads it again."""

    def for_segment(segment: Segment) -> Speak:
        voice = voices[segment.speaker or DEFAULT_SPEAKER]

        def speak(text: str, speed: float) -> Audio:
            synthesizer = get_synthesizer()
            if voice.reference is not None:
                clip = speak_like(synthesizer, text, language, voice, speed)
            else:
                clip = speak_as(synthesizer, text, language, voice, speed)
            return trim_silence(clip)

        return speak

    return for_segment


def speak_like(synthesizer: Any, text: str, language: str, voice: Voice, speed: float) -> Audio:
    """``text`` by a cloning synthesizer in ``voice``, from its kept conditioning if any."""
    if voice.conditioning is None:
        return synthesizer.synthesize_like(text, language, voice.reference, speed)
    return synthesizer.synthesize_like(
        text, language, voice.reference, speed, conditioning=voice.conditioning
    )


def voice_paces(
    speak_for: Callable[[Segment], Speak], speakers: Iterable[str], language: str
) -> dict[str, float]:
    """Spoken characters per second of each speaker's voice in ``language`` at speed 1, from
    an everyday sentence (a blend or a warp speaks at its own pace, not the language's)."""
    sentence = SENTENCES[language][0]
    paces = {}
    for speaker in speakers:
        clip = speak_for(Segment(0, 0.0, 0.0, "", speaker=speaker))(sentence, 1.0)
        paces[speaker] = round(spoken_length(sentence) / max(clip.duration, 0.1), 2)
    return paces


def trim_silence(clip: Audio, floor_db: float = -35.0, keep: float = 0.01) -> Audio:
    """The clip without the near-silence some voices put before and after the speech
    (measured: up to 0.12 s before a soft onset), so a line is heard where it is placed."""
    if clip.n_samples == 0:
        return clip
    hop = max(1, int(clip.sample_rate * 0.005))
    mono = np.abs(clip.samples).max(axis=0)
    frames = len(mono) // hop
    if frames == 0:
        return clip
    level = mono[: frames * hop].reshape(frames, hop).max(axis=1)
    loud = np.flatnonzero(level > level.max() * 10 ** (floor_db / 20))
    if len(loud) == 0:
        return clip
    pad = int(keep * clip.sample_rate)
    first = max(0, loud[0] * hop - pad)
    last = min(clip.n_samples, (loud[-1] + 1) * hop + pad)
    return Audio(clip.samples[:, first:last], clip.sample_rate)


def synthesize(
    transcript: Transcript, speak_for: Callable[[Segment], Speak], progress: Progress
) -> dict[int, Audio]:
    """Each line's translation at speed 1.0, by segment id."""
    clips: dict[int, Audio] = {}
    total = len(transcript.segments)
    for done, segment in enumerate(transcript.segments, 1):
        clips[segment.id] = speak_for(segment)(segment.translation or "", 1.0)
        progress(ProgressEvent("synthesizing", done, total))
    return clips
