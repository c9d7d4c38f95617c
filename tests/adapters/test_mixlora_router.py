"""ConditionalFactorRouter against a literal transcription of MixLoRA eq. 5–8, and in a layer."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from octavius.adapters import inject_adapters
from octavius.adapters.builders import build_experts, build_router
from octavius.adapters.context import MissingRoutingSignalError, RoutingContext, use_routing_context
from octavius.adapters.layer import AdaptedLinear
from tests.adapters.adapter_testing import batch, randomise_lora_b, tiny_causal_lm

D_IN, D_OUT, E, R = 8, 6, 5, 2


def softmax(values: list[float]) -> list[float]:
    exps = [math.exp(v) for v in values]
    return [v / sum(exps) for v in exps]


def top_r(scores: list[float], r: int) -> list[int]:
    return sorted(range(len(scores)), key=lambda e: -scores[e])[:r]


def paper_routing(router, pool, h, mask, use_cfs=True):
    """MixLoRA eq. 5–8 transcribed with plain loops, one sample at a time, in float64.

    Returns per sample (K_A, renormalised g_A values, K_B, renormalised g_B values).
    """
    w_a = router.ifs_a.weight.double().tolist()  # (E, d_in)
    w_b = router.ifs_b.weight.double().tolist()
    factors = pool.factors_a.double().tolist()  # a_e, e = 1..E
    results = []
    for s in range(h.shape[0]):
        tokens = [h[s, t].double().tolist() for t in range(h.shape[1]) if mask[s, t]]
        avg = [sum(tok[j] for tok in tokens) / len(tokens) for j in range(D_IN)]  # eq. 5
        p_a = softmax([sum(w_a[e][j] * avg[j] for j in range(D_IN)) for e in range(E)])  # eq. 6
        k_a = top_r(p_a, R)
        p_ifs_b = softmax([sum(w_b[e][j] * avg[j] for j in range(D_IN)) for e in range(E)])
        if use_cfs:
            w_ab = router.cfs_weight.double().tolist()  # (r, d_in, E)
            a_rows = [factors[k] for k in k_a]  # A = [a_1 … a_r]ᵀ
            r_cfs = [0.0] * E  # eq. 7: Σ_i softmax(A[i] · W_AB[i])
            for i in range(R):
                mapped = [sum(a_rows[i][j] * w_ab[i][j][e] for j in range(D_IN)) for e in range(E)]
                r_cfs = [acc + p for acc, p in zip(r_cfs, softmax(mapped))]
            p_cfs = softmax(r_cfs)  # eq. 8
            fused = [p_ifs_b[e] + p_cfs[e] for e in range(E)]
        else:
            fused = p_ifs_b
        k_b = top_r(fused, R)
        g_a = [p_a[k] / sum(p_a[j] for j in k_a) for k in k_a]
        g_b = [fused[k] / sum(fused[j] for j in k_b) for k in k_b]
        results.append((k_a, g_a, k_b, g_b))
    return results


def make(use_cfs: bool = True, pool: str = "sequence"):
    """Router and pool; ``pool="sequence"`` averages every real token, as eq. 5 reads literally."""
    router = build_router(
        {"type": "ConditionalFactorRouter", "rank": R, "use_cfs": use_cfs, "pool": pool},
        in_features=D_IN,
        num_experts=E,
    )
    pool = build_experts(
        {"type": "LoRAFactorPool", "num_factors": E, "rank": R},
        in_features=D_IN,
        out_features=D_OUT,
    )
    with torch.no_grad():
        # Larger than at initialisation, so that CFS really changes B's choice.
        router.cfs_weight.normal_(std=3.0) if use_cfs else None
        router.ifs_b.weight.mul_(3.0)
        pool.factors_a.normal_()
        pool.factors_b.normal_()
    return router, pool


def route(router, pool, h, ctx):
    return router.condition(router(h, ctx), pool)


@pytest.mark.parametrize("use_cfs", [True, False])
def test_router_equals_literal_transcription_of_eq_5_to_8(use_cfs):
    router, pool = make(use_cfs)
    h = torch.randn(6, 5, D_IN)
    mask = torch.ones(6, 5, dtype=torch.long)
    mask[1, 3:] = 0
    mask[4, 1:] = 0
    got = route(router, pool, h, RoutingContext(attention_mask=mask))
    want = paper_routing(router, pool, h, mask, use_cfs)
    for s, (k_a, g_a, k_b, g_b) in enumerate(want):
        assert got.indices[s].tolist() == k_a
        assert got.factors.b_indices[s].tolist() == k_b
        torch.testing.assert_close(
            got.weights[s].double(), torch.tensor(g_a, dtype=torch.float64), atol=1e-6, rtol=1e-5
        )
        torch.testing.assert_close(
            got.factors.b_weights[s].double(),
            torch.tensor(g_b, dtype=torch.float64),
            atol=1e-6,
            rtol=1e-5,
        )


def test_cfs_changes_the_b_choice_and_off_path_has_no_cfs_router():
    router, pool = make(use_cfs=True)
    h = torch.randn(32, 3, D_IN)
    with_cfs = route(router, pool, h, None)
    without = torch.topk(with_cfs.factors.b_probs * 2 - with_cfs.factors.b_cfs_probs, R).indices
    assert not torch.equal(with_cfs.factors.b_indices, without)  # eq. 8 fusion matters here
    off, _ = make(use_cfs=False)
    assert off.cfs_weight is None
    assert not any("cfs" in name for name, _ in off.named_parameters())
    decision = off(h, None)
    assert not decision.pending
    assert off.condition(decision, pool) is decision


def test_padding_is_excluded_and_no_mask_averages_every_token():
    router, pool = make()
    h = torch.randn(2, 4, D_IN)
    padded = torch.cat([h, 1e3 * torch.randn(2, 3, D_IN)], dim=1)
    mask = torch.tensor([[1] * 4 + [0] * 3] * 2)
    a = route(router, pool, padded, RoutingContext(attention_mask=mask))
    b = route(router, pool, h, None)  # no context: Avg over all (unpadded) tokens
    assert torch.equal(a.indices, b.indices)
    assert torch.equal(a.factors.b_indices, b.factors.b_indices)
    torch.testing.assert_close(a.probs, b.probs)
    with pytest.raises(ValueError, match="attention_mask"):
        router(h, RoutingContext(attention_mask=mask))  # mask covers 7 tokens, h has 4


def test_condition_checks_the_expert_bank():
    router, _ = make()
    experts = build_experts(
        {"type": "LoRAExperts", "num_experts": E, "rank": 2}, in_features=D_IN, out_features=D_OUT
    )
    decision = router(torch.randn(1, 3, D_IN), None)
    with pytest.raises(TypeError, match="factor pool"):
        router.condition(decision, experts)
    other = build_experts(
        {"type": "LoRAFactorPool", "num_factors": E, "rank": 3},
        in_features=D_IN,
        out_features=D_OUT,
    )
    with pytest.raises(ValueError, match="does not match"):
        router.condition(decision, other)


def adapted(use_cfs=True, estimator="straight_through", nonzero_b=True):
    router = build_router(
        {"type": "ConditionalFactorRouter", "rank": R, "use_cfs": use_cfs, "pool": "sequence"},
        in_features=D_IN,
        num_experts=E,
    )
    pool = build_experts(
        {"type": "LoRAFactorPool", "num_factors": E, "rank": R, "estimator": estimator},
        in_features=D_IN,
        out_features=D_OUT,
    )
    if nonzero_b:
        with torch.no_grad():
            pool.factors_b.normal_()
    base = nn.Linear(D_IN, D_OUT)
    base.requires_grad_(False)
    return AdaptedLinear(base, pool, router, name="layers.0.q_proj")


def train_step(layer, steps=1):
    before = {n: p.detach().clone() for n, p in layer.named_parameters()}
    opt = torch.optim.SGD([p for p in layer.parameters() if p.requires_grad], lr=0.5)
    x = torch.randn(4, 6, D_IN)
    target = torch.randn(4, 6, D_OUT)
    for _ in range(steps):
        opt.zero_grad()
        with use_routing_context(RoutingContext(attention_mask=torch.ones(4, 6))):
            loss = ((layer(x) - target) ** 2).mean()
        loss.backward()
        opt.step()
    return {n: not torch.equal(before[n], p) for n, p in layer.named_parameters()}


@pytest.mark.parametrize("estimator", ["straight_through", "weighted"])
@pytest.mark.parametrize("use_cfs", [True, False])
def test_router_weights_change_after_one_optimizer_step(use_cfs, estimator):
    changed = train_step(adapted(use_cfs, estimator))
    routers = [n for n in changed if n.startswith("router.")]
    assert sorted(routers) == sorted(
        ["router.ifs_a.weight", "router.ifs_b.weight"] + (["router.cfs_weight"] if use_cfs else [])
    )
    assert all(changed[n] for n in routers), changed
    assert changed["experts.factors_a"] and changed["experts.factors_b"]
    assert not changed["base_layer.weight"] and not changed["base_layer.bias"]


def test_from_lora_initialisation_routers_learn_from_the_second_step():
    layer = adapted(nonzero_b=False)
    assert not any(v for n, v in train_step(layer, steps=1).items() if n.startswith("router."))
    assert all(v for n, v in train_step(layer, steps=1).items() if n.startswith("router."))


def test_decode_steps_reuse_the_prefill_decision_and_merge_roundtrip():
    layer = adapted()
    calls = []
    layer.router.register_forward_hook(lambda *args: calls.append(1))
    prompt = torch.randn(3, 5, D_IN)
    mask = torch.ones(3, 5, dtype=torch.long)
    mask[0, :2] = 0  # left padding
    ctx = RoutingContext(attention_mask=mask)
    with use_routing_context(ctx), torch.no_grad():
        layer(prompt)
        step = torch.randn(3, 1, D_IN)
        decode = layer(step)
    assert len(calls) == 1  # decoding did not route again on the one new token
    prefill = route(layer.router, layer.experts, prompt, RoutingContext(attention_mask=mask))
    want = layer.base_layer(step) + layer.experts(step, prefill)
    torch.testing.assert_close(decode, want)

    shared = torch.randn(1, 5, D_IN).expand(2, 5, D_IN)
    with use_routing_context(RoutingContext()) as ctx2, torch.no_grad():
        unmerged = layer(shared)
    weight = layer.base_layer.weight.detach().clone()
    layer.merge(ctx2.decisions["layers.0.q_proj"])
    torch.testing.assert_close(layer(shared), unmerged, atol=1e-5, rtol=1e-5)
    layer.unmerge()
    assert torch.equal(layer.base_layer.weight, weight)


def test_generate_reuses_prefill_decisions_in_every_decode_step():
    model = tiny_causal_lm("llama").eval()
    inject_adapters(model, dict(preset="mixlora", experts=dict(num_factors=6, rank=2)))
    randomise_lora_b(model, std=0.5)
    data = batch(b=2, n=7)
    kwargs = dict(
        attention_mask=data["attention_mask"], max_new_tokens=4, do_sample=False, pad_token_id=0
    )
    ctx = RoutingContext(attention_mask=data["attention_mask"], question_mask=data["question_mask"])
    with use_routing_context(ctx), torch.no_grad():
        cached = model.generate(data["ids"], use_cache=True, **kwargs)
    assert len(ctx.decisions) == 2 * 7  # one decision per adapted linear, made at prefill
    # Without the KV cache every step re-runs the whole sequence; routed by the prefill decisions
    # it must produce the very tokens the cached decode steps produced.
    replay = RoutingContext(decisions=dict(ctx.decisions))
    with use_routing_context(replay), torch.no_grad():
        recomputed = model.generate(data["ids"], use_cache=False, **kwargs)
    assert torch.equal(cached, recomputed)


def _decisions_for_answers(pool: str) -> list[dict]:
    """Routing of two samples with one prompt and different teacher-forced answers, in training."""
    model = tiny_causal_lm("llama").train()
    rule = dict(preset="mixlora", experts=dict(num_factors=6, rank=2), router=dict(pool=pool))
    inject_adapters(model, rule)
    randomise_lora_b(model, std=0.5)
    gen = torch.Generator().manual_seed(3)
    prompt = torch.randint(0, 64, (1, 6), generator=gen)
    question = torch.zeros(1, 10, dtype=torch.bool)
    question[:, 1:6] = True  # the instruction; the last 4 tokens are the answer
    out = []
    for answer_seed in (1, 2):
        answer = torch.randint(0, 64, (1, 4), generator=torch.Generator().manual_seed(answer_seed))
        ids = torch.cat([prompt, answer], dim=1)
        ctx = RoutingContext(attention_mask=torch.ones(1, 10), question_mask=question)
        with use_routing_context(ctx):
            model(input_ids=ids, labels=ids).loss.backward()
        out.append(ctx.decisions)
    return out


def test_same_prompt_different_answers_route_alike_by_default():
    first, second = _decisions_for_answers("question")
    assert first.keys() == second.keys() and len(first) == 2 * 7
    for layer in first:
        a, b = first[layer], second[layer]
        assert torch.equal(a.indices, b.indices), layer
        torch.testing.assert_close(a.probs, b.probs)
        torch.testing.assert_close(a.factors.b_ifs_probs, b.factors.b_ifs_probs)


def test_literal_sequence_average_routes_training_samples_on_their_answers():
    first, second = _decisions_for_answers("sequence")
    differ = [k for k in first if not torch.allclose(first[k].probs, second[k].probs)]
    assert len(differ) == len(first)  # every layer's Avg(h) saw the teacher-forced answer


def test_question_pooling_needs_the_question_mask():
    router, pool = make(pool="question")
    with pytest.raises(MissingRoutingSignalError, match="question_mask"):
        route(
            router, pool, torch.randn(2, 4, D_IN), RoutingContext(attention_mask=torch.ones(2, 4))
        )


def test_official_initialisation_and_contraction():
    d, e, r = 64, 8, 4
    router = build_router(
        {"type": "ConditionalFactorRouter", "rank": r}, in_features=d, num_experts=e
    )
    # selector.py l. 209: nn.Linear(r * d_in, E) → bound 1/√(r·d_in); the IFS routers as nn.Linear.
    bound = 1 / math.sqrt(r * d)
    assert router.cfs_weight.abs().max() <= bound and router.cfs_weight.abs().max() > 0.9 * bound
    assert router.ifs_a.weight.abs().max() <= 1 / math.sqrt(d)
    assert router.ifs_a.weight.abs().max() > 0.9 / math.sqrt(d)
    fan_in = build_router(
        {"type": "ConditionalFactorRouter", "rank": r, "cfs_init": "fan_in"},
        in_features=d,
        num_experts=e,
    )
    assert fan_in.cfs_weight.abs().max() > 1.5 * bound
    official = build_router(
        {"type": "ConditionalFactorRouter", "rank": r, "cfs_contraction": "official"},
        in_features=d,
        num_experts=e,
    )
    a = torch.randn(3, r, d)
    # einsum('brd,rfe->bre'): A's factor and W_AB[i] are summed separately.
    logits = a.sum(-1)[:, :, None] * official.cfs_weight.sum(1)[None]
    want = logits.softmax(-1).sum(1).softmax(-1)
    torch.testing.assert_close(official.cfs_probs(a), want)
    with torch.no_grad():
        router.cfs_weight.copy_(official.cfs_weight)
    assert not torch.allclose(router.cfs_probs(a), want)  # eq. 7 reads A[i] · W_AB[i]


def test_routers_of_linears_reading_one_input_pool_it_once(monkeypatch):
    """q/k/v (and gate/up) have a router each but one Avg(h); it is computed once per input."""
    from octavius.adapters.context import RoutingContext
    from octavius.plugins.routers.conditional_factor import ConditionalFactorRouter

    calls = []
    pool_now = ConditionalFactorRouter._pool_now
    monkeypatch.setattr(
        ConditionalFactorRouter, "_pool_now", lambda self, *a: calls.append(1) or pool_now(self, *a)
    )
    torch.manual_seed(0)
    routers = [ConditionalFactorRouter(in_features=8, num_experts=6, rank=2) for _ in range(3)]
    x, other = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    mask = torch.ones(2, 5, dtype=torch.bool)
    ctx = RoutingContext(question_mask=mask)
    shared = [r(x, ctx) for r in routers]
    assert len(calls) == 1
    routers[0](other, ctx)  # a different input is pooled anew
    assert len(calls) == 2
    for router, decision in zip(routers, shared):
        alone = router(x, RoutingContext(question_mask=mask))
        assert torch.equal(decision.indices, alone.indices)
        assert torch.equal(decision.probs, alone.probs)
