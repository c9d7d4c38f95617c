"""Octavius's instance-based gate: experts chosen once per sample from the question."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, get_args

import torch
from torch import nn

from octavius.adapters.base_router import BaseRouter
from octavius.adapters.context import RoutingContext
from octavius.adapters.decision import RoutingDecision
from octavius.adapters.losses import cv_squared_loss
from octavius.adapters.pool_and_topk import masked_mean, top_k_renormalised
from octavius.adapters.routing_literals import MODES, InputSource, Level, Mode
from octavius.registry import ROUTERS

POOLED_QUESTION = "pooled_question"
GateInit = Literal["normal", "linear"]
GATE_INITS: tuple[str, ...] = get_args(GateInit)


@ROUTERS.register_module()
class InstanceRouter(BaseRouter):
    """Instance-based gate ``G(z^qu)`` of Octavius eq. 3.

    ``z^qu`` is the mean of the LLM input embeddings over the question tokens
    (``ctx.question_mask``, padding excluded with ``ctx.attention_mask``). It is pooled once per
    routing context and shared by every instance router; with the default global sharing the
    gate itself also runs once per sample and its decision is reused by every adapted layer and
    every decoding step. Per-layer gates are ``sharing="module"`` in the injection rule.

    Modes (Octavius Table 4): ``"sparse"`` top-k with the k softmax weights renormalised,
    ``"dense"`` the softmax-weighted sum of all experts, ``"individual"`` a fixed task→expert
    table read from ``ctx.task_ids``. The gate learns through the renormalised weights, so sparse
    top-1 (weight exactly 1) trains it only through the balancing loss. The optional balancing loss is Octavius eq. 2,
    ``α·CV(Σ_i G(z_i))²`` over the batch, with ``G`` the (sparse) gate values.

    **Initialisation** (``init``): ``"normal"`` (default) as the official release,
    ``W_g ~ N(0, 1)`` (OpenGVLab/LAMM ``src/model/Octavius/moe/layer.py`` l. 29, ``Top2Gating``:
    ``nn.Parameter(torch.randn(dim, num_gates))``), which starts from confident, nearly one-hot
    gates; ``"linear"`` uses ``nn.Linear``'s default, uniform in ``±1/√d`` (near-uniform gates).

    Args:
        in_features: size of the LLM input embeddings (set by injection).
        num_experts: N experts.
        top_k: experts per sample in sparse mode.
        mode: ``"sparse"``, ``"dense"`` or ``"individual"``.
        task_to_expert: individual mode's table, ``[expert of task 0, expert of task 1, …]`` or
            ``{task_id: expert}``; ``None`` maps task t to expert t.
        balance_loss_weight: α of eq. 2; 0 disables the loss (the paper's default, Table 5).
        init: ``"normal"`` or ``"linear"`` initialisation of the gate (see above).
    """

    level: ClassVar[Level] = "instance"
    input_source: ClassVar[InputSource] = "embeddings"

    def __init__(
        self,
        in_features: int,
        num_experts: int,
        top_k: int = 2,
        mode: Mode = "sparse",
        task_to_expert: Sequence[int] | Mapping[int, int] | None = None,
        balance_loss_weight: float = 0.0,
        init: GateInit = "normal",
    ) -> None:
        super().__init__(in_features, num_experts)
        if mode not in MODES:
            raise ValueError(f"InstanceRouter: mode must be one of {MODES}, got '{mode}'.")
        if mode == "sparse" and not 1 <= top_k <= num_experts:
            raise ValueError(
                f"InstanceRouter: top_k must be in [1, num_experts={num_experts}], got {top_k}."
            )
        if balance_loss_weight < 0:
            raise ValueError(
                f"InstanceRouter: balance_loss_weight must be >= 0, got {balance_loss_weight}."
            )
        self.top_k = top_k
        self.mode = mode
        self.balance_loss_weight = balance_loss_weight
        self.register_buffer(
            "task_table", self._table(task_to_expert, num_experts), persistent=False
        )
        if init not in GATE_INITS:
            raise ValueError(f"InstanceRouter: init must be one of {GATE_INITS}, got {init!r}.")
        self.init = init
        self.gate = nn.Linear(in_features, num_experts, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``N(0, 1)`` (``init="normal"``, the official gate) or ``nn.Linear``'s default."""
        if self.init == "normal":
            nn.init.normal_(self.gate.weight, mean=0.0, std=1.0)
        else:
            self.gate.reset_parameters()

    @property
    def learns_from_aux_only(self) -> bool:  # type: ignore[override]
        """Sparse top-1: the chosen weight is exactly 1, so only the balancing loss trains it."""
        return self.mode == "sparse" and self.top_k == 1

    @staticmethod
    def _table(task_to_expert: Sequence[int] | Mapping[int, int] | None, e: int) -> torch.Tensor:
        if task_to_expert is None:
            return torch.arange(e)
        if isinstance(task_to_expert, Mapping):
            size = max(task_to_expert) + 1
            table = torch.full((size,), -1, dtype=torch.long)
            for task, expert in task_to_expert.items():
                table[task] = expert
        else:
            table = torch.tensor(list(task_to_expert), dtype=torch.long)
        if ((table >= e) | (table < -1)).any():
            raise ValueError(
                f"InstanceRouter: task_to_expert names experts outside [0, {e}): {table.tolist()}."
            )
        return table

    def question_embedding(self, ctx: RoutingContext | None) -> torch.Tensor:
        """``z^qu``: mean input embedding of each sample's question tokens, ``(b, d)``."""
        embeds = self.require(ctx, "inputs_embeds")
        mask = self.require(ctx, "question_mask").bool()
        if POOLED_QUESTION not in ctx.features:
            if ctx.attention_mask is not None and ctx.attention_mask.shape == mask.shape:
                mask = mask & ctx.attention_mask.bool()
            ctx.features[POOLED_QUESTION] = masked_mean(
                embeds, mask.to(embeds.device), "question_mask"
            )
        return ctx.features[POOLED_QUESTION]

    def forward(self, x: torch.Tensor, ctx: RoutingContext | None) -> RoutingDecision:
        """Route every sample from its question.

        Shapes: ``b`` batch, ``d`` embedding size, ``e`` experts, ``k`` top-k.

        Args:
            x: the layer (or block) input, ``(b, n, d_in)``; not read — routing comes from ``ctx``.
            ctx: needs ``inputs_embeds`` and ``question_mask`` (``task_ids`` in individual mode).

        Returns:
            Instance decision, indices/weights ``(b, k)`` (``(b, e)`` dense, ``(b, 1)``
            individual), probs ``(b, e)`` (``None`` in individual mode).
        """
        if self.mode == "individual":
            return self._individual(ctx)
        z = self.question_embedding(ctx).to(self.gate.weight.dtype)  # (b, d)
        probs = self.gate(z).float().softmax(dim=-1)  # (b, e)
        if self.mode == "dense":
            indices = torch.arange(self.num_experts, device=probs.device).expand_as(probs)
            weights, gates = probs, probs
        else:
            weights, indices = top_k_renormalised(probs, self.top_k)  # (b, k)
            gates = torch.zeros_like(probs).scatter(-1, indices, weights)  # sparse G(z), (b, e)
        aux: dict[str, torch.Tensor] = {}
        if self.balance_loss_weight > 0 and self.training:
            aux["instance_balance_loss"] = self.balance_loss_weight * cv_squared_loss(gates.sum(0))
        return RoutingDecision(
            level="instance",
            indices=indices,
            weights=weights,
            probs=probs,
            mode=self.mode,
            aux_losses=aux,
        )

    def _individual(self, ctx: RoutingContext | None) -> RoutingDecision:
        task_ids = self.require(ctx, "task_ids").long().to(self.task_table.device)
        if (task_ids < 0).any() or (task_ids >= self.task_table.numel()).any():
            raise ValueError(
                f"InstanceRouter(mode='individual'): task ids {task_ids.tolist()} are outside the "
                f"task_to_expert table of {self.task_table.numel()} tasks."
            )
        experts = self.task_table[task_ids]
        if (experts < 0).any():
            raise ValueError(
                f"InstanceRouter(mode='individual'): task_to_expert has no expert for task ids "
                f"{task_ids[experts < 0].tolist()}."
            )
        indices = experts[:, None]  # (b, 1)
        weights = torch.ones(indices.shape, dtype=self.gate.weight.dtype, device=indices.device)
        return RoutingDecision(
            level="instance", indices=indices, weights=weights, mode="individual"
        )

    @classmethod
    def example_config(cls) -> dict[str, Any]:
        return {"top_k": 2, "balance_loss_weight": 0.1}

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mode={self.mode}, top_k={self.top_k}"
