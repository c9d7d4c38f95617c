"""MixLoRA eq. 2–3 against hand-computed values, and per-task gradients of LoRA A / B."""

from __future__ import annotations

import json
import math

import pytest
import torch

from octavius.analysis import (
    adapter_factor_parameters,
    collect_task_gradients,
    interference_matrix,
    task_interference,
)
from tests.analysis.tiny_models import lm_loss, task_batch, tiny_lm

ATTENTION_LORA = dict(
    targets=r".*self_attn\.(q_proj|v_proj)",
    experts=dict(type="LoRAExperts", num_experts=1, rank=2, alpha=4.0),
)


def test_interference_matches_hand_computed_example():
    # The plug-in estimator (the task's own direction over all its batches):
    # ū_a = mean([.6, .8], [1, 0]) = [.8, .4]; ū_b = [0, 1]; ū_c = [-.6, -.8].
    # Row a, batch [3, 4]: Δ_a = 4, Δ_b = 4, Δ_c = -5; batch [1, 0]: Δ_a = .8, Δ_b = 0, Δ_c = -.6
    #   → I_ab = (4/4 + 0/.8) / 2 = .5, I_ac = (-5/4 - .6/.8) / 2 = -1.
    # Row b, batch [0, 2]: Δ_a = .8, Δ_b = 2, Δ_c = -1.6 → I_ba = .4, I_bc = -.8.
    # Row c, batch [-3, -4]: Δ_a = -4, Δ_b = -4, Δ_c = 5 → I_ca = I_cb = -.8.
    grads = {
        "a": torch.tensor([[3.0, 4.0], [1.0, 0.0]]),
        "b": torch.tensor([[0.0, 2.0]]),
        "c": torch.tensor([[-3.0, -4.0]]),
    }
    expected = torch.tensor(
        [[1.0, 0.5, -1.0], [0.4, 1.0, -0.8], [-0.8, -0.8, 1.0]], dtype=torch.float64
    )
    torch.testing.assert_close(interference_matrix(grads, estimator="plug_in"), expected)
    reordered = interference_matrix(grads, tasks=["c", "a"], estimator="plug_in")
    torch.testing.assert_close(reordered, expected[[2, 0]][:, [2, 0]])


def test_leave_one_out_matches_hand_computed_example():
    # Row a: batch [3, 4] is compared with its own direction from the other batch, [1, 0]
    # → Δ_a = 3; batch [1, 0] with [.6, .8] → Δ_a = .6. ū_b = [0, 1], ū_c = [-.6, -.8].
    #   I_ab = (4/3 + 0/.6) / 2 = 2/3, I_ac = (-5/3 - .6/.6) / 2 = -4/3.
    # Rows b and c have one batch each: no held-out direction, NaN off the diagonal (I_ii = 1).
    grads = {
        "a": torch.tensor([[3.0, 4.0], [1.0, 0.0]]),
        "b": torch.tensor([[0.0, 2.0]]),
        "c": torch.tensor([[-3.0, -4.0]]),
    }
    with pytest.warns(UserWarning, match="fewer than two batches"):
        scores = interference_matrix(grads)
    torch.testing.assert_close(scores[0], torch.tensor([1.0, 2 / 3, -4 / 3], dtype=torch.float64))
    torch.testing.assert_close(scores.diagonal(), torch.ones(3, dtype=torch.float64))
    assert scores[1, [0, 2]].isnan().all() and scores[2, :2].isnan().all()
    with pytest.raises(ValueError, match="estimator must be one of"):
        interference_matrix(grads, estimator="split")


def _noisy_task_gradients(sign: float, batches: int, gen: torch.Generator) -> torch.Tensor:
    """Batch gradients of one task: a shared direction plus per-batch noise 3.5x its norm."""
    direction = torch.ones(2000) / 2000**0.5
    return sign * direction + 0.078 * torch.randn(batches, 2000, generator=gen)


def test_two_halves_of_one_task_score_one_and_opposite_tasks_minus_one():
    gen = torch.Generator().manual_seed(0)
    task = _noisy_task_gradients(1.0, 16, gen)
    grads = {"half1": task[:8], "half2": task[8:], "opposite": _noisy_task_gradients(-1, 8, gen)}
    scores = interference_matrix(grads)
    torch.testing.assert_close(scores.diagonal(), torch.ones(3, dtype=torch.float64))
    assert abs(scores[0, 1] - 1) < 0.15 and abs(scores[1, 0] - 1) < 0.15
    for i, j in ((0, 2), (1, 2), (2, 0), (2, 1)):
        assert abs(scores[i, j] + 1) < 0.15, (i, j, scores)
    # The plug-in direction includes the very batch it is compared with: pulled toward 0.
    plug_in = interference_matrix(grads, estimator="plug_in")
    assert 0.3 < plug_in[0, 1] < 0.6 and -0.6 < plug_in[0, 2] < -0.3


def test_interference_is_independent_of_gradient_scale_of_the_other_task():
    grads = {
        "a": torch.tensor([[3.0, 4.0], [1.0, 0.0]]),
        "b": torch.tensor([[0.0, 2.0], [1.0, 1.0]]),
    }
    scaled = {"a": grads["a"], "b": grads["b"] * 100.0}
    torch.testing.assert_close(interference_matrix(grads), interference_matrix(scaled))


def test_interference_zero_gradients_and_bad_input():
    with pytest.warns(UserWarning, match="every gradient of task 'b' is zero"):
        scores = interference_matrix(
            {"a": torch.tensor([[1.0, 0.0]]), "b": torch.zeros(2, 2)}, estimator="plug_in"
        )
    assert scores[0, 0] == 1.0 and math.isnan(scores[0, 1]) and scores[1].isnan().all()
    with pytest.raises(ValueError, match="same parameters"):
        interference_matrix({"a": torch.ones(1, 2), "b": torch.ones(1, 3)})
    with pytest.raises(ValueError, match=r"no gradients for task\(s\) \['c'\]"):
        interference_matrix({"a": torch.ones(1, 2)}, tasks=["a", "c"])
    with pytest.raises(ValueError, match="at least one batch"):
        interference_matrix({"a": torch.ones(0, 2)})


def test_collected_gradients_equal_autograd_and_leave_the_model_unchanged():
    model = tiny_lm(ATTENTION_LORA)
    model.train()
    groups = adapter_factor_parameters(model, group_by="block")
    assert list(groups) == ["model.layers.0.self_attn", "model.layers.1.self_attn"]
    batches = {"t0": [task_batch(0, seed=s) for s in range(2)], "t1": [task_batch(1)]}
    grads = collect_task_gradients(model, batches, lm_loss, group_by="block")
    assert model.training
    assert all(p.grad is None for p in model.parameters())

    model.eval()
    loss = lm_loss(model, batches["t0"][1])
    loss.backward()
    layer1 = model.model.layers[1].self_attn
    for part, attr in (("A", "lora_A"), ("B", "lora_B")):
        want = torch.cat(
            [
                getattr(layer1.q_proj.experts, attr).grad.flatten(),
                getattr(layer1.v_proj.experts, attr).grad.flatten(),
            ]
        )
        got = grads[part]["model.layers.1.self_attn"]["t0"]
        assert got.shape == (2, want.numel())
        torch.testing.assert_close(got[1], want)
    assert grads["A"]["model.layers.0.self_attn"]["t1"].shape[0] == 1


def test_factor_pool_gradients_cover_all_factors():
    model = tiny_lm(dict(preset="mixlora", experts=dict(num_factors=4, rank=2)))
    batches = {"t0": [task_batch(0, b=1)]}
    grads = collect_task_gradients(
        model, batches, lm_loss, group_by="module", layers=r"layers\.0\.mlp\.up_proj"
    )
    row = grads["A"]["model.layers.0.mlp.up_proj"]["t0"][0].view(4, 16)  # (E, d_in)
    assert (row.abs().sum(dim=1) > 0).sum() == 2  # one sample chooses r = 2 of E = 4 factors


def test_task_interference_on_a_model():
    model = tiny_lm(ATTENTION_LORA)
    batches = {f"t{t}": [task_batch(t, seed=s) for s in range(3)] for t in (0, 1)}
    scores = task_interference(model, batches, lm_loss, group_by="layer")
    assert scores.groups == ["model.layers.0", "model.layers.1"]
    assert scores.num_batches == {"t0": 3, "t1": 3}
    for part in ("A", "B"):
        for group in scores.groups:
            matrix = scores.scores[part][group]
            assert matrix.shape == (2, 2) and matrix.isfinite().all()
            torch.testing.assert_close(matrix.diagonal(), torch.ones(2, dtype=torch.float64))
        stacked = torch.stack([scores.scores[part][g] for g in scores.groups])
        torch.testing.assert_close(scores.mean(part), stacked.mean(0))
    as_json = json.loads(json.dumps(scores.to_dict()))
    assert as_json["tasks"] == ["t0", "t1"] and len(as_json["mean"]["A"]) == 2


def test_group_by_is_validated():
    model = tiny_lm(ATTENTION_LORA)
    with pytest.raises(ValueError, match="group_by must be one of"):
        adapter_factor_parameters(model, group_by="head")
    with pytest.raises(ValueError, match="no adapted linear matching"):
        adapter_factor_parameters(model, layers="nothing")
