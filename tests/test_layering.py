"""Imports run one way: front ends → jobs → dubbing → editing → pipeline → backends → the
base (types, errors, media, protocols, the backend toolkit). Read from the source with
``ast``, so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A module may import its own layer or any below it, never one above.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset(
        {
            "_errors",
            "_guards",
            "_measure",
            "_options",
            "_progress",
            "_spans",
            "_types",
            "config",
            "given",
            "media",
            "protocols",
            "quality",
            "registry",
            "samples",
            "subtitles",
            "toolkit",
            "weights",
        }
    ),
    frozenset({"backends"}),
    frozenset({"pipeline"}),
    frozenset({"editing"}),
    frozenset({"diarization", "dubbing"}),
    frozenset({"jobs"}),
    frozenset({"", "__main__", "cli", "server"}),  # "": the package's own __init__
)


def layer_of(module: str) -> int:
    """The layer of a ``dubengine`` module, by its first name under the package."""
    head = module.split(".")[1] if "." in module else ""
    for index, names in enumerate(LAYERS):
        if head in names:
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def modules(package: Path, name: str) -> dict[str, Path]:
    """Every module under ``package`` by its dotted name."""
    found = {}
    for path in package.rglob("*.py"):
        parts = [name, *path.relative_to(package).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The ``dubengine`` modules ``module`` imports (``from .. import x`` names module x)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = node.module if not node.level else ".".join([*base, node.module or ""])
            target = target.rstrip(".")
            subs = {f"{target}.{a.name}" for a in node.names} & known
            targets.update(subs or {target})
    return {t for t in targets if t == "dubengine" or t.startswith("dubengine.")}


def upward_imports(dubengine: Path, backends: Path) -> list[str]:
    """Each import from a lower layer to a higher one, as ``importer -> imported``."""
    found = modules(dubengine, "dubengine") | modules(backends, "dubengine.backends")
    known = set(found)
    return sorted(
        f"{module} -> {target}"
        for module, path in found.items()
        for target in imported(module, path, known)
        if layer_of(target) > layer_of(module)
    )


def private_imports(backends: Path) -> list[str]:
    """Backends reach the package through its public modules and the toolkit only."""
    return sorted(
        f"dubengine.backends.{path.stem} -> {target}"
        for path in backends.glob("*.py")
        for target in imported(f"dubengine.backends.{path.stem}", path, set())
        if any(part.startswith("_") for part in target.split(".")[1:])
    )


def test_no_module_imports_a_higher_layer():
    assert upward_imports(ROOT / "dubengine", ROOT / "backends") == []


def test_backends_import_no_private_module():
    assert private_imports(ROOT / "backends") == []


def test_an_upward_import_added_back_is_caught(tmp_path):
    copy = tmp_path / "dubengine"
    shutil.copytree(ROOT / "dubengine", copy, ignore=shutil.ignore_patterns("__pycache__"))
    align = copy / "pipeline" / "align.py"
    # The pipeline reaching up into the editable project, as it once did.
    align.write_text(align.read_text() + "\n\ndef _late():\n    from ..editing import project\n")
    assert upward_imports(copy, ROOT / "backends") == [
        "dubengine.pipeline.align -> dubengine.editing.project"
    ]


def test_a_backend_importing_a_private_module_is_caught(tmp_path):
    for path in (ROOT / "backends").glob("*.py"):
        shutil.copy(path, tmp_path / path.name)
    asr = tmp_path / "asr_faster_whisper.py"
    asr.write_text(asr.read_text() + "\nfrom dubengine._guards import units\n")
    assert private_imports(tmp_path) == [
        "dubengine.backends.asr_faster_whisper -> dubengine._guards"
    ]


def test_no_function_is_longer_than_sixty_lines():
    """Long functions hide steps that deserve a name (docstring and signature counted)."""
    long = []
    for path in [*(ROOT / "dubengine").rglob("*.py"), *(ROOT / "backends").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > 60:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    assert not long, long
