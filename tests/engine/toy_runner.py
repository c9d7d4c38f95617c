"""A toy mmengine training setup (frozen linear + trainable head + dropout) for checkpoint tests.

Also runnable as a script: ``python toy_runner.py WORK_DIR MAX_ITERS INTERVAL [--resume]`` trains
with ``SafeCheckpointHook`` and writes the final trainable weights to ``WORK_DIR/final.safetensors``;
``TOY_ITER_SLEEP=seconds`` slows each iteration down.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import Dataset


class ToyDataset(Dataset):
    """Fixed random regression pairs (deterministic, independent of the global generators)."""

    def __init__(self, n: int = 12) -> None:
        g = torch.Generator().manual_seed(1234)
        self.x = torch.randn(n, 8, generator=g)
        self.y = torch.randn(n, 2, generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return {"inputs": self.x[i], "targets": self.y[i]}


class CrashAt(Hook):
    """Raise before iteration ``at`` runs, like a process dying after its last checkpoint."""

    def __init__(self, at: int) -> None:
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter == self.at:
            raise SimulatedCrash(f"crash before iteration {self.at}")


class SimulatedCrash(RuntimeError):
    """Raised by :class:`CrashAt`."""


class SlowDown(Hook):
    """Sleep after each iteration, so a test can kill the process in the middle of training."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        time.sleep(self.seconds)


class ToyModel(BaseModel):
    """Frozen linear → dropout → trainable linear; dropout makes the RNG state matter."""

    def __init__(self) -> None:
        super().__init__()
        self.frozen = nn.Linear(8, 8)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(8, 2)
        # Frozen weights are not in checkpoints: like a pretrained LLM they must come back
        # identical from their source, here a fixed generator (so is the head's start).
        g = torch.Generator().manual_seed(99)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        self.frozen.requires_grad_(False)

    def forward(self, inputs, targets=None, mode="tensor"):
        out = self.head(self.drop(self.frozen(inputs)))
        if mode == "loss":
            return {"loss": F.mse_loss(out, targets)}
        return out


def build_runner(
    work_dir: str | Path,
    max_iters: int,
    interval: int,
    resume: bool = False,
    crash_at: int | None = None,
    **over,
):
    from octavius.engine import OctaviusRunner

    cfg = dict(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type="InfiniteSampler", shuffle=True),
            collate_fn=dict(type="default_collate"),
            batch_size=4,
            num_workers=0,
        ),
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=10**9),
        optim_wrapper=dict(optimizer=dict(type="AdamW", lr=0.05, weight_decay=0.01)),
        param_scheduler=[
            dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=3),
            dict(type="CosineAnnealingLR", by_epoch=False, begin=3, end=max_iters, eta_min=1e-4),
        ],
        default_hooks=dict(
            checkpoint=dict(
                type="SafeCheckpointHook", interval=interval, by_epoch=False, max_keep_ckpts=2
            ),
            logger=dict(type="LoggerHook", interval=1000),
        ),
        randomness=dict(seed=7),
        default_scope="octavius",
        resume=resume,
        log_level="WARNING",
        custom_hooks=[CrashAt(crash_at)] if crash_at is not None else [],
    )
    cfg.update(over)
    return OctaviusRunner(**cfg)


def trained_weights(runner) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in runner.model.named_parameters() if p.requires_grad}


if __name__ == "__main__":
    torch.set_num_threads(1)
    work, iters, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    slow = float(os.environ.get("TOY_ITER_SLEEP", "0"))
    hooks = [SlowDown(slow)] if slow else []
    runner = build_runner(work, iters, every, resume="--resume" in sys.argv, custom_hooks=hooks)
    runner.train()
    save_file(trained_weights(runner), str(Path(work) / "final.safetensors"))
