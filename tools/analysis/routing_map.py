"""Routing maps and the expert-selection t-SNE of a trained model on a dataset.

    python tools/analysis/routing_map.py CONFIG CHECKPOINT [--split test] [--task-key task_type]
        [--out DIR] [--layers REGEX] [--max-per-task N] [--tsne-layers REGEX] [--no-tsne]

Writes DIR/routing_maps.json (mean and std of the routing weight — instance routers — or token
share — token routers — per expert, task and layer), DIR/routing_maps.png (Octavius Fig. 6,
LLaVA-MoLE Fig. 3) and DIR/selection_tsne.png (MixLoRA Fig. 5). See docs/interference_study.md.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from mmengine.config import DictAction

from octavius.analysis.report_files import routing_report
from octavius.analysis.task_batches import build_split_dataset, default_output_dir
from octavius.config import load_config
from octavius.loading import load_model
from octavius.plugin_manager import load_plugins


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("config", help="the run's config file")
    parser.add_argument("checkpoint", nargs="?", help="checkpoint directory or weights file")
    parser.add_argument("--split", choices=("train", "val", "test"), default="test")
    parser.add_argument(
        "--task-key",
        default="task_type",
        help="sample field or format, e.g. '{dataset}/{task_type}'",
    )
    parser.add_argument("--tasks", nargs="+", help="tasks to include, in row order")
    parser.add_argument(
        "--out", type=Path, help="output directory (default: <checkpoint or work dir>/analysis)"
    )
    parser.add_argument("--layers", help="regular expression selecting recorded layers")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-per-task", type=int, help="samples per task (default: all)")
    parser.add_argument("--max-panels", type=int, default=6, help="layers drawn in the PNG")
    parser.add_argument(
        "--tsne-layers", help="layers describing a sample in the t-SNE (default: all)"
    )
    parser.add_argument("--no-tsne", action="store_true")
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
    dataset = build_split_dataset(cfg, args.split)
    report = routing_report(
        model,
        dataset,
        out,
        task_key=args.task_key,
        tasks=args.tasks,
        layers=args.layers,
        batch_size=args.batch_size,
        max_per_task=args.max_per_task,
        max_panels=args.max_panels,
        tsne_layers=args.tsne_layers,
        tsne=not args.no_tsne,
        title=Path(args.config).stem,
    )
    for kind, path in report.files.items():
        print(f"{kind}: {path}")


if __name__ == "__main__":
    main()
