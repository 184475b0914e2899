"""The OpenAI-compatible translator against real HTTP servers started here: the embedded Qwen
served behind /v1/chat/completions (real answers), and servers that are down, slow, failing or
garbled, each of which fails the translation with the URL named."""

from __future__ import annotations

from dataclasses import replace

import pytest
from chat_server import free_port, misbehaving_app, qwen_app, serving
from conftest import SPEECH, require
from fakes import CONFIG, register_fakes

from dubengine import Engine, InvalidOption, ProcessingFailed
from dubengine._types import Segment, Transcript
from dubengine.jobs import JobStatus
from dubengine.registry import create_backend
from dubengine.toolkit.budget import fits, line_limits

LINES = [
    (0.0, 2.6, "Where did you put the keys?"),
    (2.8, 5.4, "I looked everywhere, even in the car."),
    (5.6, 7.0, "Thank you very much."),
]


def openai_translator(base_url: str, **options):
    return create_backend(
        "translator",
        "openai-compatible",
        base_url=base_url,
        model="qwen2.5-coder-1.5b-instruct",
        **options,
    )


def test_translates_a_transcript_through_the_embedded_model_served_over_http(translator):
    from lingua import Language, LanguageDetectorBuilder

    app = qwen_app(translator.wrapped)
    transcript = Transcript(
        language="en",
        segments=tuple(Segment(i, start, end, text) for i, (start, end, text) in enumerate(LINES)),
    )
    with serving(app) as url:
        remote = openai_translator(url).translate(transcript, "es")
        shortened = openai_translator(url).shorten(remote.segments[1:2], "en", "es", [12])
    detector = LanguageDetectorBuilder.from_languages(
        Language.ENGLISH, Language.SPANISH, Language.FRENCH
    ).build()
    for segment, limit in zip(remote.segments, line_limits(remote, "es"), strict=True):
        assert detector.detect_language_of(segment.translation) == Language.SPANISH, segment
        assert fits(segment.translation, limit), segment
    assert len(shortened[0]) <= len(remote.segments[1].translation)
    # The same prompts as the embedded translator: greedy answers agree line for line, once
    # the local one reads each prompt alone as the server does (in a batch it pads prompts).
    alone = translator.wrapped
    batch_size, alone.batch_size = alone.batch_size, 1
    try:
        local = translator.translate(transcript, "es")
    finally:
        alone.batch_size = batch_size
    pairs = [
        (a.translation, b.translation) for a, b in zip(remote.segments, local.segments, strict=True)
    ]
    assert sum(a == b for a, b in pairs) >= 2, pairs
    assert app.state.requests >= len(LINES)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("slow", "did not answer within 0.5 s (2 tries)"),
        ("error", "answered 500"),
        ("refused", "answered 400"),
        ("garbled", "answered something that is not a chat completion"),
    ],
)
def test_a_failing_server_fails_the_translation_naming_its_url(kind, reason):
    with serving(misbehaving_app(kind)) as url:
        translator = openai_translator(url, timeout=0.5, request_retries=1)
        with pytest.raises(ProcessingFailed) as caught:
            translator.translate_texts(["Hello there."], "en", "fr")
    assert f"{url}/chat/completions" in caught.value.message and reason in caught.value.message


def test_a_server_that_fails_once_is_asked_again():
    app = misbehaving_app("flaky")
    with serving(app) as url:
        assert openai_translator(url).translate_texts(["Hello."], "en", "es") == ["Hola."]
    assert app.state.requests == 2


def test_a_server_that_is_down_fails_the_job_with_processing_failed_and_the_url(tmp_path):
    register_fakes()
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    options = {("translator", "openai-compatible"): {"base_url": url, "request_retries": 0}}
    config = replace(CONFIG, translator="openai-compatible", backend_options=options)

    with Engine(tmp_path / "data", config=config) as engine:
        job = engine.create_job(str(require(SPEECH / "short_en.wav")), "de")
        failed = engine.wait(job.job_id, timeout=60)
    assert (failed.status, failed.error) == (JobStatus.FAILED, "processing_failed")
    assert f"{url}/chat/completions cannot be reached" in failed.error_message


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        ("http://8.8.8.8/v1", "resolves to 8.8.8.8, which is not a loopback address"),
        ("ftp://127.0.0.1/v1", r"must be an http\(s\) URL"),
    ],
)
def test_only_loopback_or_trusted_servers_are_asked(base_url, message):
    with pytest.raises(InvalidOption, match=message):
        openai_translator(base_url)
    if base_url.startswith("http:"):
        openai_translator(base_url, trusted_networks=["8.8.8.0/24"]).close()
