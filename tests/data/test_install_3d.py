"""``.ci/install_3d.sh`` picks prebuilt, cached or source-built wheels (checked in its dry-run mode).

The source build itself takes about 17 minutes on 2 cores, so these tests run the script with
``DRY_RUN=1``: it prints every command it would run and installs nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / ".ci" / "install_3d.sh"
PY_TAG = f"cp{sys.version_info[0]}{sys.version_info[1]}"


def _run(wheels: Path, cache: Path) -> str:
    env = dict(
        os.environ,
        DRY_RUN="1",
        PYTHON=sys.executable,
        WHEELS_DIR=str(wheels),
        WHEEL_CACHE=str(cache),
    )
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def _wheel(folder: Path, name: str, version: str, tag: str = PY_TAG) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-{tag}-{tag}-linux_x86_64.whl"
    path.write_bytes(b"")
    return path


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    wheels, cache = tmp_path / "shared_wheels", tmp_path / "cache"
    wheels.mkdir()
    return wheels, cache


def _install_line(out: str) -> str:
    return next(line for line in out.splitlines() if "pip install -c" in line and ".whl" in line)


def test_no_wheels_anywhere_builds_both_from_pypi_sources(dirs):
    wheels, cache = dirs
    out = _run(wheels, cache)
    assert "building it from its PyPI source, about 12 minutes" in out
    assert "building it from its PyPI source, about 5 minutes" in out
    # The sdists come from the index page, not `pip download` (which would run setup.py).
    assert "fetch_sdist.py mmcv 2.1.0" in out and "fetch_sdist.py MinkowskiEngine 0.5.4" in out
    assert "pip download" not in out
    # The flags of ../shared/wheels/README.md.
    assert (
        f"env MMCV_WITH_OPS=1 {sys.executable} -m pip wheel --no-deps --no-build-isolation -w {cache}"
        in out
    )
    assert "-std=c++20" in out
    # MinkowskiEngine: OpenBLAS patched in as the default; CPU-only by itself without CUDA.
    assert 'BLAS = BLAS or "openblas"' in out
    assert f"{sys.executable} -m pip wheel --no-deps --no-build-isolation -w {cache} " in out
    install = _install_line(out)
    assert str(cache / f"mmcv-2.1.0-{PY_TAG}") in install
    assert str(cache / f"minkowskiengine-0.5.4-{PY_TAG}") in install
    assert "mmdet3d==1.4.0" in out and "dry run, nothing installed" in out


def test_prebuilt_wheels_are_the_fast_path(dirs):
    wheels, cache = dirs
    mmcv = _wheel(wheels, "mmcv", "2.1.0")
    minkowski = _wheel(wheels, "minkowskiengine", "0.5.4")
    out = _run(wheels, cache)
    assert "building" not in out and "fetch_sdist" not in out
    install = _install_line(out)
    assert str(mmcv) in install and str(minkowski) in install


def test_cached_build_is_reused_and_only_the_missing_one_built(dirs):
    wheels, cache = dirs
    cached = _wheel(cache, "mmcv", "2.1.0")
    out = _run(wheels, cache)
    assert "fetch_sdist.py mmcv" not in out
    assert "fetch_sdist.py MinkowskiEngine 0.5.4" in out
    assert str(cached) in _install_line(out)


def test_wheels_for_another_python_are_not_used(dirs):
    wheels, cache = dirs
    _wheel(wheels, "mmcv", "2.1.0", tag="cp310")
    _wheel(wheels, "minkowskiengine", "0.5.4", tag="cp310")
    out = _run(wheels, cache)
    assert "fetch_sdist.py mmcv 2.1.0" in out and "fetch_sdist.py MinkowskiEngine 0.5.4" in out
    assert "cp310" not in _install_line(out)
