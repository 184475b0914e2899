"""The web studio in a real headless browser (Debian's Chromium, driven by Playwright; no
browser download): open a finished dub, edit a line's translation, render, see the new
revision; the timeline of a 5-minute dub drawn, a refused drag shown where it was made.
Screenshots are saved in test-artifacts/ (or $DUBENGINE_TEST_ARTIFACTS). The timeline's
edits on a real dub, rendered and compared, are in test_studio_timeline.py."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakes
import numpy as np
import pytest
from conftest import SPEECH, require
from test_server import RunningServer, free_port, served_engine

from dubengine.server import ServerSettings
from dubengine.server.security import owner_of

pytestmark = pytest.mark.usefixtures("fake_backends")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("DUBENGINE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
TOKEN = "studio-token"


def open_dub(page, url: str, job_id: str) -> None:
    page.goto(f"{url}/studio?job={job_id}")
    page.get_by_test_id("token").fill(TOKEN)
    page.get_by_test_id("token").dispatch_event("change")
    from playwright.sync_api import expect

    expect(page.get_by_test_id("jobs")).to_have_value(job_id)
    page.get_by_test_id("open").click()


def drag_by(page, locator, dx: float, where: str = "middle") -> None:
    """Presses on ``locator`` (its middle, or 2 px inside its left/right edge), moves by dx."""
    box = locator.bounding_box()
    x = {"middle": box["x"] + box["width"] / 2, "left": box["x"] + 2}.get(
        where, box["x"] + box["width"] - 2
    )
    y = box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=8)
    page.mouse.up()


@contextlib.contextmanager
def serving(data: Path, source: Path, **engine: Any) -> Iterator[tuple[str, Any, str]]:
    """A server on a free port with one completed dub of ``source``: (url, engine, job id)."""
    port = free_port()
    settings = ServerSettings(
        tokens={TOKEN}, public_url=f"http://127.0.0.1:{port}", rate_limit=10_000
    )
    running_engine = served_engine(data, settings, workers=1, **engine)
    running = RunningServer(running_engine, settings)
    job = running_engine.create_job(str(source), "es", owner=owner_of(TOKEN))
    try:
        assert running_engine.wait(job.job_id, timeout=600).status.value == "completed"
        yield running.url, running_engine, job.job_id
    finally:
        running.stop()
        running_engine.close()


@pytest.fixture
def studio(tmp_path):
    with serving(tmp_path / "data", require(SPEECH / "jfk_en.flac"), config=fakes.CONFIG) as up:
        yield up


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_the_studio_edits_a_translation_and_renders_it(studio):
    from playwright.sync_api import expect, sync_playwright

    url, engine, job_id = studio
    before = engine.get_result(job_id).path.read_bytes()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 640})
        external = []
        page.on("request", lambda r: external.append(r.url) if not r.url.startswith(url) else None)
        page.goto(f"{url}/studio?job={job_id}")
        page.get_by_test_id("token").fill(TOKEN)
        page.get_by_test_id("token").dispatch_event("change")
        expect(page.get_by_test_id("jobs")).to_have_value(job_id)
        page.get_by_test_id("open").click()
        rows = page.locator("tr[data-testid=line]")
        expect(rows).to_have_count(2)
        expect(page.get_by_test_id("revision")).to_contain_text("Revision 0")

        translation = rows.nth(1).get_by_test_id("translation")
        expect(translation).to_have_value("THIS LINE IS RATHER LONG TO SAY.")
        translation.fill("UNA LÍNEA CAMBIADA EN EL ESTUDIO.")
        translation.blur()
        expect(page.get_by_test_id("revision")).to_contain_text("Revision 1")
        expect(rows.nth(1)).to_have_class("stale")
        page.get_by_test_id("render").click()
        expect(page.get_by_test_id("revision")).to_contain_text(
            "output from revision 1", timeout=30_000
        )
        expect(page.get_by_test_id("message")).to_contain_text("Rendered revision 1")
        expect(rows.nth(1)).not_to_have_class("stale")
        expect(page.get_by_test_id("download")).to_be_visible()
        # The token stays for the tab: a reload opens the dub without asking again.
        page.reload()
        expect(page.locator("tr[data-testid=line]")).to_have_count(2)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "studio.png"), full_page=True)
        browser.close()
    assert external == [], external  # nothing fetched from anywhere but the server
    view = engine.segments(job_id)
    assert view["segments"][1]["translation"] == "UNA LÍNEA CAMBIADA EN EL ESTUDIO."
    assert view["output_revision"] == 1
    assert engine.get_result(job_id).path.read_bytes() != before


@pytest.fixture
def long_dub(tmp_path):
    """A 5-minute dub with 80 lines of two speakers (the fakes dub the audio; its lines are
    then laid out through the engine's insert, as an editor would)."""
    from dubengine.media import Audio, decode_audio, write_wav

    jfk = decode_audio(require(SPEECH / "jfk_en.flac"), 16_000).samples
    five = Audio(np.tile(jfk, (1, 300 * 16_000 // jfk.shape[1] + 1))[:, : 300 * 16_000], 16_000)
    source = write_wav(five, tmp_path / "five_minutes.wav")
    with serving(tmp_path / "data", source, config=fakes.CONFIG) as (url, engine, job_id):
        for _ in engine.segments(job_id)["segments"]:
            engine.delete_segment(job_id, 0)
        for i in range(80):
            start = i * 3.7 + 0.2
            engine.insert_segment(
                job_id, start, start + 3.0, f"Line {i}.", f"LÍNEA {i}.", f"SPEAKER_0{i % 2}"
            )
        yield url, engine, job_id


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_the_timeline_draws_a_five_minute_dub_and_shows_a_refused_drag(long_dub):
    from playwright.sync_api import expect, sync_playwright

    url, engine, job_id = long_dub
    before = engine.segments(job_id)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        open_dub(page, url, job_id)
        blocks = page.get_by_test_id("block")
        expect(blocks).to_have_count(80)
        expect(page.locator("#lanes .lane")).to_have_count(2)
        draw_ms = float(page.get_by_test_id("timeline").get_attribute("data-draw-ms"))
        print(f"timeline of 80 lines over 300 s drawn in {draw_ms:.1f} ms")
        assert draw_ms < 1000
        # both waveforms arrive and are drawn: the canvas is not blank where speech is
        page.wait_for_function(
            """() => { const c = document.getElementById("waves");
                       const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
                       let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0;
                       return n > c.width * 10; }"""
        )
        page.get_by_test_id("zoom-in").click()
        page.get_by_test_id("zoom-in").click()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "studio-timeline-5min.png"))

        # line 2 dragged 2 s later runs into line 4 (same lane, 3.7 s on): refused, shown there
        line = page.locator('.block[data-index="2"]')
        left = line.bounding_box()["x"]
        px_per_sec = (page.locator('.block[data-index="4"]').bounding_box()["x"] - left) / 7.4
        drag_by(page, line, 2.0 * px_per_sec)
        bubble = page.get_by_test_id("edit-error")
        expect(bubble).to_contain_text("overlaps line 3")
        expect(page.get_by_test_id("message")).to_contain_text("overlaps line 3")
        assert abs(line.bounding_box()["x"] - left) < 1  # drawn where it was
        page.screenshot(path=str(ARTIFACTS / "studio-refused-drag.png"))
        after = engine.segments(job_id)
        assert after["revision"] == before["revision"] and after["segments"] == before["segments"]

        # a line dragged straight down onto the other speaker's lane becomes theirs
        line = page.locator('.block[data-index="4"]')
        box = line.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x, y + 44, steps=6)  # one lane down
        page.mouse.up()
        revision = page.get_by_test_id("revision")
        expect(revision).to_contain_text(f"Revision {before['revision'] + 1}")
        moved = engine.segments(job_id)["segments"][4]
        assert moved["speaker"] == "SPEAKER_01"
        assert moved["start"] == before["segments"][4]["start"]  # not moved in time
        page.keyboard.press("Control+z")
        lane = page.locator('#lanes .lane[data-speaker="SPEAKER_00"]')
        expect(lane.locator('.block[data-index="4"]')).to_have_count(1)

        # delete with the key, undo with Ctrl+Z, insert through the form at the playhead
        page.locator('.block[data-index="5"]').click()
        page.keyboard.press("Delete")
        expect(blocks).to_have_count(79)
        page.keyboard.press("Control+z")
        expect(blocks).to_have_count(80)
        assert engine.segments(job_id)["segments"] == before["segments"]
        page.get_by_test_id("insert").click()
        page.fill("#new-start", "296.4")
        page.fill("#new-end", "297.8")
        page.get_by_test_id("new-text").fill("One more.")
        page.get_by_test_id("new-translation").fill("UNA MÁS.")
        page.get_by_test_id("insert-ok").click()
        expect(blocks).to_have_count(81)
        browser.close()
    assert errors == []
    added = engine.segments(job_id)["segments"][-1]
    assert (added["start"], added["end"], added["translation"]) == (296.4, 297.8, "UNA MÁS.")
