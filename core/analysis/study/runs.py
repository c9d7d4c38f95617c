"""Preparing and running the interference study's trainings (see :mod:`octavius.analysis.study.plan`).

- :func:`prepare_study_data` writes the synthetic set and, per task, its train and test samples
  (``<data>/tasks/<task>_{train,test}.json``);
- :func:`study_runs` lists the runs (one per method, one per task for the specialists) and
  :func:`write_run_config` specialises the method's config for a run: its tasks, the data, the
  budget, the work directory — written next to the run as ``config.py``;
- :func:`run_jobs` trains and tests the runs with ``tools/train.py --test``, a few processes at a
  time with one torch thread each, and skips runs that already have their ``metrics.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from octavius.analysis.study.plan import StudyMethod, StudyPlan, StudyTask

__all__ = [
    "StudyRun",
    "final_checkpoint",
    "is_complete",
    "prepare_study_data",
    "run_jobs",
    "study_runs",
    "write_run_config",
]


@dataclass(frozen=True)
class StudyRun:
    """One training of the study: a method on some tasks for some iterations, in ``work_dir``.

    ``budget_check`` runs train a method longer than the study's budget (reported apart).
    """

    name: str
    method: StudyMethod
    tasks: tuple[StudyTask, ...]
    work_dir: Path
    iterations: int
    budget_check: bool = False

    @property
    def config(self) -> Path:
        return self.work_dir / "config.py"

    @property
    def metrics(self) -> Path:
        return self.work_dir / "metrics.json"

    @property
    def log(self) -> Path:
        return self.work_dir / "run.log"


def prepare_study_data(plan: StudyPlan, data_dir: str | os.PathLike) -> Path:
    """Generate the synthetic set into ``data_dir`` and split it into per-task files.

    Returns:
        ``data_dir``; per-task files are ``tasks/<task>_<split>.json`` in it.
    """
    from octavius.testing.synthetic import make_synthetic

    root = Path(data_dir)
    tasks = sorted({t.generator_task for t in plan.tasks})
    made = make_synthetic(root, tasks=tasks, progress=False, **plan.synthetic)
    (root / "tasks").mkdir(exist_ok=True)
    for split in ("train", "test"):
        for task in plan.tasks:
            samples = json.loads(made.annotations[f"{task.modality}_{split}"].read_text("utf-8"))
            chosen = [s for s in samples if task.selects(s)]
            if not chosen:
                raise ValueError(
                    f"study task {task.name!r} has no {split} sample; raise the synthetic set's "
                    "num_images / num_scenes."
                )
            path = root / "tasks" / f"{task.name}_{split}.json"
            path.write_text(json.dumps(chosen, indent=1) + "\n", encoding="utf-8")
    return root


def study_runs(plan: StudyPlan, runs_dir: str | os.PathLike) -> list[StudyRun]:
    """Every run of the plan, the longer budget-check runs first (so they do not trail alone):
    per-task runs for the specialists, one mixture run for every other method."""
    root = Path(runs_dir)
    iters = plan.budget.iterations
    runs = []
    for key in plan.budget_check:
        method = next(m for m in plan.methods if m.key == key)
        name = f"{key}_it{plan.budget_check_iterations}"
        runs.append(
            StudyRun(name, method, plan.tasks, root / name, plan.budget_check_iterations, True)
        )
    for method in plan.methods:
        if method.per_task:
            for task in plan.tasks:
                name = f"{method.key}_{task.name}"
                runs.append(StudyRun(name, method, (task,), root / name, iters))
        else:
            runs.append(StudyRun(method.key, method, plan.tasks, root / method.key, iters))
    return runs


def _relocate_assets(cfg: Any, root: Path) -> None:
    """Point the model and tokenizers at tiny assets built under ``root``."""
    cfg.quickstart.tiny_assets.root = str(root)
    cfg.model.llm = str(root / "llama")
    cfg.model.encoders.image.pretrained = str(root / "clip")
    cfg.model.encoders.point_cloud.point_encoder.checkpoint = str(root / "point_bert.safetensors")


def _absolute(path: Any) -> str:
    return str(Path(str(path)).expanduser().resolve())


def write_run_config(
    run: StudyRun,
    plan: StudyPlan,
    data_dir: str | os.PathLike,
    repo_root: str | os.PathLike,
    assets_root: str | os.PathLike | None = None,
) -> Path:
    """Write ``run.config``: the method's config with the run's tasks, data, budget and work dir.

    Relative asset paths of the config are made absolute (against the current directory, where
    the study runs), so the run does not depend on the directory it is started from.
    """
    from octavius.config import load_config

    cfg = load_config(Path(repo_root) / run.method.config)
    quick = dict(cfg.get("quickstart") or {})
    cfg.quickstart = {"tiny_assets": dict(quick.get("tiny_assets") or {}), "test_after_train": True}
    if assets_root is not None:
        _relocate_assets(cfg, Path(assets_root).resolve())
    else:
        cfg.quickstart.tiny_assets.root = _absolute(cfg.quickstart.tiny_assets.root)
        cfg.model.llm = _absolute(cfg.model.llm)
        cfg.model.encoders.image.pretrained = _absolute(cfg.model.encoders.image.pretrained)
        encoder = cfg.model.encoders.point_cloud.point_encoder
        encoder.checkpoint = _absolute(encoder.checkpoint)
    template = dict(cfg.train_dataloader.dataset.datasets[0])
    common = {
        **template,
        "tokenizer": cfg.model.llm,
        "data_root": _absolute(data_dir),
        "image_root": "images",
        "point_root": "scenes",
    }

    def per_task(split: str) -> list[dict[str, Any]]:
        return [
            dict(
                common,
                ann_file=f"tasks/{t.name}_{split}.json",
                name=t.name,
                test_mode=split == "test",
            )
            for t in run.tasks
        ]

    names = [t.name for t in run.tasks]
    cfg.train_dataloader.batch_size = plan.budget.batch_size
    cfg.train_dataloader.dataset = dict(
        type="MixtureDataset", datasets=per_task("train"), names=names
    )
    cfg.test_dataloader.dataset = dict(type="ConcatDataset", datasets=per_task("test"))
    iters = run.iterations
    warmup = max(1, min(plan.budget.warmup, iters // 10))
    cfg.train_cfg = dict(type="IterBasedTrainLoop", max_iters=iters)
    cfg.param_scheduler[0].end = warmup
    cfg.param_scheduler[1].update(begin=warmup, end=iters)
    cfg.default_hooks.checkpoint.update(interval=iters, by_epoch=False, max_keep_ckpts=1)
    cfg.default_hooks.logger.interval = max(1, min(100, iters // 5))
    cfg.randomness = dict(seed=plan.budget.seed, deterministic=False)
    cfg.work_dir = str(run.work_dir.resolve())
    run.work_dir.mkdir(parents=True, exist_ok=True)
    cfg.dump(str(run.config))
    # A run is reused only if it was trained from this very config and data set.
    key = json.dumps(
        {"config": run.config.read_text(encoding="utf-8"), "synthetic": plan.synthetic},
        sort_keys=True,
        default=str,
    )
    stamp = run.work_dir / "study_run.json"
    if not stamp.is_file() or stamp.read_text(encoding="utf-8") != key:
        run.metrics.unlink(missing_ok=True)
        stamp.write_text(key, encoding="utf-8")
    return run.config


def final_checkpoint(run: StudyRun) -> Path:
    """The checkpoint the run ends with (``iter_<iterations>``)."""
    return run.work_dir / f"iter_{run.iterations}"


def is_complete(run: StudyRun) -> bool:
    """Whether the run has its final checkpoint and its ``metrics.json``."""
    return run.metrics.is_file() and final_checkpoint(run).exists()


def run_jobs(
    runs: Sequence[StudyRun],
    train_script: str | os.PathLike,
    jobs: int = 2,
    force: bool = False,
    log: Callable[[str], None] = print,
    poll: float = 2.0,
) -> dict[str, int]:
    """Train and test every run, ``jobs`` processes at a time, each with one torch thread.

    Args:
        runs: the runs (their configs written).
        train_script: ``tools/train.py``.
        jobs: processes at once.
        force: rerun runs that are already complete.
        log: progress messages.
        poll: seconds between checks of the running processes.

    Returns:
        run name → exit status (0 for runs skipped because complete).
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    pending = [r for r in runs if force or not is_complete(r)]
    status = {r.name: 0 for r in runs if r not in pending}
    for name in status:
        log(f"[study] {name}: complete, skipped")
    running: dict[str, tuple[subprocess.Popen, float, Any]] = {}
    while pending or running:
        while pending and len(running) < max(1, jobs):
            run = pending.pop(0)
            run.metrics.unlink(missing_ok=True)
            handle = run.log.open("w", encoding="utf-8")
            command = [
                sys.executable,
                str(train_script),
                str(run.config),
                "--work-dir",
                str(run.work_dir),
                "--no-progress",
            ]
            process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
            running[run.name] = (process, time.monotonic(), handle)
            log(f"[study] {run.name}: started ({len(status) + len(running)}/{len(runs)})")
        time.sleep(poll)
        for name, (process, start, handle) in list(running.items()):
            code = process.poll()
            if code is None:
                continue
            handle.close()
            del running[name]
            status[name] = code
            minutes = (time.monotonic() - start) / 60
            outcome = "done" if code == 0 else f"FAILED (exit {code}, see its run.log)"
            log(f"[study] {name}: {outcome} in {minutes:.1f} min")
    return status
