"""Two-stage recipes: stage 2 starts from the stage-1 weights named by ``stage1_checkpoint``."""

from __future__ import annotations

import runpy

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from octavius.adapters import inject_adapters
from octavius.checkpoints.checkpoint import CheckpointMismatchError, save_checkpoint
from octavius.engine.two_stage_load_hook import (
    TwoStageLoadHook,
    adapter_parameter_names,
    load_stage1_weights,
)

from .tiny_setup import CONFIG, TRAIN, assets_root

RULE = dict(name="fc", targets=["block.fc"], experts=dict(type="LoRAExperts", rank=2))


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.projector = nn.Linear(4, 4)
        self.block = nn.Module()
        self.block.fc = nn.Linear(4, 4)


def _stage2(seed: int = 1) -> Net:
    torch.manual_seed(seed)
    net = Net()
    inject_adapters(net, RULE)
    net.projector.requires_grad_(True)
    return net


def test_stage1_weights_fill_the_projector_and_leave_the_adapters(tmp_path):
    torch.manual_seed(0)
    stage1 = Net()
    stage1.block.fc.requires_grad_(False)
    ckpt = save_checkpoint(tmp_path / "iter_10", stage1)
    stage2 = _stage2()
    adapters = {n: p.detach().clone() for n, p in stage2.named_parameters() if "experts" in n}
    assert adapter_parameter_names(stage2) == set(adapters)
    loaded = load_stage1_weights(stage2, ckpt)
    assert loaded == ["projector.bias", "projector.weight"]
    assert torch.equal(stage2.projector.weight, stage1.projector.weight)
    assert all(torch.equal(p, adapters[n]) for n, p in stage2.named_parameters() if n in adapters)


def test_missing_and_unexpected_keys_name_the_file(tmp_path):
    torch.manual_seed(0)
    full = {f"projector.{k}": v.clone() for k, v in Net().projector.state_dict().items()}
    save_file({"projector.weight": full["projector.weight"]}, tmp_path / "no_bias.safetensors")
    stage2 = _stage2()
    before = stage2.projector.weight.detach().clone()
    with pytest.raises(CheckpointMismatchError, match=r"no_bias\.safetensors.*projector\.bias"):
        load_stage1_weights(stage2, tmp_path / "no_bias.safetensors")
    assert torch.equal(stage2.projector.weight, before)  # nothing loaded on error
    load_stage1_weights(
        stage2, tmp_path / "no_bias.safetensors", allow_missing=[r"projector\.bias"]
    )
    assert torch.equal(stage2.projector.weight, full["projector.weight"])

    extra = full | {"fusion.queries": torch.zeros(2)}
    save_file(extra, tmp_path / "extra.safetensors")
    with pytest.raises(CheckpointMismatchError, match=r"extra\.safetensors.*fusion\.queries"):
        load_stage1_weights(stage2, tmp_path / "extra.safetensors")
    with pytest.raises(FileNotFoundError, match="stage1_checkpoint"):
        TwoStageLoadHook(str(tmp_path / "nowhere"))


def test_stage1_then_stage2_through_tools_train(tmp_path, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("OCTAVIUS_TEST_ASSETS", str(assets_root(tmp_path_factory)))
    monkeypatch.setenv("OCTAVIUS_TEST_DATA", str(tmp_path / "data"))
    train = runpy.run_path(str(TRAIN))["main"]
    common = ["--no-progress", "--cfg-options", "train_cfg.max_iters=2", "log_level=WARNING"]
    train([str(CONFIG), "--work-dir", str(tmp_path / "s1"), *common, "model.adapters=None"])
    stage1 = load_file(tmp_path / "s1" / "iter_2" / "adapter.safetensors")
    assert set(stage1) == {"projectors.image.proj.weight", "projectors.image.proj.bias"}

    # Learning rate 0: stage 2 keeps exactly the weights it started from.
    train([str(CONFIG), "--work-dir", str(tmp_path / "s2"), *common,
           f"stage1_checkpoint={tmp_path / 's1' / 'iter_2'}", "optim_wrapper.optimizer.lr=0.0"])  # fmt: skip
    stage2 = load_file(tmp_path / "s2" / "iter_2" / "adapter.safetensors")
    assert any("lora_A" in k for k in stage2) and any("router" in k for k in stage2)
    for key, value in stage1.items():
        assert torch.equal(stage2[key], value), key
