"""The runtime never imports test/demo material or experiments; fixtures stay out of the runtime."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: The runtime: what a trained model needs to be built, trained, evaluated, loaded and exported.
RUNTIME = [
    *(REPO / "core" / name for name in ("adapters", "models", "data", "engine", "evaluation")),
    REPO / "core" / "checkpoints",
    REPO / "core" / "export",
    REPO / "plugins",
    *(REPO / "core").glob("*.py"),
]
#: Packages only tests, demos and experiments may import.
NOT_FROM_RUNTIME = ("octavius.testing", "octavius.analysis.study", "octavius.benchmark")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _runtime_files() -> list[Path]:
    files: list[Path] = []
    for entry in RUNTIME:
        files += [entry] if entry.is_file() else sorted(entry.rglob("*.py"))
    return files


def test_runtime_modules_do_not_import_fixtures_or_experiments():
    offenders = [
        f"{path.relative_to(REPO)}:{line}: imports {name}"
        for path in _runtime_files()
        for line, name in _imports(path)
        if name.startswith(NOT_FROM_RUNTIME)
    ]
    assert len(_runtime_files()) > 80  # the scan sees the whole runtime
    assert not offenders, "\n".join(offenders)


def test_the_scan_catches_an_import_of_the_fixtures(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from octavius.testing.tiny_assets import build_tiny_llama\n")
    assert (2, "octavius.testing.tiny_assets") in _imports(bad)


@pytest.mark.parametrize(
    "module", ["octavius.models", "octavius.engine", "octavius.data", "octavius.evaluation"]
)
def test_importing_the_runtime_does_not_pull_in_the_fixtures(module):
    code = (
        f"import sys, {module}\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('octavius.testing', "
        "'octavius.analysis.study')))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
