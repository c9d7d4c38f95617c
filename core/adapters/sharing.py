"""Router sharing: when a router runs and which layers reuse its decision.

One router can serve one adapted linear (``"module"``), every adapted linear inside one block
(``"block"`` — LLaVA-MoLE's one router for gate/up/down of an MLP) or the whole model
(``"global"`` — Octavius's instance gate computed once per sample). A :class:`RoutingSlot` is the
small piece of state that implements this for one router:

- instance-level decisions are cached in ``ctx.decisions[key]``, so a global router runs once per
  forward and every decoding step of ``generate()`` reuses the prompt's routing;
- with block sharing, a forward pre-hook on the block captures the block input; the decision is
  computed from it on first use and reused by every linear of the block until the block returns
  (``down_proj`` sees the intermediate activation, but routes on the MLP input like gate/up).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from octavius.adapters.base_router import BaseRouter
from octavius.adapters.context import RoutingContext
from octavius.adapters.decision import RoutingDecision
from octavius.adapters.routing_literals import SHARING, Sharing


def _first_tensor(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    if args and isinstance(args[0], torch.Tensor):
        return args[0]
    hidden = kwargs.get("hidden_states")
    if isinstance(hidden, torch.Tensor):
        return hidden
    return next((v for v in kwargs.values() if isinstance(v, torch.Tensor)), None)


def _keep(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


class RoutingSlot:
    """Runs one router according to its sharing and caches its decision.

    Deliberately not an ``nn.Module``: the router is registered once where it belongs (on the
    adapted linear, the block or the model root) and every user refers to it through a slot, so
    the state dict holds each router exactly once.

    Args:
        router: the router.
        key: unique name of the router; the cache key in ``ctx.decisions``.
        sharing: ``"module"``, ``"block"`` or ``"global"``.
    """

    def __init__(self, router: BaseRouter, key: str, sharing: Sharing = "module") -> None:
        if sharing not in SHARING:
            raise ValueError(f"Router sharing must be one of {SHARING}, got '{sharing}'.")
        self.router = router
        router.bind_name(key)
        self.key = key
        self.sharing = sharing
        self._block_input: torch.Tensor | None = None
        self._block_decision: RoutingDecision | None = None
        self._handles: list[RemovableHandle] = []
        # The context of the latest forward, for forwards recomputed by activation checkpointing.
        self.last_context: RoutingContext | None = None

    def attach_block(self, block: nn.Module) -> None:
        """Capture ``block``'s input for block sharing, and forget the decision when it returns."""
        self._handles.append(block.register_forward_pre_hook(self._enter_block, with_kwargs=True))
        self._handles.append(block.register_forward_hook(self._leave_block, always_call=True))

    def detach_block(self) -> None:
        """Remove the block hooks (used when adapters are removed)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _enter_block(
        self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self._block_input = _first_tensor(args, kwargs)
        self._block_decision = None

    def _leave_block(self, *_: Any) -> None:
        self._block_input = None
        self._block_decision = None

    def decide(self, x: torch.Tensor, ctx: RoutingContext | None) -> tuple[RoutingDecision, bool]:
        """The decision for the current call, and whether it was computed just now.

        Args:
            x: ``(b, n, d_in)`` the adapted linear's input (used with module/global sharing).
            ctx: the current routing context, if any.
        """
        cache_instance = self.router.level == "instance" and ctx is not None
        if cache_instance and self.key in ctx.decisions:
            return ctx.decisions[self.key], False
        if self.sharing == "block":
            if self._block_decision is not None:
                return self._block_decision, False
            if self._block_input is None:
                raise RuntimeError(
                    f"Router '{self.key}' is shared by a block but the block's input was not "
                    "captured: the adapted linear ran outside its block's forward. Use "
                    "sharing='module' for layers called on their own."
                )
            source = self._block_input
        else:
            source = x
        if cache_instance:
            # A cached decision is computed once and reused, also when activation checkpointing
            # re-runs a layer; keeping its tensors out of the checkpoint's saved-tensor hooks
            # makes the re-run save exactly what the first run saved.
            with torch.autograd.graph.saved_tensors_hooks(_keep, _keep):
                decision = self._run(source, ctx)
            ctx.decisions[self.key] = decision
        else:
            decision = self._run(source, ctx)
        if self.sharing == "block":
            self._block_decision = decision
        return decision, True

    def _run(self, x: torch.Tensor, ctx: RoutingContext | None) -> RoutingDecision:
        if self.router.input_source == "layer" and x.shape[-1] != self.router.in_features:
            raise ValueError(
                f"Router '{self.key}' ({type(self.router).__name__}) reads features of size "
                f"{self.router.in_features} but got input of shape {tuple(x.shape)}; set the "
                "router's in_features or share it differently."
            )
        return self.router(x, ctx)
