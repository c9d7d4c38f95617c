"""LoRA experts: N independent low-rank adapters behind one frozen linear."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from octavius.adapters.base_expert import BaseExpertBank
from octavius.adapters.decision import RoutingDecision
from octavius.adapters.grouped import group_plan, grouped_lora, grouped_lora_add_
from octavius.adapters.lora_add import add_lora_, lora_product
from octavius.registry import EXPERTS


@EXPERTS.register_module()
class LoRAExperts(BaseExpertBank):
    """A bank of N LoRA experts ``E_e(x) = (α/r)·B_e A_e x`` (LLaVA-MoLE eq. 1, 5).

    Combined by a routing decision into Octavius eq. 3, ``Σ_k G(z^qu)_k E_k(x)``, or LLaVA-MoLE
    eq. 4 per token. Initialised like peft's LoRA (A Kaiming-uniform with ``a=√5``, B zero) so a
    single expert without a router is exactly peft's LoRA.

    Execution follows the decision's level and mode, always computing only what is chosen:

    - no decision (one expert): ``x A_0ᵀ B_0ᵀ`` — plain LoRA, the scale folded into A;
    - instance, sparse/individual: each sample's chosen A and B are gathered and concatenated
      along the rank, ``(b, k·r, d_in)`` and ``(b, k·r, d_out)``, with the routing weight folded
      into the smaller factor, and applied with two ``bmm`` — the cost of one LoRA of rank k·r;
    - token, sparse: tokens grouped by expert, each chosen expert run once on its group
      (:func:`octavius.adapters.grouped.grouped_lora`);
    - dense (either level): all experts as one LoRA of rank e·r whose rank-r slices are scaled
      by the routing weights — only when the decision's mode is ``"dense"``.

    ``lora_B`` stores each ``B_e`` transposed, ``(e, r, d_out)``, so gathered experts
    concatenate along the rank without a copy. Inside an adapted linear the sparse paths add
    their output straight into the base output (:meth:`add_delta`,
    :mod:`octavius.adapters.lora_add`).

    Args:
        in_features: ``d_in``.
        out_features: ``d_out``.
        num_experts: N, the number of experts.
        rank: r, the rank of each expert.
        alpha: LoRA α; the delta is scaled by ``alpha / rank`` as in peft.
        dropout: dropout on the experts' input (peft's ``lora_dropout``).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_experts: int = 1,
        rank: int = 8,
        alpha: float = 16.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(in_features, out_features)
        if num_experts < 1:
            raise ValueError(f"LoRAExperts: num_experts must be >= 1, got {num_experts}.")
        if rank < 1:
            raise ValueError(f"LoRAExperts: rank must be >= 1, got {rank}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"LoRAExperts: dropout must be in [0, 1), got {dropout}.")
        self.num_choices = num_experts
        self.rank = rank
        self.alpha = alpha
        self.scale = alpha / rank
        self.lora_A = nn.Parameter(torch.empty(num_experts, rank, in_features))
        self.lora_B = nn.Parameter(torch.zeros(num_experts, rank, out_features))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.reset_parameters()

    @property
    def num_experts(self) -> int:
        return self.num_choices

    def reset_parameters(self) -> None:
        """A Kaiming-uniform per expert (as ``nn.Linear`` and peft), B zero."""
        for expert in range(self.num_choices):
            nn.init.kaiming_uniform_(self.lora_A.data[expert], a=math.sqrt(5))
        nn.init.zeros_(self.lora_B)

    def forward(self, x: torch.Tensor, decision: RoutingDecision | None) -> torch.Tensor:
        """The weighted sum of the chosen experts' deltas.

        Shapes: ``x`` ``(b, n, d)`` (any leading dims without a decision) → ``(b, n, d_out)``;
        decision indices/weights ``(b, k)`` (instance) or ``(b, n, k)`` (token).
        """
        return self._run(None, x, decision)

    def add_delta(
        self, y: torch.Tensor, x: torch.Tensor, decision: RoutingDecision | None
    ) -> torch.Tensor:
        """``y`` plus the delta, accumulated into ``y`` in place (no ``(…, d_out)`` delta tensor).

        Dense decisions (an ablation) add a separate delta.
        """
        if decision is not None and decision.mode == "dense":
            return y + self(x, decision)
        return self._run(y, x, decision)

    def _run(
        self, y: torch.Tensor | None, x: torch.Tensor, decision: RoutingDecision | None
    ) -> torch.Tensor:
        x = self.dropout(x)
        if decision is None:
            if self.num_choices != 1:
                raise ValueError(
                    f"LoRAExperts with {self.num_choices} experts needs a routing decision."
                )
            # The scale goes into A (r × d_in numbers), never over the (…, d_out) output.
            lora_a = (self.lora_A[0] * self.scale).to(x.dtype)[None]  # (1, r, d_in)
            lora_b = self.lora_B[0].to(x.dtype)[None]  # (1, r, d_out)
        elif decision.mode == "dense":
            return self._dense(x, decision)
        elif decision.level == "instance":
            lora_a, lora_b = decision.cached(
                self, "gathered", lambda: self._gather(decision, x.dtype)
            )
        else:
            return self._token(y, x, decision)
        return lora_product(x, lora_a, lora_b) if y is None else add_lora_(y, x, lora_a, lora_b)

    def _gather(self, decision: RoutingDecision, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        """Each sample's chosen experts, ``(b, k·r, d_in)`` and ``(b, k·r, d_out)``, weights folded."""
        b, k = decision.indices.shape
        weights = decision.weights.to(dtype) * self.scale
        lora_a = self.lora_A[decision.indices]  # (b, k, r, d_in)
        lora_b = self.lora_B[decision.indices]  # (b, k, r, d_out)
        # Folding the weight into the smaller factor scales the fewest numbers.
        if self.in_features <= self.out_features:
            lora_a = lora_a * weights[:, :, None, None]
        else:
            lora_b = lora_b * weights[:, :, None, None]
        lora_a = lora_a.reshape(b, k * self.rank, self.in_features)
        lora_b = lora_b.reshape(b, k * self.rank, self.out_features)
        return lora_a, lora_b

    def _token(
        self, y: torch.Tensor | None, x: torch.Tensor, decision: RoutingDecision
    ) -> torch.Tensor:
        b, n, k = decision.indices.shape
        indices = decision.indices.reshape(b * n, k)
        # The sort by expert depends on the routing only: computed once per decision, reused
        # by every linear that shares it (gate/up/down behind one block router).
        plan = decision.planned("group_plan", lambda: group_plan(indices, self.num_choices))
        args = (
            x.reshape(b * n, self.in_features),
            self.lora_A.to(x.dtype),
            self.lora_B.to(x.dtype),
            indices,
            decision.weights.to(x.dtype).reshape(b * n, k) * self.scale,
            plan,
        )
        if y is not None:
            return grouped_lora_add_(y, *args)
        return grouped_lora(*args).view(b, n, self.out_features)

    def _dense(self, x: torch.Tensor, decision: RoutingDecision) -> torch.Tensor:
        e, r = self.num_choices, self.rank
        full = torch.zeros(
            (*decision.weights.shape[:-1], e), dtype=x.dtype, device=x.device
        ).scatter(-1, decision.indices, decision.weights.to(x.dtype) * self.scale)
        if decision.level == "instance":
            full = full[:, None, :]  # (b, 1, e): one weight per sample for every token
        h = torch.matmul(x, self.lora_A.reshape(e * r, self.in_features).T)  # (b, n, e·r)
        h = (h.view(*h.shape[:-1], e, r) * full[..., None]).reshape(h.shape)
        return torch.matmul(h, self.lora_B.reshape(e * r, self.out_features))

    def delta_weight(
        self, indices: torch.Tensor | None, weights: torch.Tensor | None
    ) -> torch.Tensor:
        """ΔW = Σ_k w_k·(α/r)·B_k A_k, ``(d_out, d_in)``, for one routing shared by a batch."""
        if indices is None:
            if self.num_choices != 1:
                raise ValueError(
                    "delta_weight needs expert indices when there are several experts."
                )
            indices = torch.zeros(1, dtype=torch.long, device=self.lora_A.device)
            weights = torch.ones(1, dtype=self.lora_A.dtype, device=self.lora_A.device)
        k = indices.shape[0]
        lora_a = self.lora_A[indices] * (weights.to(self.lora_A.dtype) * self.scale)[:, None, None]
        lora_a = lora_a.reshape(k * self.rank, self.in_features)
        lora_b = self.lora_B[indices].reshape(k * self.rank, self.out_features)
        return lora_b.T @ lora_a

    @classmethod
    def example_config(cls) -> dict[str, Any]:
        return {"num_experts": 4, "rank": 4, "alpha": 8.0}

    @classmethod
    def example_router_config(cls) -> dict[str, Any] | None:
        return {"type": "InstanceRouter", "top_k": 2}

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"num_experts={self.num_choices}, rank={self.rank}, alpha={self.alpha}"
        )
