"""The studio's timeline on a real dub (the conversation dubbed into Spanish with the real
models), in Debian's Chromium driven by Playwright: a line dragged 0.5 s later, one split at
the playhead, two merged, a speaker's voice heard and changed, everything rendered; the new
output differs from the old only around the lines those edits touched. Screenshots in
test-artifacts/ (or $DUBENGINE_TEST_ARTIFACTS)."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from conftest import SPEECH, require
from test_studio_browser import ARTIFACTS, CHROMIUM, drag_by, open_dub, serving

from dubengine.editing.render import CROSSFADE_SEC, LOOKAHEAD_SEC
from dubengine.media import decode_audio
from dubengine.pipeline.mix import GATE_MARGIN_SEC

RATE = 48_000
# around a line, how far a render may change the mix: the speech gate's margin, the splice's
# cross-fade and the limiter's look-ahead
REACH_SEC = GATE_MARGIN_SEC + CROSSFADE_SEC + LOOKAHEAD_SEC + 0.01
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def real_dub(tmp_path_factory, warm_pipeline):
    data = tmp_path_factory.mktemp("studio-real") / "data"
    source = require(SPEECH / "two_speakers_en.wav")
    with serving(data, source, pipeline_factory=lambda: warm_pipeline) as up:
        yield up


def span(line: dict) -> tuple[float, float]:
    """Where a line and its dubbed speech are, with how far a render reaches around them."""
    fit = line["fit"] or line
    return min(line["start"], fit["start"]) - REACH_SEC, max(line["end"], fit["end"]) + REACH_SEC


def spoken_as_before(line: dict, lines: list[dict]) -> bool:
    """Whether ``line`` is one of ``lines``, said and placed the same."""
    keys = ("start", "end", "translation", "speaker", "fit")
    return any(all(line[k] == other[k] for k in keys) for other in lines)


def test_timeline_edits_of_a_real_dub_render_and_change_only_their_windows(real_dub):
    from playwright.sync_api import expect, sync_playwright

    url, engine, job_id = real_dub
    before = engine.segments(job_id)
    old_output = decode_audio(engine.get_result(job_id).path, RATE, 2).samples
    lines = before["segments"]
    assert len(lines) >= 4 and len(before["speakers"]) == 2, lines
    # the line to drag: one with at least 0.6 s free after it
    moved = next(line for line, after in pairwise(lines) if after["start"] - line["end"] >= 0.6)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        open_dub(page, url, job_id)
        blocks = page.get_by_test_id("block")
        expect(blocks).to_have_count(len(lines))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "studio-real-before.png"))
        revision = page.get_by_test_id("revision")

        # 1. drag a line 0.5 s later
        block = page.locator(f'.block[data-index="{moved["index"]}"]')
        width = block.bounding_box()["width"]
        drag_by(page, block, 0.5 * width / (moved["end"] - moved["start"]))
        expect(revision).to_contain_text("Revision 1")
        now = engine.segments(job_id)["segments"][moved["index"]]
        assert now["start"] == pytest.approx(moved["start"] + 0.5, abs=0.03)
        assert now["end"] - now["start"] == pytest.approx(moved["end"] - moved["start"], abs=0.02)

        # 2. split the longest other line at the playhead, placed by a click on the waveform
        longest = max((s for s in lines if s["index"] != moved["index"]), key=duration)
        middle = (longest["start"] + longest["end"]) / 2
        target = page.locator(f'.block[data-index="{longest["index"]}"]').bounding_box()
        waves = page.get_by_test_id("waves").bounding_box()
        page.mouse.click(target["x"] + target["width"] / 2, waves["y"] + waves["height"] - 10)
        page.keyboard.press("s")
        expect(blocks).to_have_count(len(lines) + 1)
        halves = engine.segments(job_id)["segments"][longest["index"] : longest["index"] + 2]
        assert halves[0]["end"] == pytest.approx(middle, abs=0.1)

        # 3. merge two lines: the first pair of one speaker that is not the split's halves
        view = engine.segments(job_id)
        pair = merge_pair(view["segments"], longest["index"])
        page.locator(f'.block[data-index="{pair}"]').click()
        page.keyboard.press("m")
        expect(blocks).to_have_count(len(lines))

        # 4. hear a voice, then give it to SPEAKER_01
        voice = page.get_by_test_id("voice-SPEAKER_01")
        current = before["speakers"]["SPEAKER_01"]["voice"]
        other = next(v for v in before["voices_available"] if v != current and v[:1] == current[:1])
        voice.select_option(other)
        with page.expect_response(lambda r: r.url.endswith("/preview")) as previewed:
            page.get_by_test_id("preview-SPEAKER_01").click()
        heard = previewed.value
        assert heard.status == 200 and heard.headers["content-type"] == "audio/wav"
        assert int(heard.headers["content-length"]) > 24_000  # over half a second of speech
        expect(page.locator(".block.stale")).not_to_have_count(0)
        page.screenshot(path=str(ARTIFACTS / "studio-real-edited.png"))

        # 5. render, with its progress
        page.get_by_test_id("render").click()
        expect(page.get_by_test_id("message")).to_contain_text("Rendered revision", timeout=300_000)
        expect(page.locator(".block.stale")).to_have_count(0)
        page.screenshot(path=str(ARTIFACTS / "studio-real-rendered.png"))
        browser.close()
    assert errors == []

    after = engine.segments(job_id)
    assert after["speakers"]["SPEAKER_01"]["voice"] == other
    new_output = decode_audio(engine.get_result(job_id).path, RATE, 2).samples
    assert new_output.shape == old_output.shape
    changed = np.any(np.abs(new_output - old_output) > 1e-4, axis=0)
    # allowed: around every line said or placed anew, and where every old line that is gone was
    touched = [
        s
        for s in after["segments"]
        if s["speaker"] == "SPEAKER_01" or not spoken_as_before(s, lines)
    ]
    gone = [s for s in lines if not spoken_as_before(s, after["segments"])]
    allowed = np.zeros_like(changed)
    for line in touched + gone:
        lo, hi = span(line)
        allowed[max(0, int(lo * RATE)) : int(hi * RATE)] = True
    outside = np.flatnonzero(changed & ~allowed)
    assert outside.size == 0, f"changed outside the edits at {outside[[0, -1]] / RATE} s"
    # and the change is heard: in the moved line's new window and in SPEAKER_01's lines
    for line in [after["segments"][moved["index"]]] + [
        s for s in after["segments"] if s["speaker"] == "SPEAKER_01"
    ]:
        lo, hi = line["fit"]["start"], line["fit"]["end"]
        assert changed[int(lo * RATE) : int(hi * RATE)].mean() > 0.3, line


def duration(line: dict) -> float:
    return line["end"] - line["start"]


def merge_pair(lines: list[dict], split: int) -> int:
    """The first line whose next line has the same speaker, other than the split's halves."""
    return next(
        a["index"]
        for a, b in pairwise(lines)
        if a["speaker"] == b["speaker"] and a["index"] != split
    )
