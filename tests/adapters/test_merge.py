"""Merging instance routing and plain LoRA into the weights; exact unmerge."""

from __future__ import annotations

import pytest
import torch

from octavius.adapters import (
    RoutingDecision,
    inject_adapters,
    merge_adapters,
    unmerge_adapters,
    use_routing_context,
)
from tests.adapters.adapter_testing import batch, context_for, randomise_lora_b, tiny_causal_lm


def _logits(model, data, ctx=None):
    if ctx is None:
        return model(input_ids=data["ids"], attention_mask=data["attention_mask"]).logits
    with use_routing_context(ctx):
        return model(input_ids=data["ids"], attention_mask=data["attention_mask"]).logits


def _shared_question(data):
    # Every sample has the same question tokens, so the instance gate picks one routing.
    data = dict(data)
    data["ids"] = data["ids"][:1].repeat(2, 1)
    data["attention_mask"] = torch.ones_like(data["attention_mask"])
    data["question_mask"] = data["question_mask"][:1].repeat(2, 1)
    return data


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@torch.no_grad()
def test_plain_lora_merged_equals_unmerged_and_unmerge_restores_bit_exact(arch):
    model = tiny_causal_lm(arch).eval()
    inject_adapters(
        model,
        dict(targets=r".*(q_proj|v_proj|c_attn)", experts=dict(type="LoRAExperts", rank=4)),
    )
    randomise_lora_b(model, std=0.2)
    data = batch()
    before = {n: p.clone() for n, p in model.named_parameters()}
    unmerged = _logits(model, data)
    merged_names = merge_adapters(model)
    assert merged_names
    torch.testing.assert_close(_logits(model, data), unmerged, atol=1e-5, rtol=1e-5)
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert unmerge_adapters(model) == merged_names
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    torch.testing.assert_close(_logits(model, data), unmerged)


@torch.no_grad()
def test_instance_routing_merged_equals_unmerged():
    model = tiny_causal_lm("qwen2").eval()
    inject_adapters(model, dict(preset="octavius", experts=dict(rank=4)))
    randomise_lora_b(model, std=0.2)
    data = _shared_question(batch())
    ctx = context_for(model, data)
    unmerged = _logits(model, data, ctx)
    weights = {n: p.clone() for n, p in model.named_parameters()}
    merge_adapters(model, context_for(model, data))
    torch.testing.assert_close(_logits(model, data), unmerged, atol=1e-5, rtol=1e-5)
    unmerge_adapters(model)
    assert all(torch.equal(p, weights[n]) for n, p in model.named_parameters())


@torch.no_grad()
def test_merge_with_an_explicit_decision_and_inexact_unmerge():
    model = tiny_causal_lm("mistral").eval()
    inject_adapters(model, dict(preset="octavius", experts=dict(rank=4)))
    randomise_lora_b(model, std=0.2)
    decision = RoutingDecision(
        level="instance",
        indices=torch.tensor([[3, 1], [3, 1]]),
        weights=torch.tensor([[0.6, 0.4], [0.6, 0.4]]),
    )
    reference = {}
    for name, module in model.named_modules():
        if hasattr(module, "experts"):
            x = torch.randn(2, 4, module.in_features)
            reference[name] = (x, module.base_layer(x) + module.experts(x, decision))
    weights = {n: p.clone() for n, p in model.named_parameters()}
    merge_adapters(model, decision, exact=False)
    for name, (x, expected) in reference.items():
        torch.testing.assert_close(model.get_submodule(name)(x), expected, atol=1e-5, rtol=1e-5)
    unmerge_adapters(model)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p, weights[n], atol=1e-6, rtol=0)


def test_merge_refuses_what_cannot_be_merged():
    model = tiny_causal_lm("llama")
    inject_adapters(model, dict(preset="llava_mole", experts=dict(rank=4)))
    with pytest.raises(ValueError, match="needs a routing decision"):
        merge_adapters(model)
    token = RoutingDecision(
        level="token", indices=torch.zeros(1, 2, 1, dtype=torch.long), weights=torch.ones(1, 2, 1)
    )
    with pytest.raises(ValueError, match="instance-level"):
        merge_adapters(model, token)
    model = tiny_causal_lm("llama")
    inject_adapters(model, dict(preset="octavius", experts=dict(rank=4)))
    per_sample = RoutingDecision(
        level="instance", indices=torch.tensor([[0, 1], [2, 3]]), weights=torch.full((2, 2), 0.5)
    )
    weights = {n: p.clone() for n, p in model.named_parameters()}
    with pytest.raises(ValueError, match="shared by the whole batch"):
        merge_adapters(model, per_sample)
    assert all(torch.equal(p, weights[n]) for n, p in model.named_parameters())
