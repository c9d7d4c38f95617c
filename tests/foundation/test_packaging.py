"""The distribution maps core/ → octavius and plugins/ → octavius.plugins, and lists every package."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _declared_packages() -> set[str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    return set(data["tool"]["setuptools"]["packages"])


def _packages_on_disk() -> set[str]:
    found = set()
    for root, prefix in (("core", "octavius"), ("plugins", "octavius.plugins")):
        for init in (REPO / root).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / root)
            parts = [p for p in rel.parts if p != "."]
            found.add(".".join([prefix, *parts]))
    return found


def test_every_subpackage_is_listed_in_pyproject():
    missing = _packages_on_disk() - _declared_packages()
    assert not missing, (
        f"add these to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
    )


def test_listed_packages_exist():
    stale = _declared_packages() - _packages_on_disk()
    assert not stale, f"pyproject.toml lists packages that do not exist: {sorted(stale)}"


def test_import_paths_outside_the_repo(tmp_path):
    """From another directory: octavius.plugins.routers imports, `core` and `plugins` do not."""
    code = (
        "import importlib.util, octavius.plugins.routers, octavius.registry;"
        "print(importlib.util.find_spec('core') is None, importlib.util.find_spec('plugins') is None)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["True", "True"]


def test_regular_wheel_install_has_every_package(tmp_path):
    """A normal (non-editable) install carries all subpackages under the `octavius` name."""
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheel_dir),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(wheel_dir.glob("octavius-*.whl"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    assert not (target / "core").exists() and not (target / "plugins").exists()
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import importlib, octavius;"
        "[importlib.import_module(p) for p in sys.argv[2:]];"
        "print(octavius.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(target), *sorted(_declared_packages())],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(target))
