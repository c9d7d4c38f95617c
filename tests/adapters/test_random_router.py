"""RandomRouter (MixLoRA Table 2 baseline) draws per layer and per A/B, as the official release."""

from __future__ import annotations

import torch

from octavius.adapters import RoutingContext, inject_adapters, use_routing_context
from octavius.adapters.builders import build_router
from tests.adapters.adapter_testing import batch, tiny_causal_lm

E, R = 8, 2


def random_model(seed: int = 0) -> torch.nn.Module:
    model = tiny_causal_lm("llama")
    rule = dict(
        targets=r".*layers\.\d+\..+",
        experts=dict(type="LoRAFactorPool", num_factors=E, rank=R),
        router=dict(type="RandomRouter", top_k=R, seed=seed),
    )
    inject_adapters(model, rule)
    return model


def decisions(model: torch.nn.Module, b: int = 16) -> dict:
    data = batch(b=b, n=5)
    ctx = RoutingContext(attention_mask=data["attention_mask"])
    with use_routing_context(ctx), torch.no_grad():
        model(input_ids=data["ids"], attention_mask=data["attention_mask"])
    return ctx.decisions


def test_every_layer_and_each_of_a_and_b_draws_independently():
    drawn = decisions(random_model().eval())
    assert len(drawn) == 2 * 7
    a_draws = [d.indices for d in drawn.values()]
    assert all(not torch.equal(a_draws[0], other) for other in a_draws[1:])
    for layer, decision in drawn.items():
        assert decision.factors is not None, layer
        assert not torch.equal(decision.indices, decision.factors.b_indices), layer
        assert (decision.indices.sort(-1).values.diff(dim=-1) > 0).all()  # k distinct per sample


def test_draws_are_uniform_over_the_pool():
    router = build_router({"type": "RandomRouter", "top_k": R}, in_features=4, num_experts=E)
    router.bind_name("model.layers.0.mlp.up_proj")
    router.train()
    x = torch.zeros(4000, 1, 4)
    counts = torch.bincount(router(x, None).indices.flatten(), minlength=E).float()
    expected = 4000 * R / E
    assert ((counts - expected).abs() < 5 * expected**0.5).all(), counts


def test_eval_is_deterministic_training_advances_and_the_seed_matters():
    model = random_model().eval()
    first, again = decisions(model), decisions(model)
    for layer in first:
        assert torch.equal(first[layer].indices, again[layer].indices)
        assert torch.equal(first[layer].factors.b_indices, again[layer].factors.b_indices)
    rebuilt = decisions(random_model().eval())
    assert all(torch.equal(first[k].indices, rebuilt[k].indices) for k in first)
    other_seed = decisions(random_model(seed=1).eval())
    assert not all(torch.equal(first[k].indices, other_seed[k].indices) for k in first)
    model.train()
    step1, step2 = decisions(model), decisions(model)
    assert not all(torch.equal(step1[k].indices, step2[k].indices) for k in step1)


def test_banks_without_factor_selection_get_a_single_choice():
    model = tiny_causal_lm("llama").eval()
    rule = dict(
        targets=r".*self_attn\.q_proj",
        experts=dict(type="LoRAExperts", num_experts=4, rank=2),
        router=dict(type="RandomRouter", top_k=2),
    )
    inject_adapters(model, rule)
    layer = model.model.layers[0].self_attn.q_proj
    assert layer.router.routing_name == "model.layers.0.self_attn.q_proj"
    decision = layer.router.condition(layer.router(torch.zeros(3, 2, 32), None), layer.experts)
    assert decision.factors is None and decision.indices.shape == (3, 2)
