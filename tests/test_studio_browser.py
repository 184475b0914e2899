"""The web studio in a real headless browser (Debian's Chromium, driven by Playwright; no
browser download): open a finished dub, edit a line's translation, render, see the new
revision. A screenshot is saved in test-artifacts/ (or $DUBENGINE_TEST_ARTIFACTS)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import fakes
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


@pytest.fixture
def studio(tmp_path):
    port = free_port()
    settings = ServerSettings(
        tokens={TOKEN}, public_url=f"http://127.0.0.1:{port}", rate_limit=1000
    )
    engine = served_engine(tmp_path / "data", settings, workers=1, config=fakes.CONFIG)
    running = RunningServer(engine, settings)
    job = engine.create_job(str(require(SPEECH / "jfk_en.flac")), "es", owner=owner_of(TOKEN))
    assert engine.wait(job.job_id, timeout=60).status.value == "completed"
    yield running.url, engine, job.job_id
    running.stop()
    engine.close()


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
