"""Starting from what the user already has: source subtitles (no transcription), the same cues
translated (no translation), or an earlier dub's transcript. Parsing and the pipeline's
plumbing run on the fakes (fast); one real dub checks the given text is what is heard."""

from __future__ import annotations

import json

import fakes
import pytest
from conftest import SPEECH, require

from dubengine import Engine, InvalidOption, JobStatus, dub
from dubengine.given import given_lines
from dubengine.subtitles import parse_subtitles, to_srt, to_vtt

SHORT = SPEECH / "short_en.wav"  # 2.7 s
SOURCE_SRT = """\ufeff1\r
00:00:00,200 --> 00:00:01,300\r
<i>Hello</i> there.\r
\r
2\r
00:00:01,500 --> 00:00:02,600\r
How are you\r
doing today?\r
"""
TARGET_VTT = """WEBVTT

NOTE translated by hand

cue-1
00:00.200 --> 00:01.300 align:start
Hola.

00:00:01.500 --> 00:00:02.600
¿Qué tal?
"""


pytestmark = pytest.mark.usefixtures("fake_backends")


def test_srt_and_webvtt_are_read_with_their_markup_removed():
    assert parse_subtitles(SOURCE_SRT) == [
        (0.2, 1.3, "Hello there."),
        (1.5, 2.6, "How are you doing today?"),
    ]
    assert parse_subtitles(TARGET_VTT) == [(0.2, 1.3, "Hola."), (1.5, 2.6, "¿Qué tal?")]
    cues = [(0.0, 1.25, "One."), (3600.5, 3602.0, "Two.")]
    assert parse_subtitles(to_srt(cues)) == cues and parse_subtitles(to_vtt(cues)) == cues


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1\nHello there.\n", "line 1: expected a cue's times"),
        ("1\n00:00:02,000 --> 00:00:01,000\nBackwards.\n", "line 2: the cue ends before it starts"),
        ("1\n00:00:01,000 --> 00:00:02,000\n<i></i>\n", "line 2: the cue has no text"),
        ("1\n00:00:01 --> 00:00:02\nNo millis.\n", "line 2: malformed times"),
        ("", "no subtitle cues found"),
    ],
)
def test_malformed_subtitles_are_refused_naming_the_line(text, message):
    with pytest.raises(InvalidOption, match=message):
        parse_subtitles(text, "talk.srt")


@pytest.mark.parametrize(
    ("subtitles", "translated", "source", "message"),
    [
        (None, TARGET_VTT, "en", "need the source-language subtitles"),
        (SOURCE_SRT, None, "auto", "do not say their language"),
        (SOURCE_SRT, "1\n00:00:00,200 --> 00:00:01,300\nHola.\n", "en", "have 1 cues"),
        (SOURCE_SRT, TARGET_VTT.replace("00:00.200", "00:00.900"), "en", "cue 1 is at 0.90"),
    ],
)
def test_subtitles_that_do_not_belong_together_are_refused(subtitles, translated, source, message):
    with pytest.raises(InvalidOption, match=message):
        given_lines(subtitles, translated, source)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_dub_from_source_subtitles_transcribes_nothing_and_keeps_their_times(tmp_path):
    srt = write(tmp_path, "talk.srt", SOURCE_SRT)
    result = dub(
        require(SHORT),
        "es",
        out=tmp_path / "out.wav",
        config=fakes.CONFIG,
        subtitles=srt,
        source_lang="en",
    )
    assert fakes.LOADS["transcriber"] == 0
    stage = next(s for s in result.stages if s.name == "Transcribing")
    assert stage.backends == ("diarizer:fake",)  # still diarized
    assert [(s.start, s.end, s.text) for s in result.transcript.segments] == parse_subtitles(
        SOURCE_SRT
    )
    assert [f.source_start for f in result.fits] == [0.2, 1.5]
    assert {s.speaker for s in result.transcript.segments} == {"SPEAKER_00", "SPEAKER_01"}


def test_a_dub_from_both_subtitles_speaks_exactly_the_given_translations(tmp_path):
    srt, vtt = write(tmp_path, "talk.srt", SOURCE_SRT), write(tmp_path, "talk.es.vtt", TARGET_VTT)
    result = dub(
        require(SHORT),
        "es",
        out=tmp_path / "out.wav",
        config=fakes.CONFIG,
        subtitles=srt,
        translated_subtitles=vtt,
        source_lang="en",
    )
    assert fakes.LOADS["transcriber"] == fakes.LOADS["translator"] == 0
    assert [f.text for f in result.fits] == ["Hola.", "¿Qué tal?"]
    assert fakes.SHORTENED == []  # the aligner speeds up, but never rewrites a given line
    assert "Hola." in result.files.subtitles_target_srt.read_text()


def test_an_earlier_dubs_transcript_is_dubbed_again_without_asr_diarization_or_mt(tmp_path):
    first = dub(require(SHORT), "es", out=tmp_path / "first.wav", config=fakes.CONFIG)
    sidecar = json.loads(first.files.transcript_json.read_text())
    sidecar["transcript"]["segments"][0]["translation"] = "Buenos días."  # the user's fix
    edited = write(tmp_path, "edited.json", json.dumps(sidecar))
    fakes.reset_counts()
    again = dub(
        require(SHORT), "es", out=tmp_path / "again.wav", config=fakes.CONFIG, subtitles=edited
    )
    assert fakes.LOADS["transcriber"] == fakes.LOADS["diarizer"] == fakes.LOADS["translator"] == 0
    assert again.fits[0].text == "Buenos días."
    assert [s.speaker for s in again.transcript.segments] == [
        s.speaker for s in first.transcript.segments
    ]


def test_a_cue_past_the_end_of_the_media_is_refused(tmp_path):
    late = write(tmp_path, "late.srt", "1\n00:01:00,000 --> 00:01:02,000\nToo late.\n")
    with pytest.raises(InvalidOption, match=r"cue 1 starts at 60.00 s, after the media ends"):
        dub(
            require(SHORT),
            "es",
            out=tmp_path / "out.wav",
            config=fakes.CONFIG,
            subtitles=late,
            source_lang="en",
        )


def test_jobs_take_subtitles_and_refuse_malformed_ones_before_queueing(tmp_path):
    with Engine(tmp_path / "data", config=fakes.CONFIG) as engine:
        job = engine.create_job(
            str(require(SHORT)),
            "es",
            subtitles=SOURCE_SRT,
            translated_subtitles=TARGET_VTT,
            source_lang="en",
        )
        done = engine.wait(job.job_id, timeout=60)
        with pytest.raises(InvalidOption, match="line 2: malformed times"):
            engine.create_job(
                str(require(SHORT)),
                "es",
                source_lang="en",
                subtitles="1\n00:00:01 --> 00:00:02\nNo millis.\n",
            )
        total = engine.list_jobs().total
        report = engine.get_report(job.job_id)
    assert done.status is JobStatus.COMPLETED and total == 1
    assert [f["text"] for f in report["fits"]] == ["Hola.", "¿Qué tal?"]


def test_the_server_takes_uploaded_subtitles_and_answers_400_to_bad_ones(tmp_path):
    from fastapi.testclient import TestClient

    from dubengine.server import ServerSettings, create_app, server_hooks

    settings = ServerSettings(tokens={"t"}, public_url="http://testserver", rate_limit=1000)
    data = tmp_path / "data"
    engine = Engine(data, config=fakes.CONFIG, hooks=server_hooks(settings, data))
    client = TestClient(create_app(engine, settings))
    auth = {"Authorization": "Bearer t"}

    def upload(name: str, body: bytes, kind: str) -> str:
        target = client.post(
            "/api/dubbing/upload-url", headers=auth, json={"filename": name, "content_type": kind}
        ).json()
        assert client.put(
            target["upload_url"], content=body, headers={"Content-Type": kind}
        ).status_code in (200, 201)
        return target["source_url"]

    def create(media: str, subtitles: str) -> object:
        body = {
            "source_url": media,
            "target_lang": "es",
            "source_lang": "en",
            "subtitles_url": subtitles,
        }
        return client.post("/api/dubbing/jobs", headers=auth, json=body)

    try:
        media = upload("talk.wav", require(SHORT).read_bytes(), "audio/wav")
        srt = upload("talk.srt", SOURCE_SRT.encode(), "application/x-subrip")
        created = create(media, srt)
        assert created.status_code == 201, created.text
        assert engine.wait(created.json()["job_id"], 60).status is JobStatus.COMPLETED
        media = upload("talk2.wav", require(SHORT).read_bytes(), "audio/wav")
        bad = upload("bad.srt", b"1\n00:00:02,000 --> 00:00:01,000\nBackwards.\n", "text/plain")
        refused = create(media, bad)
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "invalid_request"
        assert "the cue ends before it starts" in refused.json()["error"]["message"]
        assert client.get("/api/dubbing/jobs", headers=auth).json()["total"] == 1
    finally:
        engine.close()


@pytest.mark.slow
def test_a_real_dub_from_both_subtitles_is_heard_saying_the_given_spanish(
    warm_pipeline, transcriber, tmp_path
):
    from dubengine.media import decode_audio
    from dubengine.quality.metrics import character_error_rate

    source = "1\n00:00:00,300 --> 00:00:04,200\nAnd so, my fellow Americans,\n"
    target = "1\n00:00:00,300 --> 00:00:04,200\nY así, compatriotas,\n"
    srt, es = write(tmp_path, "jfk.srt", source), write(tmp_path, "jfk.es.srt", target)
    result = dub(
        require(SPEECH / "jfk_en.flac"),
        "es",
        out=tmp_path / "jfk.es.wav",
        pipeline=warm_pipeline,
        subtitles=srt,
        translated_subtitles=es,
        source_lang="en",
    )
    stages = {s.name: s for s in result.stages}
    assert "transcriber:faster-whisper" not in stages["Transcribing"].backends
    assert stages["Translating"].backends == ()
    assert [(f.source_start, f.text) for f in result.fits] == [(0.3, "Y así, compatriotas,")]
    heard = transcriber.transcribe(decode_audio(result.output, 16_000), language="es")
    said = " ".join(s.text for s in heard.segments)
    assert character_error_rate("Y así, compatriotas,", said) < 0.3, said
