"""Command-line options → config, the LR schedule, bfloat16 autocast, strategies, throughput."""

from __future__ import annotations

import math
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import PARAM_SCHEDULERS
from torch import nn

from octavius.engine.autocast_optim_wrapper import AutocastOptimWrapper
from octavius.engine.launch import (
    apply_launcher,
    check_strategy,
    runner_class,
)
from octavius.engine.progress_hook import count_text_tokens
from octavius.engine.schedules import warmup_cosine
from octavius.engine.train_entry import TrainOptions, apply_train_options
from octavius.errors import MissingDependencyError
from octavius.registry import OPTIM_WRAPPERS

from .tiny_setup import CONFIG


def _cfg(**extra) -> Config:
    cfg = Config.fromfile(str(CONFIG))
    cfg.merge_from_dict(extra)
    return cfg


def test_defaults_work_dir_runner_and_progress():
    cfg = apply_train_options(_cfg(), TrainOptions())
    assert cfg.work_dir == "work_dirs/tiny_train_config"
    assert cfg.runner_type == "OctaviusRunner" and cfg.launcher == "none"
    assert [h["type"] for h in cfg.custom_hooks] == ["ProgressHook"]
    assert not cfg.get("resume") and cfg.get("load_from") is None
    again = apply_train_options(cfg, TrainOptions(work_dir="w"))
    assert again.work_dir == "w" and [h["type"] for h in again.custom_hooks] == ["ProgressHook"]
    quiet = apply_train_options(again, TrainOptions(progress=False))
    assert quiet.custom_hooks == []


def test_resume_auto_and_from_a_checkpoint():
    auto = apply_train_options(_cfg(), TrainOptions(resume=True))
    assert auto.resume is True and auto.get("load_from") is None
    named = apply_train_options(_cfg(), TrainOptions(resume="w/iter_4"))
    assert named.resume is True and named.load_from == "w/iter_4"


def test_amp_on_cpu_is_bfloat16_autocast():
    cfg = apply_train_options(_cfg(), TrainOptions(amp=True))
    assert cfg.optim_wrapper.type == "AutocastOptimWrapper"
    assert cfg.optim_wrapper.dtype == "bfloat16"
    custom = _cfg(optim_wrapper=dict(type="ApexOptimWrapper"))
    with pytest.raises(ValueError, match="ApexOptimWrapper"):
        apply_train_options(custom, TrainOptions(amp=True))


def test_autocast_optim_wrapper_runs_matmuls_in_bfloat16():
    model = nn.Linear(4, 3)
    wrapper = OPTIM_WRAPPERS.build(
        dict(
            type="AutocastOptimWrapper",
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            accumulative_counts=2,
        )
    )
    assert isinstance(wrapper, AutocastOptimWrapper) and isinstance(wrapper, OptimWrapper)
    before = model.weight.detach().clone()
    for _ in range(2):  # one optimizer step after two accumulated backward passes
        with wrapper.optim_context(model):
            out = model(torch.ones(2, 4))
        assert out.dtype == torch.bfloat16
        wrapper.update_params(out.float().sum())
    assert model.weight.dtype == torch.float32 and not torch.equal(model.weight, before)
    with pytest.raises(ValueError, match="dtype"):
        AutocastOptimWrapper(dtype="int8", optimizer=torch.optim.SGD(model.parameters(), lr=0.1))


def test_tensorboard_backend_is_added_once():
    cfg = apply_train_options(_cfg(), TrainOptions(tensorboard=True))
    types = [b["type"] for b in cfg.visualizer.vis_backends]
    assert types == ["LocalVisBackend", "TensorboardVisBackend"]
    cfg = apply_train_options(cfg, TrainOptions(tensorboard=True))
    assert len(cfg.visualizer.vis_backends) == 2


def test_stage1_checkpoint_adds_the_two_stage_hook():
    cfg = apply_train_options(_cfg(stage1_checkpoint="w1/iter_2"), TrainOptions())
    assert {"type": "TwoStageLoadHook", "checkpoint": "w1/iter_2"} in cfg.custom_hooks
    with pytest.raises(ValueError, match="load_from"):
        apply_train_options(_cfg(stage1_checkpoint="a", load_from="b"), TrainOptions())


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU launcher settings")
def test_pytorch_launcher_on_cpu_uses_gloo_and_cpu_ddp():
    cfg = _cfg(
        model_wrapper_cfg=dict(type="MMDistributedDataParallel", find_unused_parameters=True)
    )
    apply_launcher(cfg, "pytorch")
    assert cfg.launcher == "pytorch" and cfg.env_cfg.dist_cfg.backend == "gloo"
    assert cfg.model_wrapper_cfg.device_ids is None
    assert cfg.model_wrapper_cfg.find_unused_parameters is True
    with pytest.raises(ValueError, match="gloo"):
        apply_launcher(_cfg(env_cfg=dict(dist_cfg=dict(backend="nccl"))), "pytorch")
    with pytest.raises(ValueError, match="launcher"):
        apply_launcher(_cfg(), "horovod")


def test_deepspeed_strategy_without_deepspeed_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "deepspeed", None)  # import deepspeed → ImportError
    cfg = _cfg(strategy=dict(type="DeepSpeedStrategy", zero_optimization=dict(stage=2)))
    with pytest.raises(MissingDependencyError, match=r"pip install octavius\[deepspeed\]"):
        check_strategy(cfg)
    check_strategy(_cfg(strategy=dict(type="FSDPStrategy")))  # no optional package needed
    from mmengine.runner import FlexibleRunner

    assert issubclass(runner_class(cfg), FlexibleRunner)
    assert runner_class(_cfg()).__name__ == "OctaviusRunner"


def _lrs(schedule, steps, lr=1.0):
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
    schedulers = [PARAM_SCHEDULERS.build({**s, "optimizer": optimizer}) for s in schedule]
    values = []
    for _ in range(steps):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        for s in schedulers:
            s.step()
    return values


def test_warmup_cosine_schedule():
    schedule = warmup_cosine(max_iters=20, warmup_iters=5, eta_min=0.01, start_factor=0.1)
    assert [s["type"] for s in schedule] == ["LinearLR", "CosineAnnealingLR"]
    lrs = _lrs(schedule, 20)
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[:5] == sorted(lrs[:5])  # rising
    assert lrs[5] == pytest.approx(1.0)
    for t in range(5, 20):  # closed-form cosine from 1.0 down to eta_min over 15 steps
        expected = 0.01 + 0.5 * (1.0 - 0.01) * (1 + math.cos(math.pi * (t - 5) / 15))
        assert lrs[t] == pytest.approx(expected, rel=1e-6)
    assert warmup_cosine(10, warmup_iters=0)[0]["type"] == "CosineAnnealingLR"
    with pytest.raises(ValueError, match="start_factor"):
        warmup_cosine(10, start_factor=0.0)


def test_count_text_tokens():
    batch = {"inputs": {"input_ids": [torch.ones(5), torch.ones(3)]}}
    assert count_text_tokens(batch) == 8
    padded = {
        "inputs": {
            "input_ids": torch.ones(2, 5),
            "attention_mask": torch.tensor([[1] * 5, [1, 1, 0, 0, 0]]),
        }
    }
    assert count_text_tokens(padded) == 7
    assert count_text_tokens({"inputs": torch.ones(2)}) is None
