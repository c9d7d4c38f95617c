"""Model surgery: replace matching linears by adapted linears, freeze the rest, report.

Works on any model whose projections are ``nn.Linear`` or transformers ``Conv1D`` (GPT-2), e.g.
LLaMA, Qwen2, Mistral and GPT-2 causal LMs. See :mod:`octavius.adapters.rules` for the config.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table
from torch import nn

from octavius.adapters.base_expert import BaseExpertBank
from octavius.adapters.base_router import BaseRouter
from octavius.adapters.builders import build_experts, build_router
from octavius.adapters.layer import ADAPTABLE_TYPES, AdaptedLinear, linear_features
from octavius.adapters.rules import AdapterRule, parse_adapter_config
from octavius.adapters.sharing import RoutingSlot

#: Attribute names under which shared routers are registered (on the block / the model root).
BLOCK_ROUTER_ATTR = "adapter_router"
GLOBAL_ROUTERS_ATTR = "adapter_routers"


@dataclass
class AdapterReport:
    """What :func:`inject_adapters` did (Octavius Table 4's "#Trainable Param.").

    Attributes:
        trainable_params: parameters that will be trained.
        total_params: all parameters of the model (shared ones counted once).
        adapted: names of the adapted linears, in model order.
        routers: names under which the routers are registered.
        per_rule: number of adapted linears per rule name.
    """

    trainable_params: int
    total_params: int
    adapted: list[str] = field(default_factory=list)
    routers: list[str] = field(default_factory=list)
    per_rule: dict[str, int] = field(default_factory=dict)

    @property
    def trainable_percentage(self) -> float:
        """Trainable parameters as a percentage of all parameters."""
        return 100.0 * self.trainable_params / max(self.total_params, 1)

    def table(self) -> str:
        """A printable summary table."""
        table = Table(title="Adapters")
        table.add_column("rule")
        table.add_column("adapted linears", justify="right")
        for rule, count in self.per_rule.items():
            table.add_row(rule, str(count))
        table.add_section()
        table.add_row("routers", str(len(self.routers)))
        table.add_row("trainable params", f"{self.trainable_params:,}")
        table.add_row("total params", f"{self.total_params:,}")
        table.add_row("trainable %", f"{self.trainable_percentage:.3f}%")
        buffer = io.StringIO()
        Console(file=buffer, width=100, color_system=None).print(table)
        return buffer.getvalue()

    def __str__(self) -> str:
        return self.table()


def _hidden_size(model: nn.Module) -> int | None:
    getter = getattr(model, "get_input_embeddings", None)
    embeddings = getter() if callable(getter) else None
    if isinstance(embeddings, nn.Embedding):
        return embeddings.embedding_dim
    config = getattr(model, "config", None)
    for key in ("hidden_size", "n_embd", "d_model"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    return None


class _Injector:
    """Applies the rules to one model; keeps the shared routers it creates."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.hidden = _hidden_size(model)
        self.slots: dict[str, RoutingSlot] = {}
        self.routers: list[BaseRouter] = []
        self.trainable: list[nn.Parameter] = []

    def router_in_features(self, router_cls: type[BaseRouter], rule: AdapterRule, d_in: int) -> int:
        needs_hidden = router_cls.input_source == "embeddings" or rule.sharing != "module"
        if needs_hidden:
            if self.hidden is None:
                raise ValueError(
                    f"Adapter rule '{rule.name}': cannot find the model's hidden size for the "
                    "router; set router in_features explicitly."
                )
            return self.hidden
        return d_in

    def make_router(self, rule: AdapterRule, d_in: int, experts: BaseExpertBank) -> BaseRouter:
        from octavius.registry import ROUTERS

        router_cls = ROUTERS.get(rule.router["type"])
        defaults = {
            "in_features": self.router_in_features(router_cls, rule, d_in),
            "num_experts": experts.num_choices,
        }
        if getattr(router_cls, "rank_follows_experts", False):
            # MixLoRA: the router selects as many factors as the pool's rank (stated once).
            defaults["rank"] = experts.rank
        router = build_router(rule.router, **defaults)
        self.trainable.extend(router.trainable_parameters())
        if rule.sharing != "module" and router.level == "token" and rule.sharing == "global":
            raise ValueError(
                f"Adapter rule '{rule.name}': a token-level router ({type(router).__name__}) "
                "cannot be shared globally (its decision depends on each layer's tokens); use "
                "sharing='block' or 'module'."
            )
        self.routers.append(router)
        return router

    def slot_for(
        self, rule: AdapterRule, name: str, d_in: int, experts: BaseExpertBank
    ) -> RoutingSlot:
        num_choices = experts.num_choices
        if rule.sharing == "global":
            key = f"{GLOBAL_ROUTERS_ATTR}.{rule.name}"
        else:
            key = f"{name.rpartition('.')[0]}.{BLOCK_ROUTER_ATTR}_{rule.name}".lstrip(".")
        slot = self.slots.get(key)
        if slot is None:
            router = self.make_router(rule, d_in, experts)
            if rule.sharing == "global":
                holder = getattr(self.model, GLOBAL_ROUTERS_ATTR, None)
                if holder is None:
                    holder = nn.ModuleDict()
                    self.model.add_module(GLOBAL_ROUTERS_ATTR, holder)
                holder[rule.name] = router
                slot = RoutingSlot(router, key, "global")
            else:
                block = self.model.get_submodule(name.rpartition(".")[0])
                block.add_module(key.rpartition(".")[2], router)
                slot = RoutingSlot(router, key, "block")
                slot.attach_block(block)
            self.slots[key] = slot
        if slot.router.num_experts != num_choices:
            raise ValueError(
                f"Adapter rule '{rule.name}': '{name}' has {num_choices} expert choices but its "
                f"shared router '{key}' routes among {slot.router.num_experts}."
            )
        return slot

    def adapt(self, rule: AdapterRule, name: str) -> None:
        base = self.model.get_submodule(name)
        d_in, d_out = linear_features(base)
        experts = build_experts(rule.experts, in_features=d_in, out_features=d_out)
        self.trainable.extend(experts.trainable_parameters())
        experts.to(device=base.weight.device)
        router: BaseRouter | RoutingSlot | None = None
        if rule.router is not None:
            if rule.sharing == "module":
                router = self.make_router(rule, d_in, experts)
                router.to(device=base.weight.device)
            else:
                router = self.slot_for(rule, name, d_in, experts)
                router.router.to(device=base.weight.device)
        adapted = AdaptedLinear(base, experts, router, name=name)
        # New modules follow the mode of the layer they replace (dropout off in an eval model).
        adapted.train(base.training)
        if isinstance(router, RoutingSlot):
            router.router.train(base.training)
        parent_name, _, attr = name.rpartition(".")
        setattr(self.model.get_submodule(parent_name) if parent_name else self.model, attr, adapted)


def _candidates(model: nn.Module) -> list[str]:
    names, inside = [], []
    for name, module in model.named_modules():
        if any(name.startswith(prefix) for prefix in inside):
            continue
        if isinstance(module, AdaptedLinear):
            inside.append(name + ".")
            names.append(name)
        elif isinstance(module, ADAPTABLE_TYPES):
            names.append(name)
    return names


def inject_adapters(
    model: nn.Module, adapter_cfg: str | Mapping[str, Any] | Sequence[Mapping[str, Any]]
) -> AdapterReport:
    """Adapt the linears of ``model`` by rules; freeze everything but adapters and routers.

    Each linear is claimed by the first rule that matches it. Parameters matching a
    ``trainable`` pattern (``re.search`` on the parameter name) stay trainable too.

    Args:
        model: e.g. a transformers causal LM.
        adapter_cfg: rules, a preset name, or ``dict(preset=..., **overrides)``
            (see :mod:`octavius.adapters.rules`).

    Returns:
        The report: trainable/total parameters, adapted module names, router names.

    Raises:
        ValueError: when a rule matches no linear (the message lists some candidate names) or
            matches a module that is already adapted.
    """
    rules, trainable = parse_adapter_config(adapter_cfg)
    candidates = _candidates(model)
    injector = _Injector(model)
    claimed: set[str] = set()
    adapted: list[str] = []
    per_rule: dict[str, int] = {}
    for rule in rules:
        matched = [n for n in candidates if n not in claimed and rule.matches(n)]
        if not matched:
            sample = ", ".join(candidates[:6]) or "(no nn.Linear / Conv1D layers)"
            raise ValueError(
                f"Adapter rule '{rule.name}' (targets={rule.targets!r}) matches no linear layer "
                f"of {type(model).__name__}. Linear layers look like: {sample}."
            )
        for name in matched:
            if isinstance(model.get_submodule(name), AdaptedLinear):
                raise ValueError(f"'{name}' is already adapted; inject adapters only once.")
            injector.adapt(rule, name)
            claimed.add(name)
            adapted.append(name)
        per_rule[rule.name] = len(matched)

    for param in model.parameters():
        param.requires_grad_(False)
    for param in injector.trainable:
        param.requires_grad_(True)
    patterns = [re.compile(p) for p in trainable]
    for pname, param in model.named_parameters():
        if any(p.search(pname) for p in patterns):
            param.requires_grad_(True)

    router_names = sorted(
        {name for name, module in model.named_modules() if isinstance(module, BaseRouter)}
    )
    params = list(model.parameters())
    order = {name: i for i, name in enumerate(n for n, _ in model.named_modules())}
    return AdapterReport(
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        total_params=sum(p.numel() for p in params),
        adapted=sorted(adapted, key=lambda n: order.get(n, 0)),
        routers=router_names,
        per_rule=per_rule,
    )
