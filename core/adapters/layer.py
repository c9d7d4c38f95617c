"""The adapted linear: a frozen base linear plus an expert bank and its router.

``y = base(x) + experts(x, router decision)`` — Octavius eq. 3 and LLaVA-MoLE eq. 4 alike; the
router may be shared with other layers (see :mod:`octavius.adapters.sharing`). GPT-2's ``Conv1D``
(a linear that stores its weight transposed, ``(d_in, d_out)``) is handled like ``nn.Linear``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from octavius.adapters.base_expert import BaseExpertBank
from octavius.adapters.base_router import BaseRouter
from octavius.adapters.context import current_routing_context
from octavius.adapters.decision import RoutingDecision
from octavius.adapters.lora_add import can_add_in_place
from octavius.adapters.sharing import RoutingSlot

ADAPTABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, Conv1D)


def _in_backward() -> bool:
    """True while autograd runs a backward pass (where checkpointed forwards are recomputed)."""
    return torch._C._current_graph_task_id() != -1


def linear_features(layer: nn.Module) -> tuple[int, int]:
    """``(d_in, d_out)`` of an ``nn.Linear`` or a transformers ``Conv1D``."""
    if isinstance(layer, nn.Linear):
        return layer.in_features, layer.out_features
    if isinstance(layer, Conv1D):
        return layer.weight.shape[0], layer.weight.shape[1]
    raise TypeError(
        f"Only nn.Linear and transformers Conv1D layers can be adapted, got {type(layer).__name__}."
    )


class AdaptedLinear(nn.Module):
    """A frozen linear with a mixture of low-rank experts added to its output.

    Args:
        base_layer: the ``nn.Linear`` or ``Conv1D`` to adapt; kept as ``self.base_layer``.
        experts: the expert bank producing the low-rank delta.
        router: a router (registered here: one router per module), a :class:`RoutingSlot`
            (a router registered elsewhere and shared), or ``None`` for a single expert.
        name: the layer's module name, used for recording and error messages.
    """

    def __init__(
        self,
        base_layer: nn.Module,
        experts: BaseExpertBank,
        router: BaseRouter | RoutingSlot | None = None,
        name: str = "",
    ) -> None:
        super().__init__()
        d_in, d_out = linear_features(base_layer)
        if (experts.in_features, experts.out_features) != (d_in, d_out):
            raise ValueError(
                f"{name or 'AdaptedLinear'}: experts are {experts.in_features}→"
                f"{experts.out_features} but the base layer is {d_in}→{d_out}."
            )
        if router is None and experts.needs_router:
            raise ValueError(
                f"{name or 'AdaptedLinear'}: {type(experts).__name__} has {experts.num_choices} "
                "choices and needs a router; give the rule a 'router' config or use one expert."
            )
        self.base_layer = base_layer
        self.experts = experts
        self.name = name
        self.transposed = isinstance(base_layer, Conv1D)
        self.merged = False
        self._backup: torch.Tensor | None = None
        self._merged_delta: torch.Tensor | None = None
        if isinstance(router, BaseRouter):
            self.router = router
            router = RoutingSlot(router, key=name or f"router@{id(self)}", sharing="module")
        self.slot: RoutingSlot | None = router
        if router is not None and router.router.num_experts != experts.num_choices:
            raise ValueError(
                f"{name}: the router chooses among {router.router.num_experts} but "
                f"{type(experts).__name__} has {experts.num_choices} choices."
            )

    @property
    def in_features(self) -> int:
        return self.experts.in_features

    @property
    def out_features(self) -> int:
        return self.experts.out_features

    @property
    def weight(self) -> torch.Tensor:
        """The base layer's weight (code that reads ``layer.weight`` keeps working)."""
        return self.base_layer.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base_layer.bias

    @property
    def shared_router(self) -> BaseRouter | None:
        """The router driving this layer, wherever it is registered."""
        return None if self.slot is None else self.slot.router

    def route(self, x: torch.Tensor) -> RoutingDecision | None:
        """The routing decision for ``x``; adds fresh auxiliary losses to the routing context.

        Activation checkpointing re-runs the forward during backward, outside the ``with
        use_routing_context(...)`` block: the layer then routes with the context of its last
        forward (same cached instance decisions, same masks), and adds no loss or record twice.
        """
        if self.slot is None:
            return None
        if x.dim() != 3:
            raise ValueError(
                f"{self.name}: routed layers take (b, n, d) inputs, got shape {tuple(x.shape)}."
            )
        ctx = current_routing_context()
        recomputing = ctx is None and _in_backward()
        if recomputing:
            ctx = self.slot.last_context
        else:
            self.slot.last_context = ctx
        decision, fresh = self.slot.decide(x, ctx)
        routed = tuple(decision.indices.shape[: 1 if decision.level == "instance" else 2])
        if routed != tuple(x.shape[: len(routed)]):
            raise ValueError(
                f"{self.name}: the routing decision covers {routed} (batch[, tokens]) but the "
                f"input has shape {tuple(x.shape)}; was a routing context reused for another batch?"
            )
        router = self.slot.router
        conditioned = decision.cached(
            self.experts, "conditioned", lambda: router.condition(decision, self.experts)
        )
        if ctx is not None and not recomputing:
            for loss_name, value in conditioned.aux_losses.items():
                if fresh or decision.aux_losses.get(loss_name) is not value:
                    ctx.add_aux_loss(loss_name, value)
            if ctx.recorder is not None:
                ctx.recorder(self.name, conditioned, ctx)
        return conditioned

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Base output plus the routed low-rank delta.

        Shapes: ``x`` ``(b, n, d_in)`` → ``(b, n, d_out)`` (any leading dims without a router).
        """
        y = self.base_layer(x)
        if self.merged:
            return y
        decision = self.route(x)
        dtype = self.experts_dtype
        x = x if x.dtype == dtype else x.to(dtype)
        if can_add_in_place(y, dtype):
            # The fresh base output is kept by nothing else: the delta is added into it.
            return self.experts.add_delta(y, x, decision)
        delta = self.experts(x, decision)
        return y + (delta if delta.dtype == y.dtype else delta.to(y.dtype))

    @property
    def experts_dtype(self) -> torch.dtype:
        # Read on every call (each decoding step): remembered, and forgotten by ``.to()``.
        dtype = self.__dict__.get("_experts_dtype")
        if dtype is None:
            param = next(self.experts.parameters(), None)
            dtype = param.dtype if param is not None else self.base_layer.weight.dtype
            self.__dict__["_experts_dtype"] = dtype
        return dtype

    def _apply(self, fn: Any, recurse: bool = True) -> AdaptedLinear:
        self.__dict__.pop("_experts_dtype", None)
        return super()._apply(fn, recurse)

    @torch.no_grad()
    def merge(self, decision: RoutingDecision | None = None, exact: bool = True) -> None:
        """Add ΔW = Σ_k w_k·scale·B_k A_k of one shared routing to the base weight.

        Args:
            decision: an instance-level decision shared by every sample (rows equal); ``None``
                for a layer without a router.
            exact: keep a copy of the base weight so :meth:`unmerge` restores it bit for bit;
                otherwise unmerge subtracts ΔW again (rounding error ~1 ulp, no extra memory).
        """
        if self.merged:
            raise RuntimeError(f"{self.name}: adapters are already merged; unmerge first.")
        if self.slot is not None:
            if decision is None:
                raise ValueError(
                    f"{self.name}: a routed layer needs a routing decision to merge (pass one, a "
                    "mapping layer→decision, or a RoutingContext to merge_adapters)."
                )
            if decision.level != "instance" or not decision.is_shared_by_batch():
                raise ValueError(
                    f"{self.name}: only an instance-level decision shared by the whole batch can "
                    "be merged; token-level routing and per-sample routing stay unmerged."
                )
            decision = self.slot.router.condition(decision.detached(), self.experts)
        weight = self.base_layer.weight
        delta = self.experts.merged_delta(decision).to(torch.float32)
        if self.transposed:
            delta = delta.T
        self._backup = weight.detach().clone() if exact else None
        self._merged_delta = None if exact else delta
        weight.copy_((weight.to(torch.float32) + delta).to(weight.dtype))
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Restore the base weight saved (or recomputed) at :meth:`merge`."""
        if not self.merged:
            return
        weight = self.base_layer.weight
        if self._backup is not None:
            weight.copy_(self._backup)
        else:
            weight.copy_((weight.to(torch.float32) - self._merged_delta).to(weight.dtype))
        self._backup = None
        self._merged_delta = None
        self.merged = False

    def extra_repr(self) -> str:
        sharing = "none" if self.slot is None else self.slot.sharing
        return f"name={self.name!r}, router_sharing={sharing}, merged={self.merged}"
