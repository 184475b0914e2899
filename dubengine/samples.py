"""Everyday sentences per supported language, for checks, benchmarks and voice previews;
and how the tests and benchmarks put known speech over a known soundtrack."""

from __future__ import annotations

import numpy as np

SENTENCES: dict[str, tuple[str, ...]] = {
    "en": (
        "The weather is lovely today, so we are going to the park.",
        "Could you tell me where the train station is?",
        "My brother works at the hospital near the river.",
    ),
    "es": (
        "Hoy hace muy buen tiempo, así que vamos al parque.",
        "¿Podrías decirme dónde está la estación de tren?",
        "Mi hermano trabaja en el hospital cerca del río.",
    ),
    "fr": (
        "Il fait très beau aujourd'hui, alors nous allons au parc.",
        "Pourriez-vous me dire où se trouve la gare ?",
        "Mon frère travaille à l'hôpital près de la rivière.",
    ),
    "de": (
        "Heute ist das Wetter schön, also gehen wir in den Park.",
        "Könnten Sie mir sagen, wo der Bahnhof ist?",
        "Mein Bruder arbeitet im Krankenhaus am Fluss.",
    ),
    "it": (
        "Oggi il tempo è bellissimo, quindi andiamo al parco.",
        "Potresti dirmi dov'è la stazione dei treni?",
        "Mio fratello lavora all'ospedale vicino al fiume.",
    ),
    "pt": (
        "Hoje o tempo está ótimo, então vamos ao parque.",
        "Você poderia me dizer onde fica a estação de trem?",
        "Meu irmão trabalha no hospital perto do rio.",
    ),
    "ru": (
        "Сегодня прекрасная погода, поэтому мы идём в парк.",
        "Не могли бы вы сказать мне, где находится вокзал?",
        "Мой брат работает в больнице у реки.",
    ),
    "ja": (
        "今日はとても良い天気なので、公園に行きます。",
        "駅はどこにあるか教えていただけますか。",
        "兄は川の近くの病院で働いています。",
    ),
    "ko": (
        "오늘은 날씨가 아주 좋아서 공원에 갑니다.",
        "기차역이 어디에 있는지 알려 주시겠어요?",
        "제 형은 강 근처 병원에서 일해요.",
    ),
    "zh": (
        "今天天气很好，所以我们去公园。",
        "你能告诉我火车站在哪里吗？",
        "我哥哥在河边的医院工作。",
    ),
}


def under_speech(speech: np.ndarray, background: np.ndarray, db: float) -> np.ndarray:
    """``background`` scaled so its RMS is ``db`` below the RMS of ``speech`` (float32)."""
    rms = np.sqrt(
        np.mean(speech.astype(np.float64) ** 2) / np.mean(background.astype(np.float64) ** 2)
    )
    return (background * rms / 10 ** (db / 20)).astype(np.float32)
