"""The config file and the CLI's backend options: what a user writes lands in the pipeline's
config, and every mistake is refused at start, naming the file and the key."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import SPEECH, require

from dubengine import InvalidOption
from dubengine.config import load_settings, settings_from, with_stages
from dubengine.registry import registry

DUBENGINE = [sys.executable, "-m", "dubengine"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dubengine.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_heavy_config_names_each_stage_its_backend_options_and_device(tmp_path):
    whisper = tmp_path / "large-v3"
    whisper.mkdir()
    settings = load_settings(
        write(
            tmp_path,
            f"""
        device = "cpu"
        keep_models_warm = true
        [transcriber]
        name = "faster-whisper"
        model = "{whisper}"
        beam_size = 5
        device = "cuda"
        [translator]
        name = "ctranslate2"
        batch_size = 16
        [separator]
        name = "none"
        [align]
        max_speed = 1.2
        [engine]
        workers = 2
        executor = "ray"
        ray_address = "auto"
        num_gpus = 1
    """,
        )
    )
    config = settings.pipeline
    assert (config.device, config.keep_models_warm, config.separator) == ("cpu", True, None)
    assert config.transcriber == "faster-whisper" and config.translator == "ctranslate2"
    assert config.options_for("transcriber", "faster-whisper") == {
        "model": str(whisper),
        "beam_size": 5,
        "device": "cuda",
    }
    assert config.options_for("translator", "ctranslate2") == {"batch_size": 16}
    assert config.align.max_speed == 1.2
    engine = settings.engine
    assert (engine.workers, engine.executor, engine.ray_address) == (2, "ray", "auto")
    assert engine.actor_options == {"num_gpus": 1.0}


def test_the_command_line_choices_go_over_the_file(tmp_path):
    settings = load_settings(
        write(
            tmp_path,
            """
        [transcriber]
        beam_size = 2
    """,
        )
    )
    model = tmp_path / "whisper"
    model.mkdir()
    config = with_stages(
        settings.pipeline,
        asr_model=model,
        diarizer="resemblyzer",
        separator="none",
        translator=None,
    )
    assert config.options_for("transcriber", "faster-whisper") == {
        "beam_size": 2,
        "model": str(model),
    }
    assert (config.diarizer, config.separator, config.translator) == (
        "resemblyzer",
        None,
        "qwen-ct2",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("devise = 'cpu'", "unknown key 'devise'"),
        ("device = 'gpu'", "device: device must be auto, cpu, cuda or cuda:N, not 'gpu'"),
        (
            "[transcriber]\nbeam_sise = 5",
            "[transcriber] transcriber backend 'faster-whisper' "
            "takes no option 'beam_sise'; its options: model, compute_type, beam_size",
        ),
        ("[transcriber]\nbeam_size = '5'", "[transcriber] beam_size must be int, not '5'"),
        (
            "[transcriber]\nmodel = '/models/nowhere/large-v3'",
            "[transcriber] model: '/models/nowhere/large-v3' does not exist",
        ),
        ("[translator]\nname = 'deepl'", "[translator] no translator backend 'deepl'"),
        ("[translator]\ndevice = 'cuda:x'", "[translator] device: device must be"),
        ("[align]\nmax_speed = 'fast'", "[align] max_speed must be float"),
        ("[align]\nspeed = 1.2", "[align] unknown key 'speed'"),
        ("[engine]\nexecutor = 'dask'", "[engine] executor must be threads or ray"),
        ("[engine]\nworkers = 0", "[engine] workers must be 1 or more"),
        ("transcriber = 'faster-whisper'", "transcriber must be a table ([transcriber])"),
        ("keep_models_warm = 1", "keep_models_warm must be bool, not 1"),
        ("[transcriber\nname = 'x'", "is not valid TOML"),
    ],
)
def test_mistakes_are_refused_naming_the_file_and_key(tmp_path, text, message):
    with pytest.raises(InvalidOption) as caught:
        load_settings(write(tmp_path, text))
    assert message in caught.value.message
    assert "dubengine.toml" in caught.value.message


def test_a_missing_config_file_is_refused(tmp_path):
    with pytest.raises(InvalidOption, match="cannot be read"):
        load_settings(tmp_path / "nope.toml")


def test_the_default_file_is_read_from_the_environment(tmp_path, monkeypatch):
    path = write(tmp_path, "device = 'cpu'\n[diarizer]\nname = 'none'")
    monkeypatch.setenv("DUBENGINE_CONFIG", str(path))
    settings = load_settings()
    assert settings.path == path and settings.pipeline.diarizer is None
    monkeypatch.delenv("DUBENGINE_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty"))
    assert load_settings().path is None


def test_settings_from_a_dict_check_the_same_way():
    with pytest.raises(InvalidOption, match=r"here: \[separator\] separator backend 'demucs'"):
        settings_from({"separator": {"name": "demucs", "stems": 4}}, "here")


@pytest.mark.parametrize("command", ["dub", "serve"])
def test_the_cli_refuses_a_bad_config_in_one_line_before_loading_models(tmp_path, command):
    config = write(tmp_path, "[transcriber]\nbeam_size = 'five'")
    args = {
        "dub": ["dub", str(require(SPEECH / "short_en.wav")), "-t", "es"],
        "serve": ["serve", "--token", "t", "--data-dir", str(tmp_path / "d")],
    }[command]
    result = subprocess.run(
        [*DUBENGINE, *args, "--config", str(config)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].endswith("[transcriber] beam_size must be int, not 'five'"), result.stderr
    assert "Traceback" not in result.stderr


def test_dubengine_backends_lists_every_backend_with_what_it_needs():
    result = subprocess.run(
        [*DUBENGINE, "backends", "--json"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    listed = {(b["role"], b["name"]): b for b in json.loads(result.stdout)}
    assert set(listed) == set(registry)
    whisper = listed["transcriber", "faster-whisper"]
    assert whisper["installed"] and whisper["weights"] in {"ready", "packaged"}
    assert "beam_size" in whisper["options"] and whisper["devices"] == ["cpu", "cuda"]
    assert listed["translator", "ctranslate2"]["weights"] == "user-supplied: model=PATH"
    assert listed["synthesizer", "espeak-ng"]["devices"] == ["cpu"]
    pyannote = listed["diarizer", "pyannote"]  # an optional extra, not in the default install
    assert pyannote["installed"] or pyannote["hint"] == "pip install 'dubengine[pyannote]'"


@pytest.mark.slow
def test_a_dub_from_a_config_of_user_model_folders_runs_those_backends(tmp_path):
    from test_translate_seq2seq import build_tiny_model
    from tiny_models import build_tiny_whisper

    from dubengine.media import probe

    whisper = build_tiny_whisper(tmp_path / "whisper-large-v3")
    nllb = build_tiny_model(tmp_path / "nllb-200", "nllb")
    config = write(
        tmp_path,
        f"""
        device = "cpu"
        [transcriber]
        model = "{whisper}"
        beam_size = 1
        [translator]
        name = "ctranslate2"
        model = "{nllb}"
        [separator]
        name = "none"
        [diarizer]
        name = "none"
    """,
    )
    source, out = require(SPEECH / "short_en.wav"), tmp_path / "dubbed.wav"
    result = subprocess.run(
        [
            *DUBENGINE,
            "dub",
            str(source),
            "-t",
            "es",
            "--source",
            "en",
            "--config",
            str(config),
            "--out",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    stages = {s["name"]: s["backends"] for s in json.loads(result.stdout)["stages"]}
    assert stages["Separating"] == [] and stages["Transcribing"] == ["transcriber:faster-whisper"]
    assert stages["Translating"] == ["translator:ctranslate2"], stages
    assert "synthesizer:kokoro" in stages["Synthesizing"]
    assert abs(probe(out).duration - probe(source).duration) < 0.05
