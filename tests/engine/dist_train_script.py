"""Training entry for the distributed test (started by ``torchrun`` or as one process).

``python dist_train_script.py CONFIG WORK_DIR LAUNCHER [--resume] [KEY=VALUE ...]`` trains like
``tools/train.py`` and then writes this process's trainable weights to
``WORK_DIR/rank<R>.safetensors``, so the test can compare what every rank ended with (sharded
parameters are gathered whole first).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from mmengine.dist import get_rank
from safetensors.torch import save_file

from octavius.checkpoints.checkpoint import trainable_state_dict
from octavius.config import DictAction, load_config
from octavius.engine.train_entry import TrainOptions, apply_train_options, run_training


def main() -> None:
    config, work_dir, launcher, *overrides = sys.argv[1:]
    resume = "--resume" in overrides
    overrides = [item for item in overrides if item != "--resume"]
    torch.set_num_threads(1)
    options = {}
    for item in overrides:
        key, value = item.split("=", 1)
        options[key] = DictAction._parse_iterable(value)
    cfg = load_config(config, options)
    apply_train_options(
        cfg, TrainOptions(work_dir=work_dir, launcher=launcher, progress=False, resume=resume)
    )
    runner = run_training(cfg)
    weights = {}
    for key, value in trainable_state_dict(runner.model).items():
        if hasattr(value, "full_tensor"):  # a FullyShardStrategy shard: gather (all ranks call)
            value = value.full_tensor()
        weights[key] = value.detach().contiguous().clone()
    save_file(weights, str(Path(work_dir) / f"rank{get_rank()}.safetensors"))


if __name__ == "__main__":
    main()
