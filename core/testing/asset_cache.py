"""Cached, atomic builds of tiny checkpoint directories (see :mod:`octavius.testing.tiny_assets`).

A directory built by :func:`build_dir` holds a spec file with a key derived from its build
arguments; building again with the same arguments reuses it. New builds go to a temporary sibling
that is renamed into place, so concurrent builders never see half-written files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["SPEC_FILE", "build_dir", "default_assets_root", "is_built", "spec_key"]

SPEC_FILE = "octavius_tiny_asset.json"
# Part of every build spec: bump it when a builder changes, so cached assets are rebuilt.
_BUILDER_VERSION = 2


def default_assets_root() -> Path:
    """Where :func:`~octavius.testing.tiny_assets.build_tiny_assets` caches by default (``$OCTAVIUS_TINY_ASSETS`` overrides)."""
    env = os.environ.get("OCTAVIUS_TINY_ASSETS")
    if env:
        return Path(env)
    return (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "octavius" / "tiny-assets"
    )


def spec_key(kind: str, spec: dict[str, Any]) -> str:
    text = json.dumps(
        {"kind": kind, "version": _BUILDER_VERSION, **spec}, sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_built(spec_path: Path, key: str) -> bool:
    try:
        return json.loads(spec_path.read_text())["key"] == key
    except (OSError, ValueError, KeyError):
        return False


def build_dir(
    path: str | os.PathLike, kind: str, spec: dict[str, Any], build: Callable[[Path], None]
) -> Path:
    """Build a directory asset unless ``path`` already holds one with the same spec."""
    target = Path(path)
    key = spec_key(kind, spec)
    if is_built(target / SPEC_FILE, key):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(tmp)
        (tmp / SPEC_FILE).write_text(
            json.dumps({"kind": kind, "key": key, "spec": spec}, default=str)
        )
        if target.exists():
            if is_built(target / SPEC_FILE, key):  # built meanwhile by a concurrent process
                return target
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.rename(tmp, target)
        except OSError:
            if not is_built(target / SPEC_FILE, key):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
