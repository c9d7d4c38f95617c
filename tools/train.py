"""Train a model from a config (mmengine Runner; one process, or ``torchrun`` for DDP).

Examples::

    python tools/train.py configs/quickstart/octavius_2d3d_tiny.py
    python tools/train.py CONFIG --work-dir work_dirs/run1 --amp --cfg-options train_cfg.max_iters=100
    python tools/train.py CONFIG --resume                      # from work_dir/last_checkpoint
    python tools/train.py CONFIG --resume auto                 # ... or start anew if there is none
    python tools/train.py CONFIG --resume work_dirs/run1/iter_500
    torchrun --nproc_per_node 2 tools/train.py CONFIG --launcher pytorch

See docs/training.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mmengine.config import Config

from octavius.config import DictAction, load_config
from octavius.engine.launch import LAUNCHERS
from octavius.engine.train_entry import (
    TrainOptions,
    apply_train_options,
    default_work_dir,
    run_training,
)
from octavius.errors import run_cli, set_error_log_dir
from octavius.plugin_manager import load_plugins


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train an Octavius model.")
    parser.add_argument("config", help="config file")
    parser.add_argument("--work-dir", help="where logs and checkpoints go")
    parser.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="CKPT",
        help="resume from CKPT, or from work_dir/last_checkpoint when CKPT is omitted (an error "
        "when there is none); 'auto' starts a new run when there is nothing to resume",
    )
    parser.add_argument(
        "--allow-config-change",
        action="store_true",
        help="resume even if the checkpoint was trained with another model/optimizer config",
    )
    parser.add_argument("--amp", action="store_true", help="mixed precision (bfloat16 on CPU)")
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        help="override config entries, e.g. train_cfg.max_iters=100 optim_wrapper.optimizer.lr=1e-4",
    )
    parser.add_argument("--launcher", choices=LAUNCHERS, default="none", help="job launcher")
    parser.add_argument("--tensorboard", action="store_true", help="also log to TensorBoard")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--test", action="store_true", help="evaluate on the test set after training"
    )
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error")
    # torchrun < 2.0 passes --local_rank; newer versions set LOCAL_RANK.
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the command-line options to the config."""
    options = TrainOptions(
        work_dir=args.work_dir,
        resume=args.resume,
        allow_config_change=args.allow_config_change,
        amp=args.amp,
        launcher=args.launcher,
        tensorboard=args.tensorboard,
        progress=not args.no_progress,
        test_after_train=args.test,
    )
    return apply_train_options(cfg, options)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    set_error_log_dir(args.work_dir or default_work_dir(args.config))
    load_plugins()
    cfg = load_config(args.config, args.cfg_options)
    cfg = merge_args(cfg, args)
    set_error_log_dir(cfg.work_dir)
    run_training(cfg)


def cli(argv: Sequence[str] | None = None) -> int:
    """``main`` with errors reported as one paragraph; returns the exit code (2: user error)."""
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(cli())
