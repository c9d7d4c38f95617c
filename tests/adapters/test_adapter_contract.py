"""The contract every registered router and expert bank must keep.

Parametrised over the registries, so a component is tested the moment it is registered. Each
class provides a small valid config through ``example_config()`` and, for pairing, a matching
expert bank (``example_experts_config()`` on routers) or router (``example_router_config()`` on
expert banks).
"""

from __future__ import annotations

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


@pytest.mark.parametrize("name", ROUTER_NAMES)
def test_router_contract(name):
    cls = ROUTERS.get(name)
    assert issubclass(cls, BaseRouter) and cls.__name__ == name
    config = cls.example_config()
    assert isinstance(config, dict)
    bank = build_experts(cls.example_experts_config(), in_features=D_IN, out_features=D_OUT)
    router = _router({"type": name, **config}, bank.num_choices)
    x = torch.randn(B, N, D_IN, requires_grad=True)
    ctx = _context()
    decision = router.condition(router(x, ctx), bank)
    _check_decision(decision, router, bank.num_choices)
    out = bank(x, decision)
    assert out.shape == (B, N, D_OUT) and torch.isfinite(out).all()
    (out.square().sum() + sum(decision.aux_losses.values(), torch.zeros(()))).backward()
    assert x.grad is not None
    for param in router.trainable_parameters():
        assert param.grad is None or torch.isfinite(param.grad).all()
    router.eval()
    first = router.condition(router(x, _context()), bank)
    again = router.condition(router(x, _context()), bank)
    assert torch.equal(first.indices, again.indices), "routing must be deterministic in eval"


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
            extras = {
                k: take(v) if torch.is_tensor(v) and v.shape[:1] == (B,) else v
                for k, v in decision.extras.items()
            }
            shared = RoutingDecision(
                level="instance",
                indices=take(decision.indices),
                weights=take(decision.weights),
                probs=None if decision.probs is None else take(decision.probs),
                mode=decision.mode,
                extras=extras,
            )
        with torch.no_grad():
            delta = bank.merged_delta(shared)
            assert delta.shape == (D_OUT, D_IN)
            torch.testing.assert_close(x @ delta.T, bank(x, shared), atol=1e-5, rtol=1e-4)
