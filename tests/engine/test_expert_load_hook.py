"""ExpertLoadHook: per-layer expert shares, entropy, balancing losses and collapse warnings."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub, MMLogger
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import Dataset

from octavius.adapters import inject_adapters
from octavius.adapters.context import RoutingContext, use_routing_context
from octavius.adapters.decision import FactorSelection, RoutingDecision
from octavius.engine.expert_load_hook import ExpertLoadHook, choice_counts


class _Visualizer:
    def __init__(self) -> None:
        self.calls: list[tuple[dict, int]] = []

    def add_scalars(self, scalars, step=0, **kwargs) -> None:
        self.calls.append((dict(scalars), step))


class _Runner:
    """What the hook reads of a runner, without a training loop."""

    def __init__(self, name: str, max_iters: int = 100) -> None:
        self.iter = 0
        self.max_iters = max_iters
        self.message_hub = MessageHub.get_instance(name)
        self.visualizer = _Visualizer()
        self.logger = MMLogger.get_instance(name, log_level="INFO")
        self.hooks: list = []
        self.model = None


def _instance(indices, e=4, loss=None) -> RoutingDecision:
    idx = torch.tensor(indices)
    aux = {} if loss is None else {"instance_balance_loss": torch.tensor(loss)}
    return RoutingDecision(
        level="instance",
        indices=idx,
        weights=torch.ones(idx.shape),
        probs=torch.full((idx.shape[0], e), 1.0 / e),
        aux_losses=aux,
    )


def _iterate(hook, runner, calls):
    hook.before_train_iter(runner, runner.iter)
    for layer, decision, ctx in calls:
        hook(layer, decision, ctx)
    hook.after_train_iter(runner, runner.iter)
    runner.iter += 1


def test_choice_counts_leave_out_padding_and_dropped_choices():
    indices = torch.tensor([[[0], [1], [1]], [[2], [-1], [3]]])  # (b=2, n=3, k=1)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert choice_counts(indices, 4, mask).tolist() == [1.0, 1.0, 1.0, 1.0]
    assert choice_counts(indices, 4).tolist() == [1.0, 2.0, 1.0, 1.0]


def test_shares_entropy_and_losses_of_an_interval():
    runner = _Runner("expert_load_shares")
    hook = ExpertLoadHook(interval=2, console_layers=0)
    ctx = RoutingContext()
    # Two iterations, 2 samples × top-2 each: expert 0 chosen 4 times, 1 twice, 2 twice, 3 never.
    _iterate(hook, runner, [("layers.0.q", _instance([[0, 1], [0, 2]], loss=0.5), ctx)])
    assert runner.visualizer.calls == []  # not at the interval yet
    _iterate(hook, runner, [("layers.0.q", _instance([[0, 1], [0, 2]], loss=1.5), ctx)])
    ((scalars, step),) = runner.visualizer.calls
    assert step == 2
    shares = [scalars[f"expert_load/layers.0.q/share_{j}"] for j in range(4)]
    assert shares == pytest.approx([0.5, 0.25, 0.25, 0.0])
    entropy = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert scalars["expert_load/layers.0.q/entropy"] == pytest.approx(entropy)
    assert scalars["expert_load/layers.0.q/instance_balance_aux"] == pytest.approx(1.0)
    hub = runner.message_hub
    assert hub.get_scalar("train/expert_load/max_share").current() == pytest.approx(0.5)
    assert hub.get_scalar("train/expert_load/collapsed_layers").current() == 0


def test_factor_routing_reports_a_and_b_factors():
    runner = _Runner("expert_load_factors")
    hook = ExpertLoadHook(interval=1, console_layers=0)
    decision = dataclasses.replace(
        _instance([[0, 1], [0, 1]], e=3),
        factors=FactorSelection.chosen(torch.tensor([[2, 2], [2, 1]]), torch.ones(2, 2)),
    )
    _iterate(hook, runner, [("mlp.up", decision, RoutingContext())])
    ((scalars, _),) = runner.visualizer.calls
    assert scalars["expert_load/mlp.up/A/share_0"] == pytest.approx(0.5)
    assert scalars["expert_load/mlp.up/B/share_2"] == pytest.approx(0.75)


def test_a_collapsed_layer_is_named_in_a_warning(capsys):
    runner = _Runner("expert_load_collapse")
    hook = ExpertLoadHook(interval=3, collapse_share=0.9, console_layers=0)
    ctx = RoutingContext()
    collapsed = [[3, 3]] * 10  # every sample puts both slots on expert 3: 100 %
    healthy_last = [[3, 3]] * 5 + [[0, 1]] * 5  # 50 % in the last iteration
    for i in range(3):
        _iterate(
            hook,
            runner,
            [
                ("layers.1.mlp", _instance(collapsed), ctx),
                ("layers.2.mlp", _instance(healthy_last if i == 2 else collapsed), ctx),
            ],
        )
    warnings = [line for line in capsys.readouterr().out.splitlines() if "WARNING" in line]
    assert len(warnings) == 1
    assert "layers.1.mlp" in warnings[0] and "expert 3" in warnings[0]
    assert runner.message_hub.get_scalar("train/expert_load/collapsed_layers").current() == 1


class _Tokens(Dataset):
    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(16, 5, 8, generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return {"inputs": self.x[i]}


class _Routed(BaseModel):
    """A token-routed linear trained through the routing context, as MultimodalLLM does."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Module()
        self.block.fc = nn.Linear(8, 8)
        inject_adapters(
            self,
            dict(
                name="fc",
                targets=["block.fc"],
                experts=dict(type="LoRAExperts", num_experts=4, rank=2),
                router=dict(type="TokenRouter", top_k=1),
            ),
        )

    def routing_context(self, x: torch.Tensor) -> RoutingContext:
        return RoutingContext(attention_mask=torch.ones(x.shape[:2], dtype=torch.long))

    def forward(self, inputs, mode="tensor"):
        ctx = self.routing_context(inputs)
        with use_routing_context(ctx):
            out = self.block.fc(inputs)
        if mode != "loss":
            return out
        losses = {"loss": F.mse_loss(out, inputs.flip(-1))}
        losses.update({f"loss_{k}": v for k, v in ctx.reduced_aux_losses().items()})
        return losses


def test_a_training_run_logs_expert_load_to_the_visualizer(tmp_path):
    from octavius.engine import OctaviusRunner

    runner = OctaviusRunner(
        model=_Routed(),
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=_Tokens(),
            sampler=dict(type="InfiniteSampler", shuffle=False),
            collate_fn=dict(type="default_collate"),
            batch_size=4,
            num_workers=0,
        ),
        train_cfg=dict(by_epoch=False, max_iters=4, val_interval=10**9),
        optim_wrapper=dict(optimizer=dict(type="AdamW", lr=1e-3)),
        default_hooks=dict(logger=dict(type="LoggerHook", interval=2), checkpoint=None),
        custom_hooks=[dict(type="ExpertLoadHook")],
        log_processor=dict(by_epoch=False),
        default_scope="octavius",
        log_level="WARNING",
    )
    runner.train()
    text = next(tmp_path.rglob("scalars.json")).read_text()
    lines = [json.loads(x) for x in text.splitlines()]
    logged = [x for x in lines if "expert_load/block.fc/share_0" in x]
    assert [x["step"] for x in logged] == [2, 4]
    for row in logged:
        # 4 samples × 5 tokens, one expert each: the shares are counts / 20.
        shares = [row[f"expert_load/block.fc/share_{j}"] for j in range(4)]
        assert sum(shares) == pytest.approx(1.0)
        assert all(abs(s * 40 - round(s * 40)) < 1e-9 for s in shares)  # 40 tokens per interval
        assert "expert_load/block.fc/token_balance_aux" in row
    summary = [x for x in lines if "expert_load/max_share" in x]
    assert len(summary) == 2
