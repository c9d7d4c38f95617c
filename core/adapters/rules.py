"""Injection rules: which linears get which experts, which router, and how routers are shared.

A rule is a dict in the model config::

    dict(
        name="attention",                       # used in router names and reports
        targets=r".*\\.self_attn\\.(q|k|v|o)_proj",  # regex (full match) or list of name suffixes
        exclude=None,                           # optional regex / suffixes to leave out
        experts=dict(type="LoRAExperts", num_experts=4, rank=16, alpha=32),
        router=dict(type="InstanceRouter", top_k=2),   # None: a single expert, plain LoRA
        sharing="global",                       # "module" | "block" | "global"
    )

The adapter config is a rule, ``dict(rules=[rule, …])`` or ``dict(rules=dict(name=rule, …))``
(the key names the rule), or a shortcut to one of the papers' rule sets by name (``"octavius"``,
``"llava_mole"``, ``"mixlora"``, or ``dict(preset=NAME, **overrides)``), which loads the config
file ``configs/_base_/adapters/NAME.py`` (see :mod:`octavius.adapters.presets`); any dict form
may add ``trainable=[regex, …]`` naming further parameters to train (e.g. the LM head).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from octavius.adapters.routing_literals import SHARING, Sharing


def _compile(pattern: str | Sequence[str] | None, what: str) -> Callable[[str], bool] | None:
    if pattern is None:
        return None
    if isinstance(pattern, str):
        try:
            regex = re.compile(pattern)
        except re.error as err:
            raise ValueError(
                f"Adapter rule '{what}' is not a valid regular expression: {err}"
            ) from err
        return lambda name: regex.fullmatch(name) is not None
    suffixes = tuple(pattern)
    if not suffixes or not all(isinstance(s, str) for s in suffixes):
        raise ValueError(f"Adapter rule '{what}' must be a regex or a non-empty list of names.")
    return lambda name: any(name == s or name.endswith("." + s) for s in suffixes)


@dataclass
class AdapterRule:
    """One injection rule (see the module docstring for the config form).

    Args:
        targets: module-name regex (full match) or list of module-name suffixes.
        experts: expert-bank config, built with :func:`~octavius.adapters.build_experts`.
        router: router config, or ``None`` for a single expert without router.
        sharing: ``"module"`` (a router per linear), ``"block"`` (one per parent module,
            routing on the block input) or ``"global"`` (one for every matched linear).
        name: the rule's name.
        exclude: optional regex / suffixes of modules to skip.
    """

    targets: str | Sequence[str]
    experts: dict[str, Any]
    router: dict[str, Any] | None = None
    sharing: Sharing = "module"
    name: str = "rule"
    exclude: str | Sequence[str] | None = None
    _match: Callable[[str], bool] = field(init=False, repr=False)
    _skip: Callable[[str], bool] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.sharing not in SHARING:
            raise ValueError(
                f"Adapter rule '{self.name}': sharing must be one of {SHARING}, got '{self.sharing}'."
            )
        if not isinstance(self.experts, Mapping) or "type" not in self.experts:
            raise ValueError(
                f"Adapter rule '{self.name}': 'experts' must be a dict with a 'type', got {self.experts!r}."
            )
        if self.router is not None and (
            not isinstance(self.router, Mapping) or "type" not in self.router
        ):
            raise ValueError(
                f"Adapter rule '{self.name}': 'router' must be a dict with a 'type' or None, got "
                f"{self.router!r}."
            )
        if self.router is None and self.sharing != "module":
            raise ValueError(
                f"Adapter rule '{self.name}': sharing='{self.sharing}' needs a router."
            )
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.name):
            raise ValueError(f"Adapter rule name '{self.name}' must be a Python identifier.")
        self._match = _compile(self.targets, f"{self.name}.targets")
        self._skip = _compile(self.exclude, f"{self.name}.exclude")

    def matches(self, module_name: str) -> bool:
        """Whether the rule applies to the module called ``module_name``."""
        return self._match(module_name) and not (self._skip and self._skip(module_name))

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], index: int = 0) -> AdapterRule:
        """Build a rule from its config dict, naming unknown keys."""
        known = {"targets", "experts", "router", "sharing", "name", "exclude"}
        unknown = set(cfg) - known
        if unknown:
            raise KeyError(
                f"Adapter rule #{index} has unknown keys {sorted(unknown)}; known: {sorted(known)}."
            )
        if "targets" not in cfg or "experts" not in cfg:
            raise KeyError(
                f"Adapter rule #{index} needs 'targets' and 'experts', got {sorted(cfg)}."
            )
        return cls(**{"name": f"rule{index}", **cfg})


def named_rules(rules: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rules of ``dict(rules=…)``: a list, or a dict whose keys name its rules (in order)."""
    if isinstance(rules, Mapping):
        return [{**dict(rule), "name": name} for name, rule in rules.items()]
    return [dict(rule) for rule in rules]


def parse_adapter_config(
    adapter_cfg: str | Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> tuple[list[AdapterRule], list[str]]:
    """Turn any accepted adapter config into rules and extra trainable-parameter patterns."""
    trainable: list[str] = []
    if isinstance(adapter_cfg, str):
        adapter_cfg = {"preset": adapter_cfg}
    if isinstance(adapter_cfg, Mapping):
        cfg = dict(adapter_cfg)
        trainable = list(cfg.pop("trainable", []) or [])
        if "preset" in cfg:
            from octavius.adapters.presets import preset_rules

            rule_cfgs = preset_rules(cfg.pop("preset"), **cfg)
        elif "rules" in cfg:
            rule_cfgs = named_rules(cfg.pop("rules"))
            if cfg:
                raise KeyError(f"Adapter config has unknown keys {sorted(cfg)} next to 'rules'.")
        else:
            rule_cfgs = [cfg]
    else:
        rule_cfgs = list(adapter_cfg)
    if not rule_cfgs:
        raise ValueError("The adapter config has no rules.")
    rules = [AdapterRule.from_config(rule, i) for i, rule in enumerate(rule_cfgs)]
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ValueError(f"Adapter rule names must be unique, got {names}.")
    for pattern in trainable:
        _compile(pattern, "trainable")
    return rules, trainable
