"""The interference study: does a shared LoRA lose to per-task LoRAs, and do LoRA experts help?

Regenerates everything — the synthetic 2D + 3D data, one training per method (and one per task
for the LoRA specialists) with the same budget, their evaluations, the interference scores,
routing maps and t-SNE, and the generated section of docs/interference_study.md:

    python tools/analysis/interference_study.py

Options change the scale (``--iterations``, ``--num-images``, ``--num-scenes``) or restrict the
study (``--methods``, ``--tasks``). Complete runs are reused unless ``--force``. Run it from the
repository root; see docs/interference_study.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from octavius.analysis.study.driver import run_study
from octavius.analysis.study.plan import DEFAULT_STUDY, StudyPlan
from octavius.plugin_manager import load_plugins

REPO = Path(__file__).resolve().parents[2]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--work-dir", type=Path, default=Path("work_dirs/interference_study"))
    parser.add_argument(
        "--page",
        type=Path,
        default=REPO / "docs" / "interference_study.md",
        help="results page whose generated section is rewritten",
    )
    parser.add_argument("--no-page", action="store_true", help="do not touch the results page")
    parser.add_argument("--figures", type=Path, help="figure folder (default: next to the page)")
    parser.add_argument("--jobs", type=int, default=2, help="trainings at once, one thread each")
    parser.add_argument("--force", action="store_true", help="retrain complete runs")
    parser.add_argument(
        "--methods", nargs="+", help=f"subset of {[m.key for m in DEFAULT_STUDY.methods]}"
    )
    parser.add_argument(
        "--tasks", nargs="+", help=f"subset of {[t.name for t in DEFAULT_STUDY.tasks]}"
    )
    parser.add_argument(
        "--iterations", type=int, help=f"per run (default {DEFAULT_STUDY.budget.iterations})"
    )
    parser.add_argument(
        "--num-images",
        type=int,
        help=f"synthetic images (default {DEFAULT_STUDY.synthetic['num_images']})",
    )
    parser.add_argument(
        "--num-scenes",
        type=int,
        help=f"synthetic scenes (default {DEFAULT_STUDY.synthetic['num_scenes']})",
    )
    parser.add_argument(
        "--batches-per-task", type=int, help="gradient batches per task for the interference score"
    )
    parser.add_argument(
        "--assets-root", type=Path, help="build the tiny models here instead of .cache/quickstart"
    )
    parser.add_argument("--no-analysis", action="store_true", help="train and evaluate only")
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> StudyPlan:
    plan = DEFAULT_STUDY.select(args.methods, args.tasks)
    if args.iterations is not None:
        plan = dataclasses.replace(
            plan, budget=dataclasses.replace(plan.budget, iterations=args.iterations)
        )
    synthetic = dict(plan.synthetic)
    if args.num_images is not None:
        synthetic["num_images"] = args.num_images
    if args.num_scenes is not None:
        synthetic["num_scenes"] = args.num_scenes
    analysis = dict(plan.analysis)
    if args.batches_per_task is not None:
        analysis["batches_per_task"] = args.batches_per_task
    return dataclasses.replace(plan, synthetic=synthetic, analysis=analysis)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load_plugins()
    shown = [a for a in (sys.argv[1:] if argv is None else argv)]
    command = shlex.join(["python", "tools/analysis/interference_study.py", *shown])
    outcome = run_study(
        make_plan(args),
        args.work_dir,
        REPO,
        page=None if args.no_page else args.page,
        figures_dir=args.figures,
        command=command,
        jobs=args.jobs,
        force=args.force,
        assets_root=args.assets_root,
        analyse=not args.no_analysis,
        log=lambda message: print(message, flush=True),
    )
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
