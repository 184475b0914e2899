"""The package as a newcomer meets it: import cost, lint, the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SPEECH, VIDEO, require

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "av", "ctranslate2", "faster_whisper", "onnxruntime", "transformers")


def test_import_dubengine_loads_no_model_or_media_library():
    code = f"import sys, dubengine; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""


def test_code_is_ruff_clean():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", str(ROOT)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_ruff_formatted():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_probe_reports_streams_as_json():
    src = require(VIDEO / "smpte_h264_aac_1080p2997_10s.mp4")
    result = subprocess.run(
        ["dubengine", "probe", str(src), "--json"], capture_output=True, text=True, check=True
    )
    data = json.loads(result.stdout)
    assert data["container"] == "mp4" and data["is_video"] is True
    assert data["verdict"] == "accepted"
    video = next(s for s in data["streams"] if s["type"] == "video")
    assert (video["width"], video["height"]) == (1920, 1080)


def test_cli_probe_exits_2_for_a_file_that_is_not_media(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    result = subprocess.run(["dubengine", "probe", str(bad)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "unsupported_format" in result.stderr


def test_cli_probe_says_why_an_input_would_be_refused():
    result = subprocess.run(
        ["dubengine", "probe", str(require(SPEECH / "short_fr.aiff"))],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "refused: [unsupported_format]" in result.stdout


def readme_command(prefix: str) -> list[str]:
    """The README's own command line, so the quickstart cannot rot."""
    import shlex

    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith(prefix):
            return shlex.split(line)
    raise AssertionError(f"README has no line starting with {prefix!r}")


@pytest.mark.slow
def test_readme_quickstart_dubs_a_shared_file_with_the_network_off(tmp_path):
    import shutil

    command = readme_command("dubengine dub ")
    require(ROOT.parent / "shared" / "data" / "speech" / "jfk_en.flac")
    out = tmp_path / "jfk.es.wav"
    command[command.index("--out") + 1] = str(out)
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare to cut the network off")
    # A fresh network namespace has no interface but a downed loopback: nothing is reachable.
    result = subprocess.run(
        ["unshare", "--net", *command, "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    assert data["target_language"] == "es" and data["source_language"] == "en"
    assert out.is_file() and Path(data["output"]) == out
    assert Path(data["files"]["subtitles_target_srt"]).is_file()


def test_cli_dub_exits_2_on_bad_input_and_1_never_for_it(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    result = subprocess.run(
        ["dubengine", "dub", str(bad), "--target", "es"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "unsupported_format" in result.stderr
    result = subprocess.run(
        ["dubengine", "dub", str(require(SPEECH / "jfk_en.flac")), "--target", "xx"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "unsupported_language" in result.stderr
