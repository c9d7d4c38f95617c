"""The interference study: do LoRA experts recover what a shared LoRA loses to conflicting tasks?

Regenerates everything — stage 0 (the tiny LLaMA pretrained on the synthetic world's text), the
pilot against SmolLM2, the conflict and control tasks, every training (specialists, the mixture
methods, the task pairs, the to-convergence variant; three seeds, equal epochs per task), the
interference scores and routing maps, the statistics and the generated sections and figures of
docs/interference_study.md:

    python tools/analysis/interference_study.py

Finished runs are reused unless ``--force``; ``--methods`` / ``--tasks`` / ``--seeds`` /
``--epochs`` restrict or rescale the study. Run it from the repository root.
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
        help="results page whose generated sections are rewritten",
    )
    parser.add_argument("--no-page", action="store_true", help="do not touch the results page")
    parser.add_argument(
        "--figures", type=Path, help="figure folder (default: docs/images/interference_study)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="worker processes, one thread each")
    parser.add_argument("--force", action="store_true", help="retrain complete runs")
    parser.add_argument(
        "--methods", nargs="+", help=f"subset of {[m.key for m in DEFAULT_STUDY.methods]}"
    )
    parser.add_argument(
        "--tasks", nargs="+", help=f"subset of {[t.name for t in DEFAULT_STUDY.tasks]}"
    )
    parser.add_argument("--seeds", nargs="+", type=int, help=f"default {DEFAULT_STUDY.seeds}")
    parser.add_argument(
        "--epochs", type=int, help=f"per run (default {DEFAULT_STUDY.budget.epochs})"
    )
    parser.add_argument(
        "--assets-root", type=Path, help="tiny CLIP / Point-BERT here instead of the default cache"
    )
    parser.add_argument("--no-analysis", action="store_true", help="train and evaluate only")
    parser.add_argument("--no-pilot", action="store_true", help="skip the SmolLM2 timing")
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> StudyPlan:
    plan = DEFAULT_STUDY.select(args.methods, args.tasks)
    if args.seeds:
        plan = dataclasses.replace(plan, seeds=tuple(args.seeds))
    if args.epochs is not None:
        plan = dataclasses.replace(
            plan, budget=dataclasses.replace(plan.budget, epochs=args.epochs)
        )
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load_plugins()
    shown = list(sys.argv[1:] if argv is None else argv)
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
        pilot=not args.no_pilot,
        log=lambda message: print(message, flush=True),
    )
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
