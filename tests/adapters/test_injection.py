"""Injection on LLaMA, Qwen2, Mistral and GPT-2: forward/backward, freezing, reports, rules."""

from __future__ import annotations

import pytest
import torch
from transformers.pytorch_utils import Conv1D

from octavius.adapters import AdaptedLinear, inject_adapters, use_routing_context
from tests.adapters.adapter_testing import (
    ARCHITECTURES,
    batch,
    context_for,
    randomise_lora_b,
    tiny_causal_lm,
)

PRESETS = {
    "octavius": dict(preset="octavius", experts=dict(rank=4)),
    "llava_mole": dict(preset="llava_mole", experts=dict(rank=4), attention=dict(rank=4)),
    "mixlora": dict(preset="mixlora", experts=dict(num_factors=6, rank=2)),
}
ADAPTED_PER_LAYER = {
    ("octavius", "gpt2"): 2,
    ("octavius", "other"): 4,
    ("llava_mole", "gpt2"): 4,
    ("llava_mole", "other"): 7,
    ("mixlora", "gpt2"): 4,
    ("mixlora", "other"): 7,
}


def _step(model, data):
    ctx = context_for(model, data)
    with use_routing_context(ctx):
        out = model(
            input_ids=data["ids"], attention_mask=data["attention_mask"], labels=data["ids"]
        )
    loss = out.loss + sum(ctx.reduced_aux_losses().values(), torch.zeros(()))
    loss.backward()
    return out, ctx


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_presets_run_forward_and_backward_on_every_architecture(arch, preset):
    torch.manual_seed(0)
    model = tiny_causal_lm(arch)
    report = inject_adapters(model, PRESETS[preset])
    per_layer = ADAPTED_PER_LAYER[(preset, "gpt2" if arch == "gpt2" else "other")]
    assert len(report.adapted) == 2 * per_layer
    randomise_lora_b(model)
    out, ctx = _step(model, batch())
    assert torch.isfinite(out.loss)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(p.grad is not None for _, p in trainable)
    assert all(".experts." in n or "router" in n for n, _ in trainable)
    if preset == "llava_mole":
        assert set(ctx.reduced_aux_losses()) == {"token_balance_loss"}
    if arch == "gpt2":
        assert any(
            isinstance(m.base_layer, Conv1D)
            for m in model.modules()
            if isinstance(m, AdaptedLinear)
        )


def test_gpt2_conv1d_single_expert_equals_the_transposed_linear():
    model = tiny_causal_lm("gpt2")
    inject_adapters(model, dict(targets=["mlp.c_fc"], experts=dict(type="LoRAExperts", rank=4)))
    layer = model.transformer.h[0].mlp.c_fc
    randomise_lora_b(model)
    x = torch.randn(2, 3, 32)
    base = x @ layer.base_layer.weight + layer.base_layer.bias
    delta = x @ layer.experts.lora_A[0].T @ layer.experts.lora_B[0] * layer.experts.scale
    torch.testing.assert_close(layer(x), base + delta)


def test_base_weights_unchanged_after_an_optimizer_step():
    model = tiny_causal_lm("llama")
    inject_adapters(model, dict(preset="llava_mole", experts=dict(rank=4)))
    randomise_lora_b(model)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    adapters = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    _step(model, batch())
    optimizer.step()
    after = dict(model.named_parameters())
    assert all(torch.equal(after[n], v) for n, v in frozen.items())
    assert any(not torch.equal(after[n], v) for n, v in adapters.items())
    assert any("lm_head" in n for n in frozen)


def test_report_counts_and_trainable_patterns():
    model = tiny_causal_lm("qwen2")
    total_before = sum(p.numel() for p in model.parameters())
    report = inject_adapters(
        model,
        dict(preset="octavius", experts=dict(num_experts=3, rank=4), trainable=[r"^lm_head\."]),
    )
    lora = sum(
        3 * 4 * (m.in_features + m.out_features)
        for m in model.modules()
        if isinstance(m, AdaptedLinear)
    )
    gate = 32 * 3
    lm_head = model.lm_head.weight.numel()
    assert report.trainable_params == lora + gate + lm_head
    assert report.total_params == total_before + lora + gate
    assert report.trainable_percentage == pytest.approx(
        100 * report.trainable_params / report.total_params
    )
    assert report.routers == ["adapter_routers.attention"]
    text = str(report)
    assert "attention" in text and f"{report.trainable_params:,}" in text


def test_shared_routers_are_registered_once():
    model = tiny_causal_lm("mistral")
    inject_adapters(model, dict(preset="llava_mole", experts=dict(rank=4)))
    keys = [k for k in model.state_dict() if "router" in k]
    assert keys == [f"model.layers.{i}.mlp.adapter_router_mlp.gate.weight" for i in range(2)]


def test_rule_errors_are_clear():
    model = tiny_causal_lm("llama")
    with pytest.raises(ValueError, match="matches no linear layer"):
        inject_adapters(model, dict(targets=["nonexistent"], experts=dict(type="LoRAExperts")))
    with pytest.raises(KeyError, match="Unknown adapter preset"):
        inject_adapters(model, "octavio")
    with pytest.raises(KeyError, match="unknown keys"):
        inject_adapters(
            model, dict(targets=["q_proj"], experts=dict(type="LoRAExperts"), sharng="block")
        )
    with pytest.raises(ValueError, match="sharing"):
        inject_adapters(
            model,
            dict(
                targets=["q_proj"],
                experts=dict(type="LoRAExperts"),
                router=dict(type="TokenRouter"),
                sharing="everywhere",
            ),
        )
    with pytest.raises(ValueError, match="cannot be shared globally"):
        inject_adapters(
            model,
            dict(
                targets=["q_proj"],
                experts=dict(type="LoRAExperts", num_experts=2),
                router=dict(type="TokenRouter"),
                sharing="global",
            ),
        )
    with pytest.raises(ValueError, match="needs a router"):
        inject_adapters(
            model, dict(targets=["q_proj"], experts=dict(type="LoRAExperts", num_experts=2))
        )
    inject_adapters(model, dict(targets=["q_proj"], experts=dict(type="LoRAExperts")))
    with pytest.raises(ValueError, match="already adapted"):
        inject_adapters(model, dict(targets=["q_proj"], experts=dict(type="LoRAExperts")))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_activation_checkpointing_gives_the_same_gradients(preset):
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = tiny_causal_lm("llama")
        inject_adapters(model, PRESETS[preset])
        randomise_lora_b(model)
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        if checkpointing:
            model.gradient_checkpointing_enable()
        model.train()
        _, ctx = _step(model, batch())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad]))
        if preset == "llava_mole":
            assert len(ctx.aux_losses["token_balance_loss"]) == 2  # one per layer, not re-added
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-5)


def test_parts_frozen_by_a_component_stay_frozen():
    from octavius.adapters import BaseRouter
    from octavius.plugins.routers.instance import InstanceRouter
    from octavius.registry import ROUTERS

    class FrozenPartRouter(InstanceRouter):
        def __init__(self, in_features: int, num_experts: int, **kwargs) -> None:
            super().__init__(in_features, num_experts, **kwargs)
            self.encoder = torch.nn.Linear(in_features, in_features)
            self.encoder.requires_grad_(False)

    assert issubclass(FrozenPartRouter, BaseRouter)
    ROUTERS.register_module(module=FrozenPartRouter)
    try:
        model = tiny_causal_lm("llama")
        inject_adapters(model, dict(preset="octavius", router=dict(type="FrozenPartRouter")))
        router = model.adapter_routers["attention"]
        assert router.gate.weight.requires_grad
        assert not any(p.requires_grad for p in router.encoder.parameters())
    finally:
        ROUTERS.module_dict.pop("FrozenPartRouter")


def test_a_context_reused_for_another_batch_fails_clearly():
    model = tiny_causal_lm("llama")
    inject_adapters(model, dict(preset="octavius", experts=dict(rank=4)))
    data = batch()
    ctx = context_for(model, data)
    with use_routing_context(ctx):
        model(input_ids=data["ids"], attention_mask=data["attention_mask"])
        other = batch(b=3)
        with pytest.raises(ValueError, match="reused for another batch"):
            model(input_ids=other["ids"], attention_mask=other["attention_mask"])
