"""The adapter layer: expert banks and routers around frozen linears, injected by rules.

Public API (see docs/adapters.md and docs/routing.md):

- :class:`RoutingDecision` (with B's :class:`FactorSelection` for factor routing),
  :class:`BaseRouter`, :class:`BaseExpertBank` — the contract between routers (registry
  ``ROUTERS``) and expert banks (registry ``EXPERTS``); levels, modes and sharing are the
  ``Literal`` types of :mod:`octavius.adapters.routing_literals`;
- :func:`build_router`, :func:`build_experts` — typed builders;
- :class:`AdaptedLinear` — frozen base linear + experts + (possibly shared) router;
- :func:`inject_adapters` / :class:`AdapterReport` — rule-based model surgery and freezing;
- :func:`merge_adapters` / :func:`unmerge_adapters` — fold instance routing into the weights;
- :class:`RoutingContext`, :func:`use_routing_context` — instance-level routing signals;
- :class:`RoutingRecorder` — routing decisions per layer and task, for analysis;
- :func:`cv_squared_loss`, :func:`switch_balance_loss` — the load-balancing losses.
"""

from octavius.adapters.base_expert import BaseExpertBank
from octavius.adapters.base_router import BaseRouter
from octavius.adapters.builders import build_experts, build_router, build_text_encoder
from octavius.adapters.context import (
    MissingRoutingSignalError,
    RoutingContext,
    current_routing_context,
    use_routing_context,
)
from octavius.adapters.decision import FactorSelection, RoutingDecision
from octavius.adapters.grouped import grouped_lora
from octavius.adapters.injection import AdapterReport, inject_adapters
from octavius.adapters.layer import AdaptedLinear
from octavius.adapters.losses import cv_squared_loss, switch_balance_loss
from octavius.adapters.merge import merge_adapters, unmerge_adapters
from octavius.adapters.pool_and_topk import masked_mean, top_k_renormalised
from octavius.adapters.presets import preset_rules
from octavius.adapters.recording import RoutingRecord, RoutingRecorder
from octavius.adapters.rules import AdapterRule, parse_adapter_config
from octavius.adapters.sharing import RoutingSlot

__all__ = [
    "AdaptedLinear",
    "AdapterReport",
    "AdapterRule",
    "BaseExpertBank",
    "BaseRouter",
    "FactorSelection",
    "MissingRoutingSignalError",
    "RoutingContext",
    "RoutingDecision",
    "RoutingRecord",
    "RoutingRecorder",
    "RoutingSlot",
    "build_experts",
    "build_router",
    "build_text_encoder",
    "current_routing_context",
    "cv_squared_loss",
    "grouped_lora",
    "inject_adapters",
    "masked_mean",
    "merge_adapters",
    "parse_adapter_config",
    "preset_rules",
    "switch_balance_loss",
    "top_k_renormalised",
    "unmerge_adapters",
    "use_routing_context",
]
