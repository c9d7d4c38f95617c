"""The interference study end to end: base, pilot, data, trainings, analyses, statistics, page.

:func:`run_study` is what ``tools/analysis/interference_study.py`` runs::

    WORK/base/                 stage 0: the pretrained tiny LLaMA (cached by its spec)
    WORK/encoders/             stage 0: the pretrained image tower and point encoder (cached)
    WORK/features/             the frozen encoders' features of every study item (cached)
    WORK/pilot/pilot.json      the pilot's step times (tiny base against SmolLM2)
    WORK/data/                 images, scenes, tasks/<task>_{train,val,test}.json
    WORK/runs/<run>/           config.py, run.log, final/ (checkpoint), metrics.json
    WORK/analysis/<run>/       interference.json/.png, routing_maps.json/.png, analysis.json
    WORK/study.json            every number the page shows
    PAGE (docs/interference_study.md)   its generated sections, figures in FIGURES/

Finished runs and analyses are reused (``force`` retrains), so an interrupted study resumes.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from octavius.analysis.study.analysis import RunAnalysis
from octavius.analysis.study.plan import StudyPlan
from octavius.analysis.study.results import StudyResults, collect_results
from octavius.analysis.study.runs import (
    StudyRun,
    final_checkpoint,
    is_complete,
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
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every run trained and was evaluated."""
        return not self.results.missing and all(code == 0 for code in self.status.values())


def _analyse(job: tuple[StudyRun, StudyPlan, str, bool]) -> RunAnalysis | None:
    """One analysis in a worker (cached as ``analysis.json`` next to its figures)."""
    run, plan, out_dir, routing = job
    import torch

    from octavius.analysis.study.analysis import analyse_run
    from octavius.plugin_manager import load_plugins

    torch.set_num_threads(1)
    load_plugins()
    out = Path(out_dir)
    cache = out / "analysis.json"
    stamp = final_checkpoint(run).stat().st_mtime
    if cache.is_file():
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data.get("stamp") == stamp:
            data.pop("stamp")
            data["figures"] = {k: Path(v) for k, v in data["figures"].items()}
            return RunAnalysis(**data)
    try:
        analysis = analyse_run(run, plan, out, run.method.title, routing=routing)
    except Exception as err:
        (out / "error.txt").parent.mkdir(parents=True, exist_ok=True)
        (out / "error.txt").write_text(f"{type(err).__name__}: {err}\n", encoding="utf-8")
        return None
    data = dataclasses.asdict(analysis)
    data["figures"] = {k: str(v) for k, v in analysis.figures.items()}
    cache.write_text(json.dumps({**data, "stamp": stamp}) + "\n", encoding="utf-8")
    return analysis


def _analysis_jobs(plan: StudyPlan, runs: list[StudyRun], work: Path) -> list[tuple]:
    """Seed-0 mixture runs of every method (the individual oracle excepted: its task ids are the
    study's, not the data's), and the shared LoRA of every seed (for the pair correlation)."""
    jobs = []
    for run in runs:
        if run.variant != "fair" or run.method.per_task or run.method.key == "moe_individual":
            continue
        first = run.seed == plan.seeds[0]
        if (first or run.method.key == plan.shared_key) and final_checkpoint(run).exists():
            routing = first and run.method.routed
            jobs.append((run, plan, str(work / "analysis" / run.name), routing))
    return jobs


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
    pilot: bool = True,
    log: Callable[[str], None] = print,
) -> StudyOutcome:
    """Run the study (see the module docstring).

    Args:
        plan: tasks, methods, budget, seeds and data of the study.
        work_dir: where base, data, runs and analyses go.
        repo_root: the repository (``configs/study`` is found there).
        page: the results page to update; none when ``None``.
        figures_dir: where the page's figures go (default: ``docs/images/interference_study``).
        command: the command line printed on the page.
        jobs: worker processes (one torch thread each).
        force: retrain runs that are already complete.
        assets_root: the tiny CLIP and Point-BERT (built there if missing); the default cache
            when ``None``.
        analyse: compute interference scores and routing maps.
        pilot: time SmolLM2 against the tiny base (cached).
        log: progress messages.
    """
    from octavius.analysis.study.conflict_data import write_study_data
    from octavius.analysis.study.pretrain import pretrain_base
    from octavius.analysis.study.pretrain_encoders import pretrain_encoders
    from octavius.testing.tiny_assets import build_tiny_assets, default_assets_root

    start = time.monotonic()
    work = Path(work_dir)
    repo = Path(repo_root)
    info: dict[str, Any] = {}
    assets = Path(assets_root) if assets_root is not None else default_assets_root()
    tiny = build_tiny_assets(assets, point_bert=_point_bert_spec(repo))
    log(f"[study] stage 0: base LLM → {work / 'base'}")
    base = pretrain_base(work / "base", log=log, **plan.base)
    info["base"] = json.loads((base / "pretrain.json").read_text(encoding="utf-8"))
    if pilot:
        from octavius.analysis.study.pilot import run_pilot

        info["pilot"] = run_pilot(work / "pilot", base, log=log)
    log(f"[study] stage 0: encoders → {work / 'encoders'}")
    encoders = pretrain_encoders(
        work / "encoders", tiny.clip, _point_bert_spec(repo), log=log, **plan.encoders
    )
    info["encoders"] = {
        kind: json.loads((Path(path).parent if kind == "point_bert" else Path(path)).joinpath(
            "pretrain.json").read_text(encoding="utf-8"))
        for kind, path in encoders.items()
    }  # fmt: skip
    log(f"[study] data → {work / 'data'}")
    sizes = {k: plan.data[k] for k in ("train", "val", "test")}
    data_dir = write_study_data(
        work / "data", [t.name for t in plan.tasks], sizes, plan.data.get("seed", 0),
        plan.data.get("image_size", 32),
    )  # fmt: skip
    runs = study_runs(plan, work / "runs")
    cache = _feature_cache(plan, runs, work, data_dir, repo, assets, base, encoders, log)
    for run in runs:
        write_run_config(
            run, plan, data_dir, repo, assets, base_llm=base, encoders=encoders,
            feature_cache=cache,
        )  # fmt: skip
    trained = len(runs) if force else sum(not is_complete(r) for r in runs)
    log(f"[study] {len(runs)} runs, {trained} to train, {jobs} workers")
    train_start = time.monotonic()
    status = run_jobs(runs, plan, jobs=jobs, force=force, log=log)
    info["train_minutes"] = (time.monotonic() - train_start) / 60
    info["runs"], info["trained"] = len(runs), trained
    info["jobs"] = jobs
    info["total_steps"] = sum(
        json.loads(r.metrics.read_text())["steps"] for r in runs if r.metrics.is_file()
    )
    info["run_minutes"] = {
        r.name: json.loads(r.metrics.read_text())["minutes"] for r in runs if r.metrics.is_file()
    }
    outcome = StudyOutcome(collect_results(plan, runs, status), status=status, info=info)
    if analyse:
        todo = _analysis_jobs(plan, runs, work)
        log(f"[study] {len(todo)} analyses")
        if jobs > 1 and len(todo) > 1:
            with multiprocessing.get_context("spawn").Pool(jobs) as pool:
                found = pool.map(_analyse, todo, chunksize=1)
        else:
            found = [_analyse(job) for job in todo]
        outcome.analyses = [a for a in found if a is not None]
    outcome.minutes = (time.monotonic() - start) / 60
    info["minutes"] = outcome.minutes
    from octavius.analysis.study.page import publish, study_summary

    summary = study_summary(outcome)
    outcome.summary = work / "study.json"
    outcome.summary.write_text(json.dumps(summary, indent=1, default=str) + "\n", encoding="utf-8")
    if page is not None:
        page = Path(page)
        figures = (
            Path(figures_dir)
            if figures_dir is not None
            else page.parent / "images" / "interference_study"
        )
        outcome.page = publish(outcome, summary, page, figures, command, data_dir)
        log(f"[study] page → {outcome.page}")
    log(f"[study] finished in {outcome.minutes:.1f} min")
    return outcome


def _point_bert_spec(repo: Path) -> dict[str, Any]:
    from octavius.config import load_config

    cfg = load_config(repo / "configs" / "study" / "lora.py")
    return dict(cfg.quickstart.tiny_assets.point_bert)


def _feature_cache(
    plan: StudyPlan,
    runs: list[StudyRun],
    work: Path,
    data_dir: Path,
    repo: Path,
    assets: Path,
    base: Path,
    encoders: dict[str, Path],
    log: Callable[[str], None],
) -> Path:
    """Encode every item of every split once with the frozen encoders (``WORK/features``).

    Every run reads its images and scenes from here (``feature_cache``), so no run pays for the
    CLIP tower or the point encoder; the cache is keyed by the encoders' weights, so new weights
    re-encode it.
    """
    from octavius.config import load_config
    from octavius.features.build_cache import build_feature_cache

    cache_run = dataclasses.replace(
        runs[0], name="feature_cache", tasks=plan.tasks, work_dir=work / "features" / "config"
    )
    config = write_run_config(cache_run, plan, data_dir, repo, assets, base, encoders)
    cfg = load_config(config)
    cfg.train_dataloader.dataset.datasets = [
        *cfg.train_dataloader.dataset.datasets,
        *cfg.val_dataloader.dataset.datasets,
        *cfg.test_dataloader.dataset.datasets,
    ]
    out = work / "features" / "store"
    log(f"[study] feature cache → {out}")
    report = build_feature_cache(cfg, out, progress=False)
    log(f"[study] feature cache: encoded {report['encoded']}, reused {report['reused']}")
    return out
