"""Per-request routing: mixed batches, pins, task pins, merge-for-batch, routing reports."""

from __future__ import annotations

import pytest
import torch

from octavius.adapters.layer import AdaptedLinear
from octavius.data.tasks import task_id_map
from octavius.inference import InferenceRequest, build_batch
from tests.inference.conftest import build

QUESTIONS = ["What is in the picture?", "Count the squares, please.", "Describe the scene."]
PINS = [{"experts": [0, 1], "weights": [0.7, 0.3]}, None, {"experts": [3]}]


def _generate(model, requests, **kwargs):
    batch, pins = build_batch(model, requests)
    return model.generate(batch, routing=pins, **kwargs)


def _requests(pins=PINS, questions=QUESTIONS):
    return [InferenceRequest(q, routing=p) for q, p in zip(questions, pins)]


def _first_layer(report):
    return report[sorted(report)[0]]


def test_mixed_routing_batch_equals_one_by_one(model):
    requests = _requests()
    batched = _generate(model, requests, max_new_tokens=8, return_routing=True)
    alone = [_generate(model, [r], max_new_tokens=8, return_routing=True) for r in requests]
    assert batched.token_ids == [a.token_ids[0] for a in alone]
    assert batched.routing == [a.routing[0] for a in alone]
    assert not batched.merged
    first = [_first_layer(r) for r in batched.routing]
    assert first[0]["experts"] == [0, 1] and first[0]["weights"] == pytest.approx([0.7, 0.3])
    assert first[2]["experts"] == [3] and first[2]["weights"] == [1.0]  # padding slot dropped
    assert len(first[1]["experts"]) == 2  # the router's own top-2
    assert sum(first[1]["weights"]) == pytest.approx(1.0)
    assert len(batched.routing[0]) == 2 * 4  # q/k/v/o of the 2-layer LLaMA (Octavius preset)


def test_a_pin_changes_the_answer_and_matches_the_gate_when_equal(model):
    free = _generate(model, _requests([None]), max_new_tokens=8, return_routing=True)
    gate = _first_layer(free.routing[0])
    same = {"experts": gate["experts"], "weights": gate["weights"]}
    pinned = _generate(model, _requests([same]), max_new_tokens=8)
    assert pinned.token_ids == free.token_ids
    other = [e for e in range(4) if e not in gate["experts"]]
    moved = _generate(model, _requests([{"experts": other}]), max_new_tokens=8)
    assert moved.token_ids != free.token_ids


def test_merge_for_batch_equals_unmerged_and_restores_the_weights(model):
    pin = {"experts": [1, 2], "weights": [0.5, 0.5]}
    requests = _requests([pin, pin, pin])
    before = {n: p.detach().clone() for n, p in model.llm.named_parameters()}
    unmerged = _generate(model, requests, max_new_tokens=8, return_routing=True)
    merged = _generate(model, requests, max_new_tokens=8, merge=True, return_routing=True)
    assert merged.merged and not unmerged.merged
    assert merged.token_ids == unmerged.token_ids
    assert merged.routing == unmerged.routing
    after = dict(model.llm.named_parameters())
    assert all(torch.equal(before[n], after[n]) for n in before)
    assert not any(m.merged for m in model.modules() if isinstance(m, AdaptedLinear))
    mixed = _generate(model, _requests(), max_new_tokens=4, merge=True)
    assert not mixed.merged  # different routings stay unmerged


def test_merged_for_batch_swaps_in_the_base_linears_and_restores_them(model):
    from octavius.adapters.context import RoutingContext, use_routing_context
    from octavius.inference.pinning import PinnedRouting, pin_routers
    from octavius.inference.routing_plan import (
        decide_from_context,
        merged_for_batch,
        shared_decisions,
    )

    llm = model.llm
    adapted = {n: m for n, m in llm.named_modules() if isinstance(m, AdaptedLinear)}
    weights = {n: m.base_layer.weight.detach().clone() for n, m in adapted.items()}
    embeds = torch.randn(2, 5, llm.config.hidden_size)
    mask = torch.ones(2, 5, dtype=torch.long)
    question = torch.zeros_like(mask, dtype=torch.bool)
    question[:, :3] = True
    ctx = RoutingContext(attention_mask=mask, question_mask=question, inputs_embeds=embeds)
    pin = PinnedRouting((1, 2), (0.25, 0.75))
    with torch.no_grad(), pin_routers(llm, [pin, pin]):
        decide_from_context(llm, ctx)
        plan = shared_decisions(llm, ctx)
        assert plan is not None and set(plan) == set(adapted)
        with use_routing_context(ctx):
            unmerged = llm(inputs_embeds=embeds, attention_mask=mask).logits
        with merged_for_batch(llm, plan) as names:
            assert sorted(names) == sorted(adapted)
            assert not any(isinstance(m, AdaptedLinear) for m in llm.modules())
            for name, layer in adapted.items():
                swapped = llm.get_submodule(name)
                assert swapped is layer.base_layer
                # W + ΔW with ΔW = Σ_k w_k·(α/r)·B_k A_k of the pinned experts (eq. 3, merged).
                delta = sum(
                    w * layer.experts.scale * (layer.experts.lora_B[k].T @ layer.experts.lora_A[k])
                    for k, w in ((1, 0.25), (2, 0.75))
                )
                torch.testing.assert_close(swapped.weight, weights[name] + delta)
            merged = llm(inputs_embeds=embeds, attention_mask=mask).logits
        torch.testing.assert_close(merged, unmerged, rtol=1e-4, atol=1e-5)
        with pytest.raises(RuntimeError, match="boom"), merged_for_batch(llm, plan):
            raise RuntimeError("boom")
    for name, layer in adapted.items():
        assert llm.get_submodule(name) is layer and not layer.merged
        assert torch.equal(layer.base_layer.weight, weights[name])  # restored bit for bit


def test_merge_under_beam_search_equals_unmerged(model):
    requests = _requests([None], QUESTIONS[:1])
    kw = dict(max_new_tokens=6, num_beams=2)
    assert (
        _generate(model, requests, merge=True, **kw).token_ids
        == _generate(model, requests, **kw).token_ids
    )


def test_task_pin_under_the_individual_gate(assets):
    model = build(
        assets,
        adapters=dict(
            preset="octavius",
            experts=dict(num_experts=5, rank=4, alpha=8.0, dropout=0.0),
            router=dict(mode="individual"),
        ),
    )
    ids = task_id_map(None)
    requests = [
        InferenceRequest("Find the objects.", routing={"task": "detection"}),
        InferenceRequest("What is it?", task="vqa"),
    ]
    out = _generate(model, requests, max_new_tokens=4, return_routing=True)
    assert _first_layer(out.routing[0])["experts"] == [ids["detection"]]
    assert _first_layer(out.routing[1])["experts"] == [ids["vqa"]]


def test_bad_pins_are_explained(model):
    with pytest.raises(ValueError, match="names expert 9 but router"):
        _generate(model, _requests([{"experts": [9]}]), max_new_tokens=2)
    with pytest.raises(ValueError, match="unknown keys"):
        _generate(model, _requests([{"experts": [1], "weight": [1.0]}]), max_new_tokens=2)


def test_token_routing_report_sums_to_one(assets):
    mole = build(
        assets,
        adapters=dict(
            preset="llava_mole",
            experts=dict(num_experts=3, rank=2, dropout=0.0),
            attention=dict(rank=2, dropout=0.0),
        ),
    )
    out = _generate(mole, _requests([None, None]), max_new_tokens=5, return_routing=True)
    entries = [e for e in out.routing[0].values() if e["level"] == "token"]
    assert entries and all(sum(e["usage"]) == pytest.approx(1.0, abs=1e-4) for e in entries)
    assert not _generate(mole, _requests([None]), max_new_tokens=3, merge=True).merged
    with pytest.raises(ValueError, match="routes each token"):
        _generate(mole, _requests([{"experts": [0]}]), max_new_tokens=2)
