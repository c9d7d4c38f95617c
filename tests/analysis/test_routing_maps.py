"""Routing capture and routing maps against hand counts, and on tiny adapted models."""

from __future__ import annotations

import json

import pytest
import torch

from octavius.adapters import RoutingContext, RoutingDecision
from octavius.analysis import capture_routing, routed_layers, routing_maps
from tests.analysis.tiny_models import recorded_forward, task_batch, tiny_lm


def _instance(indices, weights) -> RoutingDecision:
    return RoutingDecision("instance", torch.tensor(indices), torch.tensor(weights))


def _token(indices) -> RoutingDecision:
    idx = torch.tensor(indices)
    return RoutingDecision("token", idx, torch.ones(idx.shape))


BATCHES = [
    # batch 1: samples of tasks a, b
    (
        {
            "L0": _instance([[0, 2], [1, 2]], [[0.75, 0.25], [0.5, 0.5]]),
            "L1": _token([[[0], [1], [1]], [[2], [0], [1]]]),
            "L2": _instance([[0, 2], [1, 2]], [[0.75, 0.25], [0.5, 0.5]]),
            "mask": [[1, 1, 1], [1, 1, 0]],  # the last token of sample 2 is padding
        },
        ["a", "b"],
    ),
    # batch 2: one sample of task a; its token routing drops one assignment (capacity, -1)
    (
        {
            "L0": _instance([[0, 1]], [[1.0, 0.0]]),
            "L1": _token([[[2], [-1], [2]]]),
            "L2": _instance([[0, 1]], [[1.0, 0.0]]),
            "mask": [[1, 1, 1]],
        },
        ["a"],
    ),
]


def _fake_forward(batch, recorder) -> None:
    ctx = RoutingContext(attention_mask=torch.tensor(batch["mask"]))
    for layer in ("L0", "L1", "L2"):
        recorder(layer, batch[layer], ctx)


def test_shares_and_maps_match_hand_counts():
    routing = capture_routing(BATCHES, _fake_forward, {"L0": 3, "L1": 3, "L2": 3})
    assert routing.tasks == ["a", "b", "a"]
    assert routing.levels == {"L0": "instance", "L1": "token", "L2": "instance"}
    third = 1 / 3
    expected_l1 = [[third, 2 * third, 0.0], [0.5, 0.0, 0.5], [0.0, 0.0, 2 * third]]
    torch.testing.assert_close(routing.shares["L1"], torch.tensor(expected_l1, dtype=torch.float64))

    maps = routing_maps(routing)
    assert [m.layer for m in maps] == ["L0", "L1"]
    assert maps[0].same_as == ["L2"] and maps[0].quantity == "routing weight"
    assert maps[0].tasks == ["a", "b"] and maps[0].counts == [2, 1]
    # task a: samples [.75, 0, .25] and [1, 0, 0]; task b: [0, .5, .5]
    f64 = dict(dtype=torch.float64)
    torch.testing.assert_close(
        maps[0].mean, torch.tensor([[0.875, 0.0, 0.125], [0.0, 0.5, 0.5]], **f64)
    )
    torch.testing.assert_close(
        maps[0].std, torch.tensor([[0.125, 0.0, 0.125], [0.0, 0.0, 0.0]], **f64)
    )
    # task a tokens: sample 1 → [1/3, 2/3, 0]; sample 3 → [0, 0, 2/3] (one of 3 dropped)
    torch.testing.assert_close(maps[1].mean[0], torch.tensor([third / 2, third, third], **f64))
    assert maps[1].quantity == "token share"

    unfolded = routing_maps(routing, tasks=["b", "a"], fold_identical=False, layers="L[02]")
    assert [m.layer for m in unfolded] == ["L0", "L2"] and unfolded[0].tasks == ["b", "a"]
    json.dumps([m.to_dict() for m in maps])
    with pytest.raises(ValueError, match=r"no sample of task\(s\) \['c'\]"):
        routing_maps(routing, tasks=["a", "c"])


def test_capture_rejects_inconsistent_input():
    with pytest.raises(KeyError, match="not among the routed layers"):
        capture_routing(BATCHES, _fake_forward, {"L0": 3, "L1": 3})
    with pytest.raises(ValueError, match="out of range for 2 experts"):
        capture_routing(BATCHES, _fake_forward, {"L0": 2, "L1": 3, "L2": 3})
    with pytest.raises(ValueError, match="has 1 task labels"):
        capture_routing([(BATCHES[0][0], ["a"])], _fake_forward, {"L0": 3, "L1": 3, "L2": 3})
    with pytest.raises(ValueError, match="no routing decision was recorded"):
        capture_routing(BATCHES, lambda batch, recorder: None, {})


def test_token_routing_on_a_tiny_model():
    model = tiny_lm(dict(preset="llava_mole", experts=dict(num_experts=3, rank=2)))
    choices = routed_layers(model)
    assert len(choices) == 6 and set(choices.values()) == {3}
    batches = [(task_batch(t, seed=s), [f"t{t}"] * 3) for t in (0, 1) for s in range(2)]
    routing = capture_routing(batches, recorded_forward(model), choices)
    for shares in routing.shares.values():
        assert shares.shape == (12, 3)
        torch.testing.assert_close(shares.sum(1), torch.ones(12, dtype=torch.float64))
    maps = routing_maps(routing)
    # gate/up/down of an MLP share one block router: one map per layer
    assert [m.layer for m in maps] == [
        "model.layers.0.mlp.gate_proj",
        "model.layers.1.mlp.gate_proj",
    ]
    assert maps[0].same_as == ["model.layers.0.mlp.up_proj", "model.layers.0.mlp.down_proj"]
    assert all(m.counts == [6, 6] for m in maps)


def test_instance_routing_on_a_tiny_model_folds_the_global_router():
    model = tiny_lm(dict(preset="octavius", experts=dict(num_experts=4, rank=2, dropout=0.0)))
    model.eval()
    batches = [(task_batch(t), [f"t{t}"] * 3) for t in (0, 1)]
    routing = capture_routing(batches, recorded_forward(model), routed_layers(model))
    (only,) = routing_maps(routing)
    assert len(only.same_as) == 7 and only.level == "instance"
    torch.testing.assert_close(only.mean.sum(1), torch.ones(2, dtype=torch.float64))
    assert ((routing.shares[only.layer] > 0).sum(1) == 2).all()  # top-2 of 4
