"""The contract every registered router and expert bank must keep.

Parametrised over the registries, so a component is tested the moment it is registered. Each
class provides a small valid config through ``example_config()`` and, for pairing, a matching
expert bank (``example_experts_config()`` on routers) or router (``example_router_config()`` on
expert banks).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from octavius.adapters import (
    BaseExpertBank,
    BaseRouter,
    RoutingContext,
    RoutingDecision,
    build_experts,
    build_router,
)
from octavius.registry import EXPERTS, ROUTERS

ROUTERS.import_from_location()
EXPERTS.import_from_location()
ROUTER_NAMES = sorted(ROUTERS.module_dict)
EXPERT_NAMES = sorted(EXPERTS.module_dict)
B, N, D_IN, D_OUT, D_EMB = 3, 5, 12, 14, 10


def _context() -> RoutingContext:
    attention = torch.ones(B, N, dtype=torch.long)
    attention[0, 0] = 0
    question = torch.zeros(B, N, dtype=torch.bool)
    question[:, 1:4] = True
    return RoutingContext(
        attention_mask=attention,
        question_mask=question,
        inputs_embeds=torch.randn(B, N, D_EMB, generator=torch.Generator().manual_seed(0)),
        task_ids=torch.tensor([0, 1, 0]),
        task_names=["a", "b", "a"],
        task_definitions=["find the boxes", "answer the question", "find the boxes"],
        text_encoder=lambda texts: torch.stack(
            [torch.full((D_EMB,), float(len(t))) / 10 for t in texts]
        ),
    )


def _router(cfg: dict, num_choices: int) -> BaseRouter:
    cls = ROUTERS.get(cfg["type"])
    in_features = D_EMB if cls.input_source == "embeddings" else D_IN
    return build_router(cfg, in_features=in_features, num_experts=num_choices)


def _check_decision(decision: RoutingDecision, router: BaseRouter, num_choices: int) -> None:
    assert isinstance(decision, RoutingDecision)
    assert decision.level == router.level
    lead = (B,) if decision.level == "instance" else (B, N)
    assert decision.indices.shape[: len(lead)] == lead
    assert decision.indices.dtype == torch.long
    assert ((decision.indices >= -1) & (decision.indices < num_choices)).all()
    assert decision.weights.shape == decision.indices.shape
    assert torch.isfinite(decision.weights).all()
    if decision.probs is not None:
        assert decision.probs.shape == (*lead, num_choices)
        torch.testing.assert_close(decision.probs.sum(-1), torch.ones(lead), atol=1e-5, rtol=0)
    for value in decision.aux_losses.values():
        assert value.dim() == 0 and torch.isfinite(value)


def _other_choice(decision: RoutingDecision, num_choices: int) -> RoutingDecision:
    """The same decision with every chosen expert (and B factor) moved to the next one."""
    factors = decision.factors
    if factors is not None and factors.b_indices is not None:
        factors = dataclasses.replace(factors, b_indices=(factors.b_indices + 1) % num_choices)
    return dataclasses.replace(
        decision, indices=(decision.indices + 1) % num_choices, factors=factors
    )


def _nonzero_b(bank: BaseExpertBank) -> None:
    """A trained bank: B (zero at LoRA initialisation) random, so every expert's delta differs."""
    with torch.no_grad():
        for name, param in bank.named_parameters():
            if name.endswith(("lora_B", "factors_b")) or not param.abs().sum():
                param.normal_(0.0, 0.5)


@pytest.mark.parametrize("name", ROUTER_NAMES)
def test_router_contract(name):
    cls = ROUTERS.get(name)
    assert issubclass(cls, BaseRouter) and cls.__name__ == name
    config = cls.example_config()
    assert isinstance(config, dict)
    bank = build_experts(cls.example_experts_config(), in_features=D_IN, out_features=D_OUT)
    _nonzero_b(bank)
    router = _router({"type": name, **config}, bank.num_choices)
    x = torch.randn(B, N, D_IN, requires_grad=True)
    ctx = _context()
    decision = router.condition(router(x, ctx), bank)
    _check_decision(decision, router, bank.num_choices)
    out = bank(x, decision)
    assert out.shape == (B, N, D_OUT) and torch.isfinite(out).all()

    # The routing matters: another choice of experts gives another output.
    with torch.no_grad():
        other = bank(x, _other_choice(decision.detached(), bank.num_choices))
    assert not torch.allclose(other, out.detach(), atol=1e-4), "the decision must change the output"

    # A trainable router learns from the language-model loss alone (no auxiliary loss here),
    # unless it declares that only its auxiliary loss trains it.
    out.square().sum().backward(retain_graph=bool(decision.aux_losses))
    assert x.grad is not None
    trainable = list(router.trainable_parameters())
    for param in trainable:
        assert param.grad is None or torch.isfinite(param.grad).all()
    if trainable and not router.learns_from_aux_only:
        no_grad = [
            n
            for n, p in router.named_parameters()
            if p.requires_grad and (p.grad is None or p.grad.abs().max() < 1e-5)
        ]
        assert not no_grad, f"{name}: no gradient from the LM loss for {no_grad}"
    if decision.aux_losses:
        sum(decision.aux_losses.values(), torch.zeros(())).backward()
    router.eval()
    first = router.condition(router(x, _context()), bank)
    again = router.condition(router(x, _context()), bank)
    assert torch.equal(first.indices, again.indices), "routing must be deterministic in eval"


def test_routers_learning_from_aux_only_say_so():
    """LLaVA-MoLE's top-1 with renormalised weights (eq. 4) gets no LM-loss gradient by design."""
    top1 = build_router({"type": "TokenRouter", "top_k": 1}, in_features=D_IN, num_experts=4)
    assert top1.learns_from_aux_only and "balancing loss" in type(top1).__doc__
    bank = build_experts(
        {"type": "LoRAExperts", "num_experts": 4, "rank": 2}, in_features=D_IN, out_features=D_OUT
    )
    _nonzero_b(bank)
    bank(torch.randn(B, N, D_IN), top1(torch.randn(B, N, D_IN), None)).sum().backward()
    # The weight is p / p = 1: its gradient is rounding noise only.
    assert top1.gate.weight.grad is None or top1.gate.weight.grad.abs().max() < 1e-5
    for cfg in ({"top_k": 2}, {"top_k": 1, "renormalize": False}, {"top_k": 1, "mode": "dense"}):
        router = build_router({"type": "TokenRouter", **cfg}, in_features=D_IN, num_experts=4)
        assert not router.learns_from_aux_only, cfg


@pytest.mark.parametrize("name", EXPERT_NAMES)
def test_expert_bank_contract(name):
    cls = EXPERTS.get(name)
    assert issubclass(cls, BaseExpertBank) and cls.__name__ == name
    bank = build_experts(
        {"type": name, **cls.example_config()}, in_features=D_IN, out_features=D_OUT
    )
    assert bank.num_choices >= 1
    bank.eval()
    with torch.no_grad():
        for param in bank.parameters():
            param.normal_(0.0, 0.1)
    router_cfg = cls.example_router_config()
    x = torch.randn(B, N, D_IN)
    if router_cfg is None:
        decision = None
    else:
        router = _router(router_cfg, bank.num_choices).eval()
        decision = router.condition(router(x, _context()), bank)
    out = bank(x, decision)
    assert out.shape == (B, N, D_OUT) and torch.isfinite(out).all()
    out.sum().backward()
    trainable = list(bank.trainable_parameters())
    assert trainable and all(p.grad is not None for p in trainable)

    # Merging contract: for one routing shared by the batch, x ΔWᵀ equals the delta.
    if decision is None or decision.level == "instance":
        shared = None
        if decision is not None:
            take = lambda t: t[:1].expand(B, *t.shape[1:])  # noqa: E731
            factors = None if decision.factors is None else decision.factors.map(take)
            shared = RoutingDecision(
                level="instance",
                indices=take(decision.indices),
                weights=take(decision.weights),
                probs=None if decision.probs is None else take(decision.probs),
                mode=decision.mode,
                factors=factors,
            )
        with torch.no_grad():
            delta = bank.merged_delta(shared)
            assert delta.shape == (D_OUT, D_IN)
            torch.testing.assert_close(x @ delta.T, bank(x, shared), atol=1e-5, rtol=1e-4)
