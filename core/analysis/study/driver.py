"""The interference study end to end: data, trainings, evaluations, analyses, results page.

:func:`run_study` is what ``tools/analysis/interference_study.py`` runs::

    WORK/data/                 the synthetic set and its per-task files
    WORK/runs/<run>/           config.py, run.log, the final checkpoint, metrics.json
    WORK/analysis/<run>/       interference.json/.png, routing_maps.json/.png, selection_tsne.png
    WORK/study.json            scores, gaps, recovered shares, interference summaries
    PAGE (docs/interference_study.md)   its generated section, figures in FIGURES/

Runs that already have their ``metrics.json`` and checkpoint are not trained again (``force``
retrains them), so an interrupted study resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from octavius.analysis.study.analysis import RunAnalysis, analyse_run
from octavius.analysis.study.page import (
    publish_figures,
    study_sections,
    task_statistics,
    write_study_page,
)
from octavius.analysis.study.plan import StudyPlan
from octavius.analysis.study.results import StudyResults, collect_results
from octavius.analysis.study.runs import (
    final_checkpoint,
    is_complete,
    prepare_study_data,
    run_jobs,
    study_runs,
    write_run_config,
)

__all__ = ["StudyOutcome", "run_study"]


@dataclass
class StudyOutcome:
    """What :func:`run_study` produced."""

    results: StudyResults
    analyses: list[RunAnalysis] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)
    page: Path | None = None
    summary: Path | None = None
    minutes: float = 0.0

    @property
    def ok(self) -> bool:
        """Every run trained and was evaluated."""
        return not self.results.missing and all(code == 0 for code in self.status.values())


def _summary(outcome: StudyOutcome) -> dict:
    results = outcome.results
    plan = results.plan
    return {
        "plan": dataclasses.asdict(plan),
        "scores": results.scores,
        "budget_check": results.budget_check,
        "averages": {m.key: results.average(m.key) for m in plan.methods},
        "gap": results.gap(),
        "task_gaps": results.task_gaps(),
        "recovered_percent": {m.key: results.recovered(m.key) for m in plan.methods},
        "interference": {a.run: a.interference for a in outcome.analyses},
        "adapter_params": {a.run: a.adapter_params for a in outcome.analyses},
        "status": outcome.status,
        "missing": results.missing,
        "minutes": outcome.minutes,
    }


def run_study(
    plan: StudyPlan,
    work_dir: str | os.PathLike,
    repo_root: str | os.PathLike,
    page: str | os.PathLike | None = None,
    figures_dir: str | os.PathLike | None = None,
    command: str = "python tools/analysis/interference_study.py",
    jobs: int = 2,
    force: bool = False,
    assets_root: str | os.PathLike | None = None,
    analyse: bool = True,
    log: Callable[[str], None] = print,
) -> StudyOutcome:
    """Run the study (see the module docstring).

    Args:
        plan: tasks, methods, budget and data of the study.
        work_dir: where data, runs and analyses go.
        repo_root: the repository (method configs and ``tools/train.py`` are found there).
        page: the results page to update; none when ``None``.
        figures_dir: where the page's figures go (default: a folder named after the page).
        command: the command line printed on the page.
        jobs: trainings at once (each with one torch thread).
        force: retrain runs that are already complete.
        assets_root: build the tiny models here instead of the configs' cache directory.
        analyse: compute interference scores, routing maps and t-SNE of the mixture runs.
        log: progress messages.
    """
    start = time.monotonic()
    work = Path(work_dir)
    repo = Path(repo_root)
    log(f"[study] data → {work / 'data'}")
    data_dir = prepare_study_data(plan, work / "data")
    runs = study_runs(plan, work / "runs")
    for run in runs:
        write_run_config(run, plan, data_dir, repo, assets_root)
    trained = len(runs) if force else sum(not is_complete(r) for r in runs)
    status = run_jobs(runs, repo / "tools" / "train.py", jobs=jobs, force=force, log=log)
    outcome = StudyOutcome(collect_results(plan, runs, status), status=status)
    if analyse:
        # One thread: on a shared machine, oversubscribed OpenMP threads spin and crawl.
        torch.set_num_threads(1)
        for run in runs:
            skip = run.method.per_task or run.budget_check or status.get(run.name)
            if skip or not final_checkpoint(run).exists():
                continue
            log(f"[study] analysing {run.name}")
            outcome.analyses.append(
                analyse_run(run, plan, work / "analysis" / run.name, run.method.title)
            )
    outcome.minutes = (time.monotonic() - start) / 60
    log(outcome.results.table())
    outcome.summary = work / "study.json"
    outcome.summary.write_text(
        json.dumps(_summary(outcome), indent=1, default=str) + "\n", encoding="utf-8"
    )
    if page is not None:
        page = Path(page)
        figures = Path(figures_dir) if figures_dir is not None else page.with_suffix("")
        links = publish_figures(outcome.analyses, figures, page)
        sections = study_sections(
            outcome.results,
            outcome.analyses,
            task_statistics(plan, data_dir),
            links,
            command,
            outcome.minutes,
            trained,
        )
        outcome.page = write_study_page(page, sections)
        log(f"[study] page → {outcome.page}")
    log(f"[study] finished in {outcome.minutes:.1f} min")
    return outcome
