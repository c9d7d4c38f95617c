"""MixLoRA's pool of rank-1 LoRA factors, assembled per sample into A and B (MixLoRA eq. 4, 9)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from octavius.adapters.base_expert import BaseExpertBank
from octavius.adapters.decision import RoutingDecision
from octavius.adapters.lora_add import add_lora_, lora_product
from octavius.registry import EXPERTS

ESTIMATORS = ("straight_through", "weighted")


@EXPERTS.register_module()
class LoRAFactorPool(BaseExpertBank):
    """A pool of ``E`` rank-1 factors ``{a_e}``, ``{b_e}`` from which each sample builds its LoRA.

    MixLoRA (eq. 4) writes a rank-``r`` update as a sum of outer products, ``ΔW = B A =
    Σ_i b_i a_iᵀ``, and keeps ``E > r`` candidate factors. A router picks ``r`` of them per sample
    for A and ``r`` for B; the ``i``-th chosen ``a`` is paired with the ``i``-th chosen ``b``
    (eq. 9; routers list their choices by decreasing probability), so each sample gets
    ``A = [a_{K_A[1]}, …, a_{K_A[r]}]ᵀ ∈ R^{r×d_in}`` and ``B = [b_{K_B[1]}, …, b_{K_B[r]}] ∈
    R^{d_out×r}``. The delta ``scale · B (A x)`` is computed with two batched matmuls over the
    gathered factors — the cost of one rank-``r`` LoRA — and never as a ``d_out × d_in`` matrix per
    sample.

    **Router gradients.** Eq. 6 and 8 select factors with a hard ``top_r``, which is piecewise
    constant, so the routers of the reference implementation receive no gradient. Here factor pair
    ``i`` is multiplied by ``m(w^A_i) · m(w^B_i)``, where ``w^A``, ``w^B`` are the decision's
    renormalised weights (they carry the routers' gradient):

    * ``"straight_through"`` (default): ``m(w) = 1 + w − stopgrad(w)``. Its value is exactly 1, so
      the forward pass is eq. 9 unchanged, while backward gives each router the gradient it would
      get if the chosen factors were scaled by their probabilities (``∂L/∂w_i`` is the loss's
      sensitivity to the scale of chosen factor ``i``).
    * ``"weighted"``: ``m(w) = r · w`` — the factors really are scaled by their probabilities, as
      in a gated mixture of experts; the factor ``r`` keeps the mean multiplier at 1.

    **Decisions it understands** (instance level: one A and one B per sample):

    * ``mode="sparse"`` or ``"individual"``: ``indices``/``weights`` ``(b, r)`` choose A's factors.
      B's come from ``decision.factors`` (a :class:`~octavius.adapters.decision.FactorSelection`)
      when the router chose them separately (ConditionalFactorRouter, RandomRouter,
      TaskEmbeddingRouter with ``separate_b``); otherwise they equal A's, so factor ``e`` acts as
      the rank-1 expert ``b_e a_eᵀ`` (InstanceRouter). A pending selection is refused.
    * ``mode="dense"``: every pair ``(a_e, b_e)`` weighted by its routing weight — an ablation of
      rank ``E``, never used behind a sparse mode.
    * no decision: only when ``num_factors == rank``, where the pool is plain LoRA.

    **Initialisation** as LoRA (the paper gives none): each ``a_e`` Kaiming-uniform like a row of
    peft's ``lora_A`` (bound ``1/√d_in`` whatever ``E``), each ``b_e`` zero, so the adapted model
    starts equal to the base model. As for LoRA's A, the routers' gradient is then zero on the very
    first step (it is proportional to ``b``) and flows from the second step on.

    Args:
        in_features: ``d_in`` of the adapted linear.
        out_features: ``d_out`` of the adapted linear.
        num_factors: ``E``, the size of each factor pool (paper: 16 or 32).
        rank: ``r``, factors per sample (paper: 2, 4 or 8); the router must choose exactly ``r``.
        alpha: scaling numerator, ``scale = alpha / rank``; ``None`` means ``2 · num_factors``
            (MixLoRA appendix B).
        dropout: dropout on the input of A, as in LoRA.
        estimator: ``"straight_through"`` or ``"weighted"`` (see above).
    """

    #: Tells routers that this bank takes separate A and B factor choices (``decision.factors``).
    accepts_factor_selection: ClassVar[bool] = True

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_factors: int = 16,
        rank: int = 4,
        alpha: float | None = None,
        dropout: float = 0.0,
        estimator: str = "straight_through",
    ) -> None:
        super().__init__(in_features, out_features)
        if not (isinstance(rank, int) and rank >= 1):
            raise ValueError(f"LoRAFactorPool: rank must be a positive integer, got {rank!r}.")
        if not (isinstance(num_factors, int) and num_factors >= rank):
            raise ValueError(
                f"LoRAFactorPool: num_factors must be an integer ≥ rank ({rank}), got "
                f"{num_factors!r}; MixLoRA chooses r factors out of E > r."
            )
        if estimator not in ESTIMATORS:
            raise ValueError(
                f"LoRAFactorPool: estimator must be one of {ESTIMATORS}, got {estimator!r}."
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"LoRAFactorPool: dropout must be in [0, 1), got {dropout!r}.")
        self.num_factors = num_factors
        self.num_choices = num_factors
        self.rank = rank
        self.alpha = float(2 * num_factors if alpha is None else alpha)
        self.scale = self.alpha / rank
        self.estimator = estimator
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.factors_a = nn.Parameter(torch.empty(num_factors, in_features))  # row e is a_eᵀ
        self.factors_b = nn.Parameter(torch.empty(num_factors, out_features))  # row e is b_eᵀ
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """LoRA initialisation: ``a_e`` Kaiming-uniform (as ``nn.Linear``), ``b_e`` zero."""
        nn.init.kaiming_uniform_(self.factors_a, a=math.sqrt(5))
        nn.init.zeros_(self.factors_b)

    @property
    def needs_router(self) -> bool:
        """A router is needed unless the pool holds exactly ``rank`` factors (plain LoRA)."""
        return self.num_factors != self.rank

    def gather_factors_a(self, indices: torch.Tensor) -> torch.Tensor:
        """Each sample's assembled ``A``: ``(b, r)`` indices → ``(b, r, d_in)`` (input of eq. 7).

        The one part of the pool a router reads, through its explicit ``condition()`` call.
        """
        return self.factors_a[indices]

    def forward(self, x: torch.Tensor, decision: RoutingDecision | None) -> torch.Tensor:
        """The low-rank delta ``scale · B (A x)`` with A and B assembled per sample (eq. 9).

        Shapes: ``b`` batch, ``n`` tokens, ``d`` = ``d_in``, ``o`` = ``d_out``, ``r`` rank,
        ``e`` factors.

        Args:
            x: ``(b, n, d)`` input of the adapted linear.
            decision: an instance-level routing decision (see the class docstring).

        Returns:
            ``(b, n, o)`` the delta only; the adapted layer adds the frozen base output.
        """
        dtype = x.dtype
        x = self.dropout(x.to(self.factors_a.dtype))
        if decision is not None and decision.mode == "dense":
            return self._dense(x, decision).to(dtype)
        return lora_product(x, *self._factors(x, decision)).to(dtype)  # (b, n, o)

    def add_delta(
        self, y: torch.Tensor, x: torch.Tensor, decision: RoutingDecision | None
    ) -> torch.Tensor:
        """``y`` plus the delta, accumulated into the base output ``y`` in place (same dtype)."""
        if decision is not None and decision.mode == "dense":
            return y + self(x, decision)
        x = self.dropout(x)
        return add_lora_(y, x, *self._factors(x, decision))

    def _factors(
        self, x: torch.Tensor, decision: RoutingDecision | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch = x.shape[0]
        if decision is None:
            return self._gather(None, batch, x.dtype)
        # Every decoding step of a generate call reuses the prompt's decision: the factors are
        # gathered once per call (under no-grad), not once per step.
        return decision.cached(self, "gathered", lambda: self._gather(decision, batch, x.dtype))

    def _gather(
        self, decision: RoutingDecision | None, batch: int, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each sample's assembled A, coefficients folded in, ``(b, r, d)``, and B, ``(b, r, o)``."""
        idx_a, idx_b, coef = self._selection(decision, batch=batch)
        # The coefficients scale the gathered rows (b, r, d), far smaller than the output (b, n, o).
        a = self.factors_a[idx_a] * coef.to(dtype).unsqueeze(-1)  # (b, r, d)
        return a, self.factors_b[idx_b]  # (b, r, o)

    def delta_weight(
        self,
        indices: torch.Tensor | None,
        weights: torch.Tensor | None,
        b_indices: torch.Tensor | None = None,
        b_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``ΔW = scale · Σ_i m(w^A_i) m(w^B_i) b_{K_B[i]} a_{K_A[i]}ᵀ`` of one shared routing.

        Used to merge an instance routing into the base weight; ``W + ΔW`` then reproduces
        :meth:`forward` for every sample with this routing (dropout aside).

        Args:
            indices: ``(r,)`` A-factor indices, or ``None`` when ``num_factors == rank``.
            weights: ``(r,)`` their weights; ``None`` means uniform ``1/r``.
            b_indices: ``(r,)`` B-factor indices; ``None`` pairs factor ``e`` of A with ``e`` of B.
            b_weights: ``(r,)`` B weights; ``None`` reuses ``weights``.

        Returns:
            ``(o, d)`` the weight delta.
        """
        if indices is None:
            idx_a, idx_b, coef = self._selection(None, batch=1)
        else:
            idx_a = indices.reshape(1, -1)
            idx_b = idx_a if b_indices is None else b_indices.reshape(1, -1)
            if weights is None:
                w_a = torch.full(idx_a.shape, 1.0 / idx_a.shape[-1], device=idx_a.device)
            else:
                w_a = weights.reshape(1, -1)
            w_b = w_a if b_weights is None else b_weights.reshape(1, -1)
            self._check_shapes(idx_a, idx_b, batch=1)
            coef = self._coefficients(w_a, w_b)
        a = self.factors_a[idx_a[0]] * coef[0].to(self.factors_a.dtype).unsqueeze(-1)  # (r, d)
        return self.factors_b[idx_b[0]].t() @ a  # (o, r) @ (r, d)

    def merged_delta(self, decision: RoutingDecision | None) -> torch.Tensor:
        """ΔW of a decision shared by the whole batch, with B's own choice when it has one."""
        if decision is None:
            return self.delta_weight(None, None)
        if decision.mode == "dense":
            weights = self._dense_weights(decision)[0]  # (e,)
            return self.factors_b.t() @ (self.factors_a * weights.unsqueeze(-1))
        self._check_not_pending(decision)
        factors = decision.factors
        return self.delta_weight(
            decision.indices[0],
            decision.weights[0],
            None if factors is None else factors.b_indices[0],
            None if factors is None else factors.b_weights[0],
        )

    def _selection(
        self, decision: RoutingDecision | None, batch: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-sample A and B factor indices ``(b, r)`` and pair coefficients ``(b, r)``."""
        if decision is None:
            if self.num_factors != self.rank:
                raise ValueError(
                    f"LoRAFactorPool(num_factors={self.num_factors}, rank={self.rank}) needs a "
                    "router to choose its factors; give the adapter rule a router (e.g. "
                    "ConditionalFactorRouter) or set num_factors == rank for plain LoRA."
                )
            device = self.factors_a.device
            idx = torch.arange(self.rank, device=device).expand(batch, -1)
            return idx, idx, torch.full((batch, self.rank), self.scale, device=device)
        if decision.level != "instance":
            raise ValueError(
                "LoRAFactorPool assembles one A and B per sample (MixLoRA eq. 9) and needs an "
                f"instance-level decision, got level='{decision.level}'. Route it with "
                "ConditionalFactorRouter, TaskEmbeddingRouter, RandomRouter or InstanceRouter, "
                "or use LoRAExperts for token-level routing."
            )
        self._check_not_pending(decision)
        idx_a, w_a = decision.indices, decision.weights
        factors = decision.factors
        idx_b = idx_a if factors is None else factors.b_indices
        w_b = w_a if factors is None else factors.b_weights
        self._check_shapes(idx_a, idx_b, batch)
        return idx_a, idx_b, self._coefficients(w_a, w_b)

    def _coefficients(self, w_a: torch.Tensor, w_b: torch.Tensor) -> torch.Tensor:
        """``scale · m(w^A) · m(w^B)`` for the configured estimator, ``(b, r)``."""
        if self.estimator == "straight_through":
            return self.scale * (1.0 + w_a - w_a.detach()) * (1.0 + w_b - w_b.detach())
        return self.scale * (self.rank * w_a) * (self.rank * w_b)

    def _check_shapes(self, idx_a: torch.Tensor, idx_b: torch.Tensor, batch: int) -> None:
        if idx_a.shape[-1] != self.rank:
            raise ValueError(
                f"LoRAFactorPool(rank={self.rank}) got a decision choosing {idx_a.shape[-1]} "
                f"factors per sample; set the router's rank (or top_k) to {self.rank}."
            )
        if idx_a.shape != (batch, self.rank) or idx_b.shape != idx_a.shape:
            raise ValueError(
                f"LoRAFactorPool: expected A and B factor indices of shape ({batch}, {self.rank}), "
                f"got {tuple(idx_a.shape)} and {tuple(idx_b.shape)}."
            )

    @staticmethod
    def _check_not_pending(decision: RoutingDecision) -> None:
        if decision.pending:
            raise RuntimeError(
                "LoRAFactorPool got a decision whose B factors are not chosen yet: call the "
                "router's condition(decision, experts) before the expert bank (MixLoRA eq. 7–8)."
            )

    def _dense_weights(self, decision: RoutingDecision) -> torch.Tensor:
        """``scale · p`` over every factor pair, ``(b, e)``, scattered from indices and weights."""
        if decision.level != "instance":
            raise ValueError(
                f"LoRAFactorPool: a dense decision must be instance-level, got '{decision.level}'."
            )
        full = torch.zeros(
            decision.indices.shape[0],
            self.num_factors,
            dtype=self.factors_a.dtype,
            device=self.factors_a.device,
        )
        return full.scatter(-1, decision.indices, decision.weights.to(full.dtype) * self.scale)

    def _dense(self, x: torch.Tensor, decision: RoutingDecision) -> torch.Tensor:
        """Every factor pair weighted by its routing weight: ``scale · Σ_e p_e b_e a_eᵀ x``."""
        weights = self._dense_weights(decision)  # (b, e)
        u = x @ self.factors_a.t()  # (b, n, e)
        return (u * weights.unsqueeze(1)) @ self.factors_b  # (b, n, o)

    @classmethod
    def example_config(cls) -> dict[str, Any]:
        """A small pool: 8 factors, rank 2."""
        return {"num_factors": 8, "rank": 2}

    @classmethod
    def example_router_config(cls) -> dict[str, Any] | None:
        """MixLoRA's own router, choosing 2 factors for A and for B."""
        return {"type": "ConditionalFactorRouter", "rank": 2}

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"num_factors={self.num_factors}, rank={self.rank}, alpha={self.alpha}, "
            f"estimator='{self.estimator}'"
        )
