"""Import every module of a package, so the components they define register themselves."""

from __future__ import annotations

import importlib
import pkgutil


def import_submodules(package_name: str, package_path: list[str]) -> list[str]:
    """Import all direct submodules of a package (not starting with ``_``) in sorted order."""
    names = sorted(
        info.name for info in pkgutil.iter_modules(package_path) if not info.name.startswith("_")
    )
    for name in names:
        importlib.import_module(f"{package_name}.{name}")
    return names
