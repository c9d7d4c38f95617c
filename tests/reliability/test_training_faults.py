"""Faults during training: a NaN loss stops the run and keeps the last good checkpoint; leftovers
of a crashed run (``.tmp-*`` entries, checkpoints beyond ``max_keep_ckpts``) are cleaned."""

from __future__ import annotations

import shutil

import torch
from mmengine.hooks import Hook

from octavius.checkpoints import read_checkpoint
from octavius.registry import HOOKS
from tests.reliability.helpers import assert_user_error, run_tool


@HOOKS.register_module(force=True)
class PoisonWeightsHook(Hook):
    """Test fault: turns one LoRA weight into NaN before iteration ``at`` (1-based)."""

    priority = "VERY_LOW"

    def __init__(self, at: int = 3) -> None:
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.at:
            model = getattr(runner.model, "module", runner.model)
            param = next(p for n, p in model.named_parameters() if "lora_A" in n)
            with torch.no_grad():
                param.fill_(float("nan"))


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tiny, tmp_path):
    cfg = tmp_path / "poisoned.py"
    cfg.write_text(
        f"_base_ = ['{tiny['config']}']\ncustom_hooks = [dict(type='PoisonWeightsHook', at=3)]\n"
    )
    work = tmp_path / "w"
    result = run_tool("train", [str(cfg), "--work-dir", str(work), "--no-progress"])
    err = assert_user_error(result, "iteration 3", "loss", str(work / "iter_2"))
    assert "nan" in err.lower()
    assert (work / "last_checkpoint").read_text().strip() == str(work / "iter_2")
    assert not (work / "iter_4").exists()
    weights = read_checkpoint(work / "iter_2").weights  # verified checksum, finite values
    assert all(bool(torch.isfinite(t).all()) for t in weights.values())


def test_crash_leftovers_are_cleaned_and_pruning_counts_checkpoints_on_disk(
    tiny, trained, tmp_path
):
    work = tmp_path / "w"
    work.mkdir()
    stale = work / "iter_1"  # a checkpoint a crashed run never pruned
    shutil.copytree(trained / "iter_2", stale)
    (work / ".tmp-iter_3.k2j4").mkdir()  # a save interrupted before its rename
    (work / ".tmp-last_checkpoint.abc").write_text("partial")
    code, _, err = run_tool(
        "train",
        [str(tiny["config"]), "--work-dir", str(work), "--no-progress", "--cfg-options",
         "train_cfg.max_iters=4", "default_hooks.checkpoint.max_keep_ckpts=1"],
    )  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in work.iterdir() if p.name.startswith(("iter_", ".tmp-"))) == [
        "iter_4"
    ]
