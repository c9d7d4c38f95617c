"""MixLoRA's task-interference score (eq. 2–3) of a trained model, per layer, for LoRA A and B.

    python tools/analysis/task_interference.py CONFIG CHECKPOINT [--split train]
        [--task-key task_type] [--batches-per-task 4] [--batch-size 4] [--group-by block] [--out DIR]

Writes DIR/interference.json (I[i][j] per parameter group and the mean over groups),
DIR/interference.png (the mean, MixLoRA Fig. 7) and DIR/interference_<group>.png (Fig. 2).
See docs/interference_study.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from mmengine.config import DictAction

from octavius.analysis.report_files import interference_report
from octavius.analysis.task_batches import build_split_dataset, default_output_dir
from octavius.analysis.task_gradients import GROUPINGS
from octavius.config import load_config
from octavius.loading import load_model
from octavius.plugin_manager import load_plugins


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("config", help="the run's config file")
    parser.add_argument("checkpoint", nargs="?", help="checkpoint directory or weights file")
    parser.add_argument(
        "--split",
        choices=("train", "val", "test"),
        default="train",
        help="samples for the gradients (encoded with their responses)",
    )
    parser.add_argument(
        "--task-key",
        default="task_type",
        help="sample field or format, e.g. '{dataset}/{task_type}'",
    )
    parser.add_argument("--tasks", nargs="+", help="tasks to compare, in row order")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--batches-per-task", type=int, default=4)
    parser.add_argument("--group-by", choices=GROUPINGS, default="block")
    parser.add_argument("--layers", help="regular expression on adapted-linear names")
    parser.add_argument("--max-group-plots", type=int, default=4)
    parser.add_argument(
        "--out", type=Path, help="output directory (default: <checkpoint or work dir>/analysis)"
    )
    parser.add_argument(
        "--cfg-options", nargs="+", action=DictAction, help="override config entries"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    load_plugins()
    cfg = load_config(args.config, args.cfg_options)
    out = args.out or default_output_dir(cfg, args.checkpoint)
    model = load_model(cfg, args.checkpoint)
    dataset = build_split_dataset(cfg, args.split, with_responses=True)
    scores = interference_report(
        model,
        dataset,
        out,
        task_key=args.task_key,
        tasks=args.tasks,
        batch_size=args.batch_size,
        batches_per_task=args.batches_per_task,
        group_by=args.group_by,
        layers=args.layers,
        max_group_plots=args.max_group_plots,
        title=Path(args.config).stem,
    )
    for part in ("A", "B"):
        print(f"LoRA {part}, mean over {len(scores.groups)} group(s) (row i affected by column j):")
        for task, row in zip(scores.tasks, scores.mean(part).tolist()):
            print(f"  {task:>24}: " + " ".join(f"{v:7.2f}" for v in row))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
