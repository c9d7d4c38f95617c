"""Build and install small plugin distributions for real (pip install --target) in tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def make_distribution(root: Path, dist: str, module: str, source: str) -> Path:
    """Write a one-module distribution with an ``octavius`` entry point; return its folder."""
    project = root / f"src-{dist}"
    (project / module).mkdir(parents=True)
    (project / module / "__init__.py").write_text(textwrap.dedent(source))
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["setuptools>=68"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{dist}"
            version = "0.0.1"

            [project.entry-points.octavius]
            {module} = "{module}"

            [tool.setuptools]
            packages = ["{module}"]
            """
        )
    )
    return project


def pip_install_target(project: Path, target: Path) -> None:
    """Install ``project`` into ``target`` the way pip installs any distribution."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(project),
        ],
        check=True,
        capture_output=True,
        text=True,
    )


def run_python(code: str, target: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that sees the distributions installed in ``target``."""
    environ = {**os.environ, "PYTHONPATH": str(target), **env}
    for key in ("OCTAVIUS_DISABLE_PLUGIN_AUTOLOAD", "OCTAVIUS_PLUGINS"):
        if key not in env:
            environ.pop(key, None)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
    )
