"""InstanceRouter, TokenRouter and RandomRouter: routing maths, sharing, caching, signals."""

from __future__ import annotations

import pytest
import torch

from octavius.adapters import (
    MissingRoutingSignalError,
    RoutingContext,
    RoutingRecorder,
    inject_adapters,
    use_routing_context,
)
from octavius.plugins.routers.instance import InstanceRouter
from octavius.plugins.routers.random import RandomRouter
from octavius.plugins.routers.token import TokenRouter
from tests.adapters.adapter_testing import batch, context_for, tiny_causal_lm


def _ctx(b: int = 3, n: int = 6, d: int = 8) -> RoutingContext:
    question = torch.zeros(b, n, dtype=torch.bool)
    question[:, 1:4] = True
    attention = torch.ones(b, n, dtype=torch.long)
    attention[0, :2] = 0  # token 1 of sample 0 is padding inside the question span
    return RoutingContext(
        inputs_embeds=torch.randn(b, n, d), question_mask=question, attention_mask=attention
    )


def test_instance_router_pools_question_tokens_without_padding():
    ctx = _ctx()
    router = InstanceRouter(8, 4, top_k=2)
    z = router.question_embedding(ctx)
    torch.testing.assert_close(z[0], ctx.inputs_embeds[0, 2:4].mean(0))
    torch.testing.assert_close(z[1], ctx.inputs_embeds[1, 1:4].mean(0))
    decision = router(torch.randn(3, 6, 5), ctx)
    probs = router.gate(z).softmax(-1)
    torch.testing.assert_close(decision.probs, probs)
    top, idx = probs.topk(2, dim=-1)
    torch.testing.assert_close(decision.indices, idx)
    torch.testing.assert_close(decision.weights, top / top.sum(-1, keepdim=True))
    assert decision.level == "instance" and decision.mode == "sparse"


def test_instance_router_dense_and_individual_modes():
    ctx = _ctx()
    dense = InstanceRouter(8, 4, mode="dense")(torch.randn(3, 6, 5), ctx)
    assert dense.indices.tolist() == [[0, 1, 2, 3]] * 3
    torch.testing.assert_close(dense.weights, dense.probs)

    ctx.task_ids = torch.tensor([2, 0, 1])
    individual = InstanceRouter(8, 4, mode="individual", task_to_expert=[3, 1, 0])
    decision = individual(torch.randn(3, 6, 5), ctx)
    assert decision.indices.tolist() == [[0], [3], [1]]
    assert decision.weights.tolist() == [[1.0], [1.0], [1.0]]
    ctx.task_ids = torch.tensor([5, 0, 1])
    with pytest.raises(ValueError, match="outside the task_to_expert table"):
        individual(torch.randn(3, 6, 5), ctx)
    with pytest.raises(ValueError, match="outside"):
        InstanceRouter(8, 4, mode="individual", task_to_expert=[7])


def test_missing_routing_signal_raises_an_error_naming_it():
    router = InstanceRouter(8, 4)
    ctx = _ctx()
    ctx.question_mask = None
    with pytest.raises(MissingRoutingSignalError, match="question_mask"):
        router(torch.randn(3, 6, 5), ctx)
    with pytest.raises(MissingRoutingSignalError, match="inputs_embeds"):
        router(torch.randn(3, 6, 5), None)
    individual = InstanceRouter(8, 4, mode="individual")
    with pytest.raises(MissingRoutingSignalError, match="task_ids"):
        individual(torch.randn(3, 6, 5), _ctx())


def test_missing_signal_error_surfaces_through_an_adapted_model():
    model = tiny_causal_lm("llama")
    inject_adapters(model, dict(preset="octavius", experts=dict(rank=4)))
    data = batch()
    ctx = context_for(model, data)
    ctx.question_mask = None
    with use_routing_context(ctx), pytest.raises(MissingRoutingSignalError, match="question_mask"):
        model(input_ids=data["ids"], attention_mask=data["attention_mask"])


def test_global_instance_gate_runs_once_and_is_reused_at_every_decoding_step():
    model = tiny_causal_lm("llama")
    inject_adapters(model, dict(preset="octavius", experts=dict(rank=4)))
    calls = []
    model.adapter_routers["attention"].register_forward_hook(lambda *a: calls.append(1))
    data = batch()
    ctx = context_for(model, data, recorder=RoutingRecorder())
    model.eval()
    with use_routing_context(ctx):
        model.generate(
            input_ids=data["ids"],
            attention_mask=data["attention_mask"],
            max_new_tokens=3,
            do_sample=False,
            pad_token_id=0,
        )
    assert len(calls) == 1
    records = ctx.recorder.records
    assert len(records) == 8 * 3  # 8 adapted linears, 3 forward calls
    assert all(torch.equal(r.indices, records[0].indices) for r in records)


def test_per_layer_instance_gates_share_the_pooled_question():
    model = tiny_causal_lm("llama")
    rule = dict(preset="octavius", experts=dict(rank=4))
    rules = dict(rules=[{**r, "sharing": "module"} for r in _preset(rule)])
    report = inject_adapters(model, rules)
    assert len(report.routers) == 8
    data = batch()
    ctx = context_for(model, data)
    with use_routing_context(ctx):
        model(input_ids=data["ids"], attention_mask=data["attention_mask"])
    assert len(ctx.decisions) == 8 and len(ctx.features) == 1


def _preset(cfg):
    from octavius.adapters import parse_adapter_config

    rules, _ = parse_adapter_config(cfg)
    return [
        dict(name=r.name, targets=r.targets, experts=r.experts, router=r.router, sharing=r.sharing)
        for r in rules
    ]


def test_token_router_is_shared_by_the_mlp_block_and_routes_on_the_block_input():
    model = tiny_causal_lm("llama")
    inject_adapters(model, dict(preset="llava_mole", experts=dict(rank=4)))
    mlp = model.model.layers[0].mlp
    router = mlp.adapter_router_mlp
    seen = []
    router.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    block_inputs = []
    mlp.register_forward_pre_hook(lambda m, args: block_inputs.append(args[0]))
    data = batch()
    recorder = RoutingRecorder(layers=r"layers\.0\.mlp")
    with use_routing_context(context_for(model, data, recorder=recorder)):
        model(input_ids=data["ids"], attention_mask=data["attention_mask"])
    assert len(seen) == 1 and seen[0] is block_inputs[0]
    names = [r.layer for r in recorder.records]
    assert names == [f"model.layers.0.mlp.{p}" for p in ("gate_proj", "up_proj", "down_proj")]
    assert all(torch.equal(r.indices, recorder.records[0].indices) for r in recorder.records)
    assert recorder.records[0].indices.shape == (2, 9, 1)


def test_token_router_capacity_factor_drops_overflow():
    router = TokenRouter(4, 2, top_k=1, capacity_factor=0.5)
    with torch.no_grad():
        router.gate.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 0]]))
    x = torch.zeros(1, 8, 4)
    x[0, :, 0] = 1.0  # every token prefers expert 0; capacity = ceil(0.5·8/2) = 2
    decision = router(x, None)
    assert decision.indices.flatten().tolist() == [0, 0, -1, -1, -1, -1, -1, -1]
    assert decision.weights.flatten().tolist() == [1.0, 1.0] + [0.0] * 6


def test_token_router_weights():
    x = torch.randn(2, 5, 6)
    router = TokenRouter(6, 4, top_k=2)
    decision = router(x, None)
    torch.testing.assert_close(decision.weights.sum(-1), torch.ones(2, 5))
    raw = TokenRouter(6, 4, top_k=1, renormalize=False)
    decision = raw(x, None)
    torch.testing.assert_close(decision.weights, decision.probs.max(-1, keepdim=True).values)
    router.eval()
    assert router(x, None).aux_losses == {}


def test_random_router_is_seeded_uniform_and_deterministic_in_eval():
    x = torch.randn(4000, 1, 3)
    router = RandomRouter(3, 4, top_k=2, seed=7)
    first, second = router(x, None), router(x, None)
    assert not torch.equal(first.indices, second.indices)  # training draws advance
    assert (first.indices[:, 0] != first.indices[:, 1]).all()
    counts = torch.bincount(first.indices.flatten(), minlength=4).float() / 8000
    torch.testing.assert_close(counts, torch.full((4,), 0.25), atol=0.02, rtol=0)
    torch.testing.assert_close(first.weights, torch.full((4000, 2), 0.5))
    again = RandomRouter(3, 4, top_k=2, seed=7)
    assert torch.equal(again(x, None).indices, first.indices)
    router.eval()
    assert torch.equal(router(x, None).indices, router(x, None).indices)


def test_recorder_sums_routing_weights_per_layer_and_task():
    model = tiny_causal_lm("llama")
    inject_adapters(model, dict(preset="octavius", experts=dict(rank=4)))
    data = batch()
    recorder = RoutingRecorder(layers=r"layers\.1\.self_attn\.q_proj")
    ctx = context_for(model, data, recorder=recorder)
    with use_routing_context(ctx):
        model(input_ids=data["ids"], attention_mask=data["attention_mask"])
    (record,) = recorder.records
    assert record.task_names == ["task0", "task1"]
    usage = recorder.expert_usage(num_experts=4)["model.layers.1.self_attn.q_proj"]
    decision = ctx.decisions["adapter_routers.attention"]
    for sample, task in enumerate(["task0", "task1"]):
        expected = torch.zeros(4).index_add_(
            0, decision.indices[sample], decision.weights[sample].detach()
        )
        torch.testing.assert_close(usage[task], expected)


def test_instance_gate_is_initialised_as_the_official_top2_gating():
    # LAMM src/model/Octavius/moe/layer.py l. 29: w_gating = nn.Parameter(torch.randn(dim, e)).
    torch.manual_seed(0)
    official = InstanceRouter(256, 8)
    assert official.init == "normal"
    assert abs(official.gate.weight.std().item() - 1.0) < 0.05
    assert abs(official.gate.weight.mean().item()) < 0.05
    linear = InstanceRouter(256, 8, init="linear")  # nn.Linear's default: U(±1/√d)
    assert linear.gate.weight.abs().max() <= 1 / 16
    with pytest.raises(ValueError, match="init must be one of"):
        InstanceRouter(256, 8, init="xavier")
