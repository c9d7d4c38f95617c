"""The interference study's runs: which trainings, their configs, and running them in parallel.

- :func:`study_runs` lists every run of a plan: per seed, the specialists (one per task), each
  mixture method on every task, the shared LoRA on each task pair, and the to-convergence runs;
- :func:`epoch_steps` is the budget rule: ``epochs × ⌈samples / batch⌉`` steps, so every task
  sees each of its samples ``epochs`` times in any run;
- :func:`write_run_config` specialises a method's config for a run (its tasks, the data, the
  base LLM) and writes it as the run's ``config.py``; a run is reused only if its config and
  spec did not change;
- :func:`run_jobs` trains the runs that are not complete in a pool of worker processes
  (:func:`octavius.analysis.study.trainer.train_run_safely`), one torch thread each.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import multiprocessing
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from octavius.analysis.study.plan import StudyMethod, StudyPlan, StudyTask

__all__ = [
    "StudyRun",
    "epoch_steps",
    "final_checkpoint",
    "is_complete",
    "run_jobs",
    "study_runs",
    "write_run_config",
]

VARIANTS = ("fair", "pair", "converge")


@dataclass(frozen=True)
class StudyRun:
    """One training: a method on some tasks with one seed, in ``work_dir``.

    ``variant``: ``"fair"`` (equal epochs), ``"pair"`` (shared LoRA on a task pair, equal
    epochs) or ``"converge"`` (early stopping on the validation split).
    """

    name: str
    method: StudyMethod
    tasks: tuple[StudyTask, ...]
    seed: int
    work_dir: Path
    variant: str = "fair"

    @property
    def config(self) -> Path:
        return self.work_dir / "config.py"

    @property
    def metrics(self) -> Path:
        return self.work_dir / "metrics.json"

    @property
    def log(self) -> Path:
        return self.work_dir / "run.log"

    def spec(self, plan: StudyPlan) -> dict[str, Any]:
        """What the trainer needs (plain data, sent to a worker process)."""
        budget = plan.budget
        converge = self.variant == "converge"
        names = [t.name for t in plan.tasks]
        return {
            "name": self.name,
            "config": str(self.config),
            "work_dir": str(self.work_dir),
            "tasks": [t.name for t in self.tasks],
            "task_ids": [names.index(t.name) for t in self.tasks],
            "seed": self.seed,
            "epochs": budget.max_epochs if converge else budget.epochs,
            "patience": budget.patience if converge else None,
            "batch_size": budget.batch_size,
            "lr": budget.lr,
        }


def epoch_steps(samples_per_task: Sequence[int], epochs: int, batch_size: int) -> int:
    """Optimizer steps of ``epochs`` passes over the union of the tasks' training samples."""
    return epochs * math.ceil(sum(samples_per_task) / batch_size)


def study_runs(plan: StudyPlan, runs_dir: str | os.PathLike) -> list[StudyRun]:
    """Every run of the plan, seed by seed, the mixture runs (longest) first within a seed."""
    root = Path(runs_dir)
    mixtures, pairs, singles = [], [], []
    for seed in plan.seeds:
        for variant in ("fair", "converge"):
            suffix = f"s{seed}" if variant == "fair" else f"conv_s{seed}"
            for method in plan.methods:
                if variant == "converge" and not (
                    method.per_task or method.key in plan.convergence
                ):
                    continue
                if variant == "converge" and (
                    seed not in plan.convergence_seeds or not plan.convergence
                ):
                    continue
                if method.per_task:
                    for task in plan.tasks:
                        name = f"{method.key}_{task.name}_{suffix}"
                        singles.append(StudyRun(name, method, (task,), seed, root / name, variant))
                else:
                    name = f"{method.key}_{suffix}"
                    mixtures.append(StudyRun(name, method, plan.tasks, seed, root / name, variant))
        shared = next((m for m in plan.methods if m.key == plan.shared_key), None)
        for a, b in plan.pairs if shared is not None and seed in plan.pair_seeds else ():
            name = f"pair_{a}+{b}_s{seed}"
            tasks = (plan.task(a), plan.task(b))
            pairs.append(StudyRun(name, shared, tasks, seed, root / name, "pair"))
    # Seed by seed (an interrupted study has whole seeds), the longest runs first within each.
    return sorted(mixtures + pairs + singles, key=lambda r: r.seed)


@functools.cache
def _method_config(path: str) -> Any:
    """A method's config, parsed once per process (a study writes dozens of runs of each)."""
    from octavius.config import load_config

    return load_config(path)


def _absolute(path: Any) -> str:
    return str(Path(str(path)).expanduser().resolve())


def write_run_config(
    run: StudyRun,
    plan: StudyPlan,
    data_dir: str | os.PathLike,
    repo_root: str | os.PathLike,
    assets_root: str | os.PathLike | None = None,
    base_llm: str | os.PathLike | None = None,
    encoders: dict[str, Path] | None = None,
    feature_cache: str | os.PathLike | None = None,
) -> Path:
    """Write ``run.config``: the method's config with the run's tasks, data and base LLM.

    Args:
        run: the run.
        plan: its plan (budget and data enter the reuse key).
        data_dir: the study data (``tasks/<task>_<split>.json``, ``images/``, ``scenes/``).
        repo_root: where ``configs/study`` is.
        assets_root: the tiny CLIP / Point-BERT (and, without ``base_llm``, LLaMA) assets;
            the config's cache directory when ``None``.
        base_llm: the stage-0 pretrained base; the config's LLM when ``None``.
        encoders: the stage-0 pretrained encoders, ``dict(clip=dir, point_bert=file)``
            (:func:`~octavius.analysis.study.pretrain_encoders.pretrain_encoders`).
        feature_cache: a feature cache of the frozen encoders on the study data
            (``tools/data/cache_features.py``), read by the training datasets.
    """
    from mmengine.config import Config

    cfg = copy.deepcopy(_method_config(str(Path(repo_root) / run.method.config)))
    quick = dict(cfg.get("quickstart") or {})
    cfg.quickstart = {"tiny_assets": dict(quick.get("tiny_assets") or {})}
    if assets_root is not None:
        root = Path(assets_root).resolve()
        cfg.quickstart.tiny_assets.root = str(root)
        cfg.model.llm = str(root / "llama")
        cfg.model.encoders.image.pretrained = str(root / "clip")
        cfg.model.encoders.point_cloud.point_encoder.checkpoint = str(
            root / "point_bert.safetensors"
        )
    else:
        cfg.quickstart.tiny_assets.root = _absolute(cfg.quickstart.tiny_assets.root)
        cfg.model.llm = _absolute(cfg.model.llm)
        cfg.model.encoders.image.pretrained = _absolute(cfg.model.encoders.image.pretrained)
        encoder = cfg.model.encoders.point_cloud.point_encoder
        encoder.checkpoint = _absolute(encoder.checkpoint)
    if base_llm is not None:
        cfg.model.llm = _absolute(base_llm)
    if encoders is not None:
        cfg.model.encoders.image.pretrained = _absolute(encoders["clip"])
        cfg.model.encoders.point_cloud.point_encoder.checkpoint = _absolute(encoders["point_bert"])
    if feature_cache is not None:
        cfg.feature_cache = _absolute(feature_cache)
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
            dict(common, ann_file=f"tasks/{t.name}_{split}.json", name=t.name,
                 test_mode=split != "train")
            for t in run.tasks
        ]  # fmt: skip

    names = [t.name for t in run.tasks]
    cfg.train_dataloader.batch_size = plan.budget.batch_size
    cfg.train_dataloader.dataset = dict(
        type="MixtureDataset", datasets=per_task("train"), names=names
    )
    cfg.val_dataloader = dict(
        cfg.test_dataloader, dataset=dict(type="ConcatDataset", datasets=per_task("val"))
    )
    cfg.test_dataloader.dataset = dict(type="ConcatDataset", datasets=per_task("test"))
    cfg.randomness = dict(seed=run.seed, deterministic=False)
    cfg.work_dir = str(run.work_dir.resolve())
    run.work_dir.mkdir(parents=True, exist_ok=True)
    # Unformatted: yapf would take seconds per config, and a study writes dozens of them.
    Config(cfg.to_dict(), format_python_code=False).dump(str(run.config))
    key = json.dumps(
        {
            "config": run.config.read_text(encoding="utf-8"),
            "spec": run.spec(plan),
            "data": plan.data,
            "base": plan.base,
            "encoders": plan.encoders,
        },
        sort_keys=True,
        default=str,
    )
    stamp = run.work_dir / "study_run.json"
    if not stamp.is_file() or stamp.read_text(encoding="utf-8") != key:
        run.metrics.unlink(missing_ok=True)
        stamp.write_text(key, encoding="utf-8")
    return run.config


def final_checkpoint(run: StudyRun) -> Path:
    """The checkpoint the run ends with (its best epoch in the to-convergence variant)."""
    return run.work_dir / "final"


def is_complete(run: StudyRun) -> bool:
    """Whether the run has its ``metrics.json`` and its final checkpoint."""
    return run.metrics.is_file() and final_checkpoint(run).exists()


def run_jobs(
    runs: Sequence[StudyRun],
    plan: StudyPlan,
    jobs: int = 2,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, int]:
    """Train every run that is not complete, ``jobs`` worker processes at a time.

    Returns:
        run name → exit status (0 for runs skipped because complete).
    """
    from tqdm import tqdm

    from octavius.analysis.study.trainer import train_run_safely

    pending = [r for r in runs if force or not is_complete(r)]
    status = {r.name: 0 for r in runs if r not in pending}
    if status:
        log(f"[study] {len(status)} runs complete, skipped")
    if not pending:
        return status
    for run in pending:
        run.metrics.unlink(missing_ok=True)
    specs = [r.spec(plan) for r in pending]
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
    with tqdm(total=len(specs), desc="study runs", unit="run", mininterval=10) as bar:
        if jobs <= 1:
            results = map(train_run_safely, specs)
            for name, code, minutes in results:
                status[name] = code
                bar.update()
                log(
                    f"[study] {name}: {'done' if code == 0 else 'FAILED, see its run.log'} in {minutes:.1f} min"
                )
        else:
            context = multiprocessing.get_context("spawn")
            with context.Pool(jobs, maxtasksperchild=None) as pool:
                for name, code, minutes in pool.imap_unordered(train_run_safely, specs):
                    status[name] = code
                    bar.update()
                    log(
                        f"[study] {name}: {'done' if code == 0 else 'FAILED, see its run.log'} in {minutes:.1f} min"
                    )
    return status
