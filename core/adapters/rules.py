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

The adapter config is a rule, a list of rules, a ready-made rule set by name (``"octavius"``,
``"llava_mole"``, ``"mixlora"``), or ``dict(preset=NAME, **overrides)``; any dict form may add
``trainable=[regex, …]`` naming further parameters to train (e.g. the LM head).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from octavius.adapters.sharing import SHARING

#: q/k/v/o projections of LLaMA-style models, and GPT-2's fused ``c_attn`` and ``attn.c_proj``.
ATTENTION_TARGETS = r".*\.(self_attn|attn)\.(q_proj|k_proj|v_proj|o_proj|c_attn|c_proj)"
#: gate/up/down projections of LLaMA-style MLPs, and GPT-2's ``mlp.c_fc`` / ``mlp.c_proj``.
MLP_TARGETS = r".*\.mlp\.(gate_proj|up_proj|down_proj|c_fc|c_proj)"
#: every linear inside the decoder layers (``layers.N`` / GPT-2's ``h.N``).
DECODER_TARGETS = r"(.*\.)?(layers|h)\.\d+\..+"


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
    sharing: str = "module"
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


def _merged(base: dict[str, Any], override: Mapping[str, Any] | None) -> dict[str, Any]:
    return {**base, **(override or {})}


def octavius_rules(
    experts: Mapping[str, Any] | None = None,
    router: Mapping[str, Any] | None = None,
    targets: str | Sequence[str] = ATTENTION_TARGETS,
) -> list[dict[str, Any]]:
    """Octavius (eq. 3): LoRA experts on q/k/v/o, one global instance gate, sparse top-2."""
    return [
        dict(
            name="attention",
            targets=targets,
            experts=_merged(
                dict(type="LoRAExperts", num_experts=4, rank=32, alpha=32.0, dropout=0.1), experts
            ),
            router=_merged(dict(type="InstanceRouter", top_k=2), router),
            sharing="global",
        )
    ]


def llava_mole_rules(
    experts: Mapping[str, Any] | None = None,
    router: Mapping[str, Any] | None = None,
    attention: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """LLaVA-MoLE (eq. 3–8): token top-1 MoE on MLP gate/up/down with one router per MLP block,
    plain LoRA (one expert, no router) on the attention projections."""
    return [
        dict(
            name="mlp",
            targets=MLP_TARGETS,
            experts=_merged(
                dict(type="LoRAExperts", num_experts=3, rank=32, alpha=64.0, dropout=0.05), experts
            ),
            router=_merged(dict(type="TokenRouter", top_k=1, balance_loss_weight=1e-2), router),
            sharing="block",
        ),
        dict(
            name="attention",
            targets=ATTENTION_TARGETS,
            experts=_merged(
                dict(type="LoRAExperts", num_experts=1, rank=32, alpha=64.0, dropout=0.05),
                attention,
            ),
            router=None,
        ),
    ]


def mixlora_rules(
    experts: Mapping[str, Any] | None = None,
    router: Mapping[str, Any] | None = None,
    targets: str | Sequence[str] = DECODER_TARGETS,
) -> list[dict[str, Any]]:
    """MixLoRA (eq. 4–9): a rank-1 factor pool on every decoder linear, conditional factor
    router per linear. The router's rank follows the pool's unless set explicitly."""
    pool = _merged(dict(type="LoRAFactorPool", num_factors=16, rank=4), experts)
    route = _merged(dict(type="ConditionalFactorRouter", rank=pool.get("rank", 4)), router)
    return [dict(name="mixlora", targets=targets, experts=pool, router=route, sharing="module")]


PRESETS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "llava_mole": llava_mole_rules,
    "mixlora": mixlora_rules,
    "octavius": octavius_rules,
}


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
            name = cfg.pop("preset")
            if name not in PRESETS:
                raise KeyError(f"Unknown adapter preset '{name}'; choose one of {sorted(PRESETS)}.")
            try:
                rule_cfgs = PRESETS[name](**cfg)
            except TypeError as err:
                raise TypeError(f"Adapter preset '{name}': {err}") from err
        elif "rules" in cfg:
            rule_cfgs = list(cfg.pop("rules"))
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
