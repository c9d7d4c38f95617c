"""The papers' adapter rule sets, read from their config files: ``preset=NAME`` is a shortcut.

The rules of Octavius, LLaVA-MoLE and MixLoRA are stated once, in
``configs/_base_/adapters/{octavius,llava_mole,mixlora}.py``, which the paper configs inherit.
``dict(preset=NAME, **overrides)`` (or just ``"NAME"``) loads the same file, for code and tests
that do not go through a config file. Overrides:

- ``experts``, ``router``, ``targets``, ``sharing``, ``exclude``, ``name`` update the preset's first
  rule (``experts``/``router`` dicts are merged key by key; ``router=None`` removes the router);
- a key naming another rule of the preset (LLaVA-MoLE's ``attention``) updates that rule's
  ``experts``.

The configs directory is the repository's ``configs/`` (or ``$OCTAVIUS_CONFIGS``).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Keys of a rule that a preset override may set on the preset's first rule.
RULE_KEYS = ("experts", "router", "targets", "sharing", "exclude", "name")


def configs_dir() -> Path:
    """The configs directory: ``$OCTAVIUS_CONFIGS``, else the repository's ``configs/``."""
    env = os.environ.get("OCTAVIUS_CONFIGS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "configs"


def preset_names() -> list[str]:
    """The presets found in ``configs/_base_/adapters/``."""
    return sorted(p.stem for p in (configs_dir() / "_base_" / "adapters").glob("[!_]*.py"))


def preset_file(name: str) -> Path:
    """The config file of preset ``name``.

    Raises:
        KeyError: naming the unknown preset and the known ones.
    """
    path = configs_dir() / "_base_" / "adapters" / f"{name}.py"
    if not isinstance(name, str) or not path.is_file():
        raise KeyError(
            f"Unknown adapter preset '{name}'; choose one of {preset_names()} "
            f"(files in {path.parent}; outside a repository checkout, point $OCTAVIUS_CONFIGS "
            "at a copy of its configs/ directory)."
        )
    return path


def _load(name: str) -> list[dict[str, Any]]:
    from mmengine.config import Config

    from octavius.adapters.rules import named_rules

    path = preset_file(name)
    adapters = Config.fromfile(str(path)).get("adapters")
    if not isinstance(adapters, Mapping):
        raise KeyError(f"{path} must define `adapters = dict(...)` (a rule or dict(rules=...)).")
    adapters = adapters.to_dict() if hasattr(adapters, "to_dict") else dict(adapters)
    if "rules" in adapters:
        return named_rules(adapters["rules"])
    return [adapters]


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        return {**base, **override}
    return copy.deepcopy(override)


def preset_rules(name: str, **overrides: Any) -> list[dict[str, Any]]:
    """The rules of preset ``name`` with ``overrides`` applied (see the module docstring).

    Raises:
        KeyError: for an unknown preset or an override that is neither a rule key nor a rule name.
    """
    rules = _load(name)
    by_name = {rule.get("name"): rule for rule in rules[1:]}
    for key, value in overrides.items():
        if key in RULE_KEYS:
            rules[0][key] = _merge(rules[0].get(key), value)
        elif key in by_name:
            by_name[key]["experts"] = _merge(by_name[key].get("experts"), value)
        else:
            raise KeyError(
                f"Adapter preset '{name}' has no option '{key}'; accepted: "
                f"{list(RULE_KEYS) + sorted(k for k in by_name if k)} ({preset_file(name)})."
            )
    return rules


__all__ = ["RULE_KEYS", "configs_dir", "preset_file", "preset_names", "preset_rules"]
