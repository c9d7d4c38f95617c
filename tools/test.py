"""Evaluate a checkpoint: generate answers, compute the paper metrics, print the tables.

Example::

    python tools/test.py CONFIG work_dirs/run1/iter_5000 --work-dir work_dirs/run1/eval

writes ``WORK_DIR/metrics.json`` (flat ``{"dataset/task/metric": value}``) and
``WORK_DIR/predictions.jsonl``. See docs/training.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mmengine.config import Config

from octavius.config import DictAction, load_config
from octavius.engine.launch import LAUNCHERS
from octavius.engine.test_entry import apply_test_options, run_test
from octavius.engine.train_entry import default_work_dir
from octavius.errors import run_cli, set_error_log_dir
from octavius.plugin_manager import load_plugins


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Evaluate an Octavius checkpoint.")
    parser.add_argument("config", help="config file")
    parser.add_argument("checkpoint", help="checkpoint directory (iter_N/) or weights file")
    parser.add_argument("--work-dir", help="where metrics.json and predictions.jsonl go")
    parser.add_argument(
        "--predictions", default="predictions.jsonl", help="predictions file name in work dir"
    )
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        help="override config entries, e.g. test_dataloader.batch_size=4",
    )
    parser.add_argument("--launcher", choices=LAUNCHERS, default="none", help="job launcher")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the command-line options to the config."""
    return apply_test_options(
        cfg,
        work_dir=args.work_dir,
        launcher=args.launcher,
        progress=not args.no_progress,
        predictions=args.predictions,
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    set_error_log_dir(args.work_dir or default_work_dir(args.config))
    load_plugins()
    cfg = load_config(args.config, args.cfg_options)
    cfg = merge_args(cfg, args)
    set_error_log_dir(cfg.work_dir)
    run_test(cfg, args.checkpoint)


def cli(argv: Sequence[str] | None = None) -> int:
    """``main`` with errors reported as one paragraph; returns the exit code (2: user error)."""
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(cli())
