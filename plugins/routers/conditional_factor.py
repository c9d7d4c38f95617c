"""MixLoRA's Dynamic Factor Selection: IFS routers for A and B, CFS router for B (eq. 5–8)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Literal, get_args

import torch
from torch import nn

from octavius.adapters.base_router import BaseRouter
from octavius.adapters.context import RoutingContext
from octavius.adapters.decision import FactorSelection, RoutingDecision
from octavius.adapters.pool_and_topk import masked_mean, top_k_renormalised
from octavius.adapters.routing_literals import InputSource, Level
from octavius.registry import ROUTERS

Pooling = Literal["question", "sequence"]
CfsInit = Literal["official", "fan_in"]
CfsContraction = Literal["eq7", "official"]
POOLINGS: tuple[str, ...] = get_args(Pooling)
CFS_INITS: tuple[str, ...] = get_args(CfsInit)
CFS_CONTRACTIONS: tuple[str, ...] = get_args(CfsContraction)


@ROUTERS.register_module()
class ConditionalFactorRouter(BaseRouter):
    """Chooses ``r`` of ``E`` rank-1 factors for LoRA A and for LoRA B, once per sample.

    MixLoRA's Dynamic Factor Selection (Shen et al., 2024, §4.1):

    * Independent Factor Selection (eq. 5–6): ``h̄ = Avg(h)`` of the layer input, then
      ``g_A = top_r(softmax(W_A h̄))`` with ``W_A ∈ R^{E×d_in}``, and likewise
      ``p^B_IFS = softmax(W^B_IFS h̄)``.
    * Conditional Factor Selection (eq. 7): with the chosen factors ``A = [a_1 … a_r]ᵀ``,
      ``R_CFS(A) = Σ_i softmax(A[i] · W_AB[i])``, ``W_AB ∈ R^{r×d_in×E}``.
    * Late fusion (eq. 8): ``p^B_CFS = softmax(R_CFS(A))``, ``g_B = top_r(p^B_IFS + p^B_CFS)``.

    The CFS step reads the expert bank's own weights, so it runs in the explicit second call
    :meth:`condition` (``decision = router.condition(decision, experts)``): :meth:`forward` leaves
    B's choice pending (a pending :class:`FactorSelection`) and the factor pool refuses such a
    decision. With ``use_cfs=False`` (MixLoRA Fig. 4 ablation) :meth:`forward` chooses B from
    ``p^B_IFS`` alone.

    **What Avg(h) averages** (``pool``). ``"question"`` (default): the instruction tokens only —
    ``ctx.question_mask`` and, when it describes these tokens, ``ctx.attention_mask``. In training
    the layer input also holds the teacher-forced answer, which a test prompt does not have; the
    literal reading (``"sequence"``: every real token of the layer input, padding excluded by
    ``ctx.attention_mask`` when the context has one) therefore routes training samples on their
    answers and test samples without — a train/test mismatch the official release has too
    (VT-NLP/MixLoRA ``llava/peft_cmoa/mixture/selector.py`` l. 135–137 ``input_x.mean(dim=1)``
    over the whole padded sequence, and ``cmoa_eval/evaluate.py`` l. 139–149 re-routes every
    decoding step on the newest token alone). The decision is instance-level: the layer caches
    it in the routing context, so every decoding step of ``generate()`` reuses the prompt's choice.

    Chosen factors are listed by decreasing probability; the ``i``-th factor of A is paired with
    the ``i``-th of B (eq. 9), and ``W_AB[i]`` reads the ``i``-th chosen A factor. Weights are the
    top-``r`` probabilities renormalised (B: of ``p^B_IFS + p^B_CFS``); they carry the gradient
    the pool's estimator passes back (the hard ``top_r`` alone gives none; the official release
    uses the gathered factors unweighted, so its routers get no gradient).

    **Initialisation** as the official release: the IFS routers are ``nn.Linear(d_in, E,
    bias=False)`` (``selector.py`` l. 64–68, nn.Linear's default, bound ``1/√d_in``); ``W_AB`` is
    stored there as ``nn.Linear(r·d_in, E)`` (l. 209–210), so its default bound is ``1/√(r·d_in)``
    (``cfs_init="official"``); ``cfs_init="fan_in"`` uses ``1/√d_in``, one linear map per position.

    Args:
        in_features: ``d_in``, the layer input the IFS routers read and the length of an A factor.
        num_experts: ``E``, the factor pool size (``experts.num_choices``).
        rank: ``r``, factors chosen for A and for B; must equal the pool's rank (the injection
            sets it from the pool when the config leaves it out).
        use_cfs: add the Conditional Factor Selection router for B (eq. 7–8).
        pool: ``"question"`` or ``"sequence"`` (see above).
        cfs_init: ``"official"`` or ``"fan_in"`` bound of ``W_AB``'s uniform initialisation.
        cfs_contraction: ``"eq7"`` computes ``A[i] · W_AB[i]``; ``"official"`` reproduces the
            release's ``einsum('brd,rfe->bre', A, W_AB)`` (``selector.py`` l. 303–304), whose
            distinct letters ``d``/``f`` sum A's factor and ``W_AB[i]`` separately:
            ``(Σ_d A[i, d]) · Σ_f W_AB[i, f]``.
    """

    level: ClassVar[Level] = "instance"
    input_source: ClassVar[InputSource] = "layer"

    #: ``rank`` defaults to the factor pool's rank when the config leaves it out.
    rank_follows_experts = True

    def __init__(
        self,
        in_features: int,
        num_experts: int,
        rank: int = 4,
        use_cfs: bool = True,
        pool: Pooling = "question",
        cfs_init: CfsInit = "official",
        cfs_contraction: CfsContraction = "eq7",
    ) -> None:
        super().__init__(in_features, num_experts)
        if not (isinstance(rank, int) and 1 <= rank <= num_experts):
            raise ValueError(
                f"ConditionalFactorRouter: rank must be an integer in [1, num_experts="
                f"{num_experts}], got {rank!r}; it must also equal the factor pool's rank."
            )
        for key, value, allowed in (
            ("pool", pool, POOLINGS),
            ("cfs_init", cfs_init, CFS_INITS),
            ("cfs_contraction", cfs_contraction, CFS_CONTRACTIONS),
        ):
            if value not in allowed:
                raise ValueError(
                    f"ConditionalFactorRouter: {key} must be one of {allowed}, got {value!r}."
                )
        self.rank = rank
        self.use_cfs = bool(use_cfs)
        self.pool = pool
        self.cfs_init = cfs_init
        self.cfs_contraction = cfs_contraction
        self.ifs_a = nn.Linear(in_features, num_experts, bias=False)  # W_A
        self.ifs_b = nn.Linear(in_features, num_experts, bias=False)  # W^B_IFS
        # W_AB: one (d_in × E) map per position i of the chosen A factors.
        self.cfs_weight = (
            nn.Parameter(torch.empty(rank, in_features, num_experts)) if self.use_cfs else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """IFS as ``nn.Linear``; ``W_AB`` uniform in ``±1/√(r·d_in)`` (official) or ``±1/√d_in``."""
        self.ifs_a.reset_parameters()
        self.ifs_b.reset_parameters()
        if self.cfs_weight is not None:
            fan_in = self.in_features * (self.rank if self.cfs_init == "official" else 1)
            bound = 1.0 / math.sqrt(fan_in)
            nn.init.uniform_(self.cfs_weight, -bound, bound)

    def forward(self, x: torch.Tensor, ctx: RoutingContext | None) -> RoutingDecision:
        """Independent factor selection for A and B (eq. 5–6; B final only without CFS).

        Shapes: ``b`` batch, ``n`` tokens, ``d`` = ``d_in``, ``e`` factors, ``r`` rank.

        Args:
            x: ``(b, n, d)`` the adapted layer's input ``h``.
            ctx: routing context; ``question_mask`` (``pool="question"``) and
                ``attention_mask`` ``(b, n)`` choose the tokens of Avg.

        Returns:
            Instance decision: ``indices``/``weights`` ``(b, r)`` for A, ``probs`` ``(b, e)``
            ``= softmax(W_A h̄)``; ``factors`` holds B's IFS distribution (pending) or, without
            CFS, B's choice.
        """
        pooled = self._pool(x, ctx).to(self.ifs_a.weight.dtype)  # (b, d)
        probs_a = self.ifs_a(pooled).float().softmax(dim=-1)  # (b, e)
        probs_b = self.ifs_b(pooled).float().softmax(dim=-1)  # (b, e)
        weights_a, indices_a = top_k_renormalised(probs_a, self.rank)  # (b, r)
        if self.use_cfs:
            factors = FactorSelection(pending=True, b_ifs_probs=probs_b)
        else:
            weights_b, indices_b = top_k_renormalised(probs_b, self.rank)
            factors = FactorSelection.chosen(indices_b, weights_b, probs_b)
        return RoutingDecision(
            level="instance", indices=indices_a, weights=weights_a, probs=probs_a, factors=factors
        )

    def condition(self, decision: RoutingDecision, experts: nn.Module) -> RoutingDecision:
        """Conditional factor selection and late fusion for B (eq. 7–8), reading the chosen A.

        Returns a new decision whose ``factors`` hold ``b_indices``/``b_weights`` ``(b, r)``,
        ``b_probs`` ``(b, e)`` (the fused distribution, halved to sum to one), ``b_ifs_probs``
        and ``b_cfs_probs``. A decision whose B choice is already made is returned unchanged.
        """
        if not decision.pending:
            return decision
        self._check_experts(experts)
        factors = experts.gather_factors_a(decision.indices)  # (b, r, d)
        probs_cfs = self.cfs_probs(factors)  # (b, e)
        probs_ifs = decision.factors.b_ifs_probs
        fused = probs_ifs + probs_cfs  # (b, e)
        weights_b, indices_b = top_k_renormalised(fused, self.rank)  # (b, r)
        selection = FactorSelection(
            b_indices=indices_b,
            b_weights=weights_b,
            b_probs=fused / 2,
            b_ifs_probs=probs_ifs,
            b_cfs_probs=probs_cfs,
        )
        return dataclasses.replace(decision, factors=selection)

    def cfs_probs(self, factors: torch.Tensor) -> torch.Tensor:
        """``p^B_CFS = softmax(Σ_i softmax(A[i] · W_AB[i]))`` (eq. 7 and the first line of eq. 8).

        Args:
            factors: ``(b, r, d)`` the chosen A factors of each sample, in choice order.

        Returns:
            ``(b, e)`` the CFS distribution over B's factors.
        """
        if self.cfs_weight is None:
            raise RuntimeError("ConditionalFactorRouter(use_cfs=False) has no CFS router.")
        factors = factors.to(self.cfs_weight.dtype)
        if self.cfs_contraction == "official":
            logits = torch.einsum("brd,rfe->bre", factors, self.cfs_weight)
        else:
            logits = torch.einsum("brd,rde->bre", factors, self.cfs_weight)
        return logits.float().softmax(dim=-1).sum(dim=1).softmax(dim=-1)

    def _pool(self, x: torch.Tensor, ctx: RoutingContext | None) -> torch.Tensor:
        """``Avg(h)`` over the instruction tokens or the whole sequence (eq. 5, see ``pool``).

        Linears that read the same input (q/k/v, gate/up) have one router each but the same
        ``Avg(h)``: the last pooled input is remembered in the context and reused.
        """
        if ctx is not None:
            last = ctx.last_pooled.get(self.pool)
            if last is not None and last[0] is x:
                return last[1]
        pooled = self._pool_now(x, ctx)
        if ctx is not None:
            ctx.last_pooled[self.pool] = (x, pooled)
        return pooled

    def _pool_now(self, x: torch.Tensor, ctx: RoutingContext | None) -> torch.Tensor:
        attention = None if ctx is None else ctx.attention_mask
        if self.pool == "question":
            mask = self.require(ctx, "question_mask").bool()
            self._check_mask(mask, x, "question_mask")
            if attention is not None and attention.shape == mask.shape:
                mask = mask & attention.bool()
            return masked_mean(x, mask.to(x.device), what="question_mask")
        if attention is None:
            return x.mean(dim=1)
        self._check_mask(attention, x, "attention_mask")
        return masked_mean(x, attention.to(x.device), what="attention_mask")

    @staticmethod
    def _check_mask(mask: torch.Tensor, x: torch.Tensor, name: str) -> None:
        if mask.shape != x.shape[:2]:
            raise ValueError(
                f"ConditionalFactorRouter: the routing context's {name} has shape "
                f"{tuple(mask.shape)} but the layer input has (b, n) = {tuple(x.shape[:2])}; "
                "the context must describe the prompt this layer sees."
            )

    def _check_experts(self, experts: nn.Module) -> None:
        if not callable(getattr(experts, "gather_factors_a", None)):
            raise TypeError(
                "ConditionalFactorRouter conditions B's choice on the chosen A factors (MixLoRA "
                f"eq. 7) and needs a factor pool such as LoRAFactorPool, got "
                f"{type(experts).__name__}; set use_cfs=False or use LoRAFactorPool experts."
            )
        in_features = getattr(experts, "in_features", None)
        rank = getattr(experts, "rank", None)
        num_choices = getattr(experts, "num_choices", None)
        if (in_features, rank, num_choices) != (self.in_features, self.rank, self.num_experts):
            raise ValueError(
                f"ConditionalFactorRouter(in_features={self.in_features}, rank={self.rank}, "
                f"num_experts={self.num_experts}) does not match its factor pool "
                f"(in_features={in_features}, rank={rank}, num_choices={num_choices}); "
                "W_AB is r × d_in × E of the pool it reads."
            )

    @classmethod
    def example_config(cls) -> dict[str, Any]:
        """Rank 2, CFS on."""
        return {"rank": 2}

    @classmethod
    def example_experts_config(cls) -> dict[str, Any]:
        """The factor pool this router is made for."""
        return {"type": "LoRAFactorPool", "num_factors": 8, "rank": 2}

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, rank={self.rank}, use_cfs={self.use_cfs}, "
            f"pool={self.pool}, cfs_contraction={self.cfs_contraction}"
        )
