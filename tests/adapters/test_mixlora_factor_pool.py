"""LoRAFactorPool (MixLoRA eq. 4, 9) against dense references that build A, B and ΔW explicitly."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch import nn

from octavius.adapters.builders import build_experts
from octavius.adapters.decision import FactorSelection, RoutingDecision
from octavius.adapters.layer import AdaptedLinear

D_IN, D_OUT, E, R = 12, 10, 6, 3


def make_pool(**kwargs) -> nn.Module:
    cfg = {"type": "LoRAFactorPool", "num_factors": E, "rank": R, **kwargs}
    pool = build_experts(cfg, in_features=D_IN, out_features=D_OUT)
    with torch.no_grad():
        pool.factors_b.normal_()  # a trained pool: B nonzero, so the delta is not trivially zero
    return pool


def decision(idx_a, w_a, idx_b=None, w_b=None) -> RoutingDecision:
    factors = None if idx_b is None else FactorSelection.chosen(idx_b, w_b)
    return RoutingDecision(level="instance", indices=idx_a, weights=w_a, factors=factors)


def random_choice(b: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    idx = torch.stack([torch.randperm(E, generator=generator)[:R] for _ in range(b)])
    w = torch.rand(b, R, generator=generator)
    return idx, w / w.sum(-1, keepdim=True)


def dense_reference(pool, x, idx_a, idx_b, coef=None) -> torch.Tensor:
    """Eq. 9 literally: A = [a_k]ᵀ (r × d_in), B = [b_k] (d_out × r), y = scale · B A x."""
    out = []
    for s in range(x.shape[0]):
        a = torch.stack([pool.factors_a[k] for k in idx_a[s].tolist()])  # (r, d_in)
        b = torch.stack([pool.factors_b[k] for k in idx_b[s].tolist()], dim=1)  # (d_out, r)
        c = torch.ones(R) if coef is None else coef[s]
        delta_w = pool.scale * b @ torch.diag(c) @ a  # (d_out, d_in)
        out.append(x[s] @ delta_w.T)
    return torch.stack(out)


def test_pool_equals_dense_reference_with_separate_b_choice():
    g = torch.Generator().manual_seed(1)
    pool = make_pool()
    x = torch.randn(4, 7, D_IN)
    idx_a, w_a = random_choice(4, g)
    idx_b, w_b = random_choice(4, g)
    got = pool(x, decision(idx_a, w_a, idx_b, w_b))
    # The straight-through forward is eq. 9 exactly: the routing weights do not scale anything.
    torch.testing.assert_close(got, dense_reference(pool, x, idx_a, idx_b), atol=1e-5, rtol=1e-5)


def test_pool_pairs_a_e_with_b_e_without_a_b_choice():
    g = torch.Generator().manual_seed(2)
    pool = make_pool()
    x = torch.randn(3, 5, D_IN)
    idx, w = random_choice(3, g)
    got = pool(x, decision(idx, w))
    torch.testing.assert_close(got, dense_reference(pool, x, idx, idx), atol=1e-5, rtol=1e-5)


def test_weighted_estimator_scales_pairs_by_r_w_a_times_r_w_b():
    g = torch.Generator().manual_seed(3)
    pool = make_pool(estimator="weighted")
    x = torch.randn(2, 4, D_IN)
    idx_a, w_a = random_choice(2, g)
    idx_b, w_b = random_choice(2, g)
    want = dense_reference(pool, x, idx_a, idx_b, coef=(R * w_a) * (R * w_b))
    torch.testing.assert_close(
        pool(x, decision(idx_a, w_a, idx_b, w_b)), want, atol=1e-5, rtol=1e-5
    )


def test_straight_through_gradient_is_the_pair_scale_sensitivity():
    """∂L/∂w^A_i must equal ∂L/∂c_i at c = 1, where ΔW = scale · Σ_i c_i b_i a_iᵀ."""
    g = torch.Generator().manual_seed(4)
    pool = make_pool()
    x = torch.randn(2, 5, D_IN)
    target = torch.randn(2, 5, D_OUT)
    idx_a, w_a = random_choice(2, g)
    idx_b, w_b = random_choice(2, g)
    w_a.requires_grad_(True)
    w_b.requires_grad_(True)
    ((pool(x, decision(idx_a, w_a, idx_b, w_b)) - target) ** 2).sum().backward()
    coef = torch.ones(2, R, requires_grad=True)
    ((dense_reference(pool, x, idx_a, idx_b, coef) - target) ** 2).sum().backward()
    torch.testing.assert_close(w_a.grad, coef.grad, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(w_b.grad, coef.grad, atol=1e-4, rtol=1e-4)
    assert coef.grad.abs().sum() > 0


def test_dense_mode_weights_every_pair():
    pool = make_pool()
    x = torch.randn(2, 3, D_IN)
    probs = torch.softmax(torch.randn(2, E), -1)
    dense = RoutingDecision(
        level="instance", indices=torch.arange(E).expand(2, E), weights=probs, mode="dense"
    )
    want = torch.stack(
        [
            x[s] @ (pool.scale * pool.factors_b.T @ torch.diag(probs[s]) @ pool.factors_a).T
            for s in range(2)
        ]
    )
    torch.testing.assert_close(pool(x, dense), want, atol=1e-5, rtol=1e-5)


def test_delta_weight_matches_dense_reference():
    pool = make_pool()
    idx_a = torch.tensor([4, 0, 2])
    idx_b = torch.tensor([1, 5, 3])
    w = torch.tensor([0.5, 0.3, 0.2])
    delta = pool.delta_weight(idx_a, w, idx_b, w)
    x = torch.randn(1, 6, D_IN)
    want = dense_reference(pool, x, idx_a[None], idx_b[None])
    torch.testing.assert_close(x @ delta.T, want, atol=1e-5, rtol=1e-5)
    shared = decision(idx_a.expand(3, R), w.expand(3, R), idx_b.expand(3, R), w.expand(3, R))
    torch.testing.assert_close(pool.merged_delta(shared), delta)


def test_without_router_equals_peft_lora_when_pool_size_is_rank():
    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(D_IN, D_OUT))
    peft_model = get_peft_model(base, LoraConfig(r=R, lora_alpha=2 * R, target_modules=["0"]))
    lora = peft_model.base_model.model[0]
    with torch.no_grad():
        lora.lora_B["default"].weight.normal_()
    pool = build_experts(
        {"type": "LoRAFactorPool", "num_factors": R, "rank": R, "alpha": 2.0 * R},
        in_features=D_IN,
        out_features=D_OUT,
    )
    with torch.no_grad():
        pool.factors_a.copy_(lora.lora_A["default"].weight)
        pool.factors_b.copy_(lora.lora_B["default"].weight.T)
    layer = AdaptedLinear(lora.base_layer, pool, router=None)
    x = torch.randn(2, 5, D_IN)
    torch.testing.assert_close(layer(x), peft_model(x), atol=1e-5, rtol=1e-5)


def test_lora_initialisation_starts_at_zero_delta():
    pool = build_experts({"type": "LoRAFactorPool"}, in_features=64, out_features=32)
    assert (pool.num_factors, pool.rank, pool.scale) == (16, 4, 2 * 16 / 4)  # α = 2E (app. B)
    assert torch.count_nonzero(pool.factors_b) == 0
    bound = 1 / 64**0.5
    assert pool.factors_a.abs().max() <= bound and pool.factors_a.std() > bound / 4
    idx = torch.arange(4)[None]
    assert (
        torch.count_nonzero(pool(torch.randn(1, 3, 64), decision(idx, torch.full((1, 4), 0.25))))
        == 0
    )


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (
            RoutingDecision("token", torch.zeros(1, 2, R, dtype=torch.long), torch.ones(1, 2, R)),
            "instance-level",
        ),
        (
            RoutingDecision("instance", torch.zeros(1, 2, dtype=torch.long), torch.ones(1, 2)),
            "set the router's rank",
        ),
        (
            RoutingDecision(
                "instance",
                torch.zeros(1, R, dtype=torch.long),
                torch.ones(1, R),
                factors=FactorSelection(pending=True, b_ifs_probs=torch.ones(1, E) / E),
            ),
            "condition",
        ),
        (None, "needs a router"),
    ],
)
def test_bad_decisions_raise_clear_errors(bad, match):
    pool = make_pool()
    with pytest.raises((ValueError, RuntimeError), match=match):
        pool(torch.randn(1, 2, D_IN), bad)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rank": 0}, "rank"),
        ({"num_factors": 2, "rank": 3}, "num_factors"),
        ({"estimator": "gumbel"}, "estimator"),
    ],
)
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_experts({"type": "LoRAFactorPool", **kwargs}, in_features=4, out_features=4)


def test_gradients_equal_the_dense_reference():
    g = torch.Generator().manual_seed(5)
    pool = make_pool().double()
    x = torch.randn(3, 4, D_IN, dtype=torch.float64, requires_grad=True)
    idx_a, w_a = random_choice(3, g)
    idx_b, w_b = random_choice(3, g)
    dec = decision(idx_a, w_a.double(), idx_b, w_b.double())
    assert torch.autograd.gradcheck(lambda inp: pool(inp, dec), (x,))
    target = torch.randn(3, 4, D_OUT, dtype=torch.float64)
    grads = []
    for fn in (
        lambda: pool(x, dec),
        lambda: dense_reference(pool, x, idx_a, idx_b, torch.ones(3, R, dtype=torch.float64)),
    ):
        pool.zero_grad()
        x.grad = None
        ((fn() - target) ** 2).sum().backward()
        grads.append((x.grad.clone(), pool.factors_a.grad.clone(), pool.factors_b.grad.clone()))
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want)


def test_generation_gathers_the_factors_once_per_call(monkeypatch):
    """Decoding reuses the prompt's factor choice: A and B are assembled once per generate call."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from octavius.adapters import inject_adapters
    from octavius.adapters.context import RoutingContext, use_routing_context
    from octavius.plugins.experts.lora_factor_pool import LoRAFactorPool

    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        vocab_size=64,
    )
    model = LlamaForCausalLM(config).eval()
    inject_adapters(model, dict(preset="mixlora", experts={"num_factors": 8, "rank": 2}))
    pools = [m for m in model.modules() if isinstance(m, LoRAFactorPool)]
    with torch.no_grad():
        for pool in pools:
            pool.factors_b.normal_(0.0, 0.5)
    ids = torch.randint(0, 64, (2, 6), generator=torch.Generator().manual_seed(3))
    mask = torch.ones_like(ids)
    steps = 5

    def generate() -> torch.Tensor:
        ctx = RoutingContext(attention_mask=mask, question_mask=mask.bool())
        with use_routing_context(ctx):
            return model.generate(
                ids,
                attention_mask=mask,
                max_new_tokens=steps,
                min_new_tokens=steps,
                do_sample=False,
                pad_token_id=0,
            )

    calls: list[LoRAFactorPool] = []
    gather = LoRAFactorPool._gather

    def counted(self, *args):
        calls.append(self)
        return gather(self, *args)

    monkeypatch.setattr(LoRAFactorPool, "_gather", counted)
    once = generate()
    assert len(calls) == len(pools) == 14  # every decoder linear, once for the whole call
    assert set(map(id, calls)) == set(map(id, pools))
    calls.clear()
    # Without the per-decision cache the factors are gathered again at every step.
    monkeypatch.setattr(RoutingDecision, "cached", lambda self, owner, name, compute: compute())
    every_step = generate()
    assert len(calls) == len(pools) * steps
    assert once.shape == (2, 6 + steps)
    assert torch.equal(once, every_step)
