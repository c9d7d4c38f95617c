"""The load-balancing losses against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from octavius.adapters import RoutingContext, cv_squared_loss, switch_balance_loss
from octavius.plugins.routers.instance import InstanceRouter
from octavius.plugins.routers.token import TokenRouter


def test_cv_squared_equals_hand_computed_value():
    # importance (1, 2, 3): mean 2, unbiased variance 1 → CV² = 1 / 4
    assert cv_squared_loss(torch.tensor([1.0, 2.0, 3.0])).item() == pytest.approx(0.25)
    assert cv_squared_loss(torch.tensor([2.0, 2.0])).item() == pytest.approx(0.0)
    assert cv_squared_loss(torch.tensor([5.0])).item() == 0.0


def test_switch_loss_equals_hand_computed_value():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    indices = torch.tensor([[0], [0], [1], [2]])
    # c = (2, 1, 1), p = (1.6, 1.1, 1.3); Σ c·p = 3.2 + 1.1 + 1.3 = 5.6
    # normalised: e / (t·k · t) · Σ c·p = 3 / 16 · 5.6 = 1.05
    assert switch_balance_loss(probs, indices).item() == pytest.approx(1.05)
    mask = torch.tensor([True, True, True, False])
    # c = (2, 1, 0), p = (1.5, 1.0, 0.5); Σ c·p = 4.0; 3 / 9 · 4.0
    assert switch_balance_loss(probs, indices, mask).item() == pytest.approx(4.0 / 3.0)
    uniform = torch.full((6, 3), 1 / 3)
    assert switch_balance_loss(
        uniform, torch.tensor([0, 1, 2, 0, 1, 2])[:, None]
    ).item() == pytest.approx(1.0)


def test_switch_loss_gradient_flows_through_probabilities_only():
    logits = torch.randn(5, 3, requires_grad=True)
    probs = logits.softmax(-1)
    switch_balance_loss(probs, probs.argmax(-1, keepdim=True)).backward()
    assert logits.grad is not None and torch.count_nonzero(logits.grad) > 0


def test_routers_emit_the_weighted_losses():
    torch.manual_seed(0)
    token = TokenRouter(6, 3, balance_loss_weight=0.01)
    x = torch.randn(2, 4, 6)
    mask = torch.tensor([[1, 1, 1, 1], [0, 0, 1, 1]])
    decision = token(x, RoutingContext(attention_mask=mask))
    keep = mask.flatten().bool()
    expected = 0.01 * switch_balance_loss(
        decision.probs.reshape(-1, 3), decision.indices.reshape(-1, 1), keep
    )
    torch.testing.assert_close(decision.aux_losses["token_balance_loss"], expected)

    instance = InstanceRouter(6, 4, top_k=2, balance_loss_weight=0.5)
    embeds = torch.randn(3, 5, 6)
    ctx = RoutingContext(inputs_embeds=embeds, question_mask=torch.ones(3, 5, dtype=torch.bool))
    decision = instance(embeds, ctx)
    gates = torch.zeros(3, 4).scatter(1, decision.indices, decision.weights)
    importance = gates.sum(0)
    hand = importance.var() / importance.mean() ** 2
    torch.testing.assert_close(decision.aux_losses["instance_balance_loss"], 0.5 * hand)
