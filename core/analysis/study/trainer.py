"""One study run in one process: LoRA-tune the frozen base on some tasks, evaluate per sample.

The study trains many small runs, so it does not pay a Runner's start-up for each: a worker process
imports once and trains run after run (:func:`train_run`), each from the run's own ``config.py``
(model, adapters, per-task datasets: what ``tools/train.py`` would build) with

- **budget in epochs**: ``epochs`` passes over the union of the run's tasks, shuffled per epoch
  with the run's seed, so every task sees each of its samples ``epochs`` times whether it is
  trained alone or in a mixture; warm-up then cosine decay over the run;
- **to convergence** (``patience`` set): at constant learning rate after warm-up, up to
  ``epochs`` epochs, scoring the validation split after each epoch and stopping when the mean
  validation score has not improved for ``patience`` epochs; the best epoch's weights are tested;
- **task ids** are the run's task indices in the plan, so the individual (oracle) router maps
  each task to its own expert.

Scores are per test sample (exact match of the normalised answer, or the F1 of the listed objects
for ``list_2d``), so the results can be bootstrapped over samples. The run writes
``metrics.json`` and its final checkpoint (``final/``, loadable with
:func:`octavius.loading.load_model`).
"""

from __future__ import annotations

import json
import math
import random
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = ["answer_score", "normalise_answer", "train_run", "train_run_safely"]


def normalise_answer(text: str) -> str:
    """Lower case, single spaces, no trailing full stop. Deliberately *not* VQA normalisation,
    which maps ``two`` to ``2`` and would hide the format conflict the study measures."""
    return " ".join(str(text).lower().split()).rstrip(".").strip()


def answer_score(prediction: str, sample: Mapping[str, Any]) -> float:
    """100 × exact match of the normalised answer; for object lists (``list_2d``), 100 × the F1
    of the predicted ``;``-separated objects against the reference ones (order aside)."""
    meta = sample.get("meta") or {}
    if "gt_objects" in meta:
        refs = {normalise_answer(o["label"]) for o in meta["gt_objects"]}
        preds = {normalise_answer(item) for item in prediction.split(";") if item.strip()}
        hits = len(refs & preds)
        return 0.0 if not hits else 100.0 * 2 * hits / (len(refs) + len(preds))
    answer = sample["conversations"][-1]["value"]
    return 100.0 * float(normalise_answer(prediction) == normalise_answer(answer))


class _WithTaskId(torch.utils.data.Dataset):
    """A dataset whose samples all carry one task id (the study task's index)."""

    def __init__(self, dataset: Any, task_id: int) -> None:
        self.dataset, self.task_id = dataset, task_id

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {**self.dataset[index], "task_id": self.task_id}


def _datasets(cfg: Any, split: str, task_ids: Sequence[int]) -> list[_WithTaskId]:
    """The run's per-task datasets of ``split``; every split reads the study's feature cache of
    the frozen encoders when the config names one (the cache holds all three splits)."""
    from mmengine.registry import DefaultScope

    from octavius.registry import DATASETS

    key = {"train": "train_dataloader", "val": "val_dataloader", "test": "test_dataloader"}[split]
    configs = cfg[key].dataset.datasets
    cache = {"feature_cache": cfg.feature_cache} if cfg.get("feature_cache") else {}
    with DefaultScope.overwrite_default_scope("octavius"):
        return [
            _WithTaskId(DATASETS.build({**dict(c), **cache}), t) for c, t in zip(configs, task_ids)
        ]


def _evaluate(
    model: Any, datasets: Sequence[_WithTaskId], truths: Sequence[list], batch_size: int = 32
) -> list[list[float]]:
    from octavius.data.collate import instruction_collate

    model.eval()
    scores = []
    with torch.no_grad():
        for dataset, truth in zip(datasets, truths):
            task_scores: list[float] = []
            for start in range(0, len(dataset), batch_size):
                batch = instruction_collate(
                    [dataset[i] for i in range(start, min(len(dataset), start + batch_size))]
                )
                data = model.data_preprocessor(batch, False)
                for out in model.predict(data["inputs"], data["data_samples"]):
                    task_scores.append(answer_score(out["pred_text"], truth[len(task_scores)]))
            scores.append(task_scores)
    model.train()
    return scores


def _lr_factor(step: int, total: int, warmup: int, cosine: bool) -> float:
    if step < warmup:
        return (step + 1) / warmup
    if not cosine:
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))


def train_run(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Train and test one run (``spec``: a :meth:`StudyRun.spec`); returns its metrics."""
    from mmengine.optim import OptimWrapper

    from octavius.checkpoints.checkpoint import save_checkpoint, trainable_state_dict
    from octavius.config import load_config
    from octavius.data.collate import instruction_collate
    from octavius.loading import build_model

    torch.set_num_threads(1)
    start = time.monotonic()
    work = Path(spec["work_dir"])
    log = (work / "run.log").open("w", encoding="utf-8")

    def say(text: str) -> None:
        log.write(text + "\n")
        log.flush()

    seed = int(spec["seed"])
    random.seed(seed)
    torch.manual_seed(seed)
    cfg = load_config(spec["config"])
    model = build_model(cfg)
    model.train()
    ids = list(spec["task_ids"])
    train = torch.utils.data.ConcatDataset(_datasets(cfg, "train", ids))
    test = _datasets(cfg, "test", ids)
    data_root = Path(cfg.train_dataloader.dataset.datasets[0].data_root)

    def truths(split: str) -> list[list]:
        return [
            json.loads((data_root / "tasks" / f"{t}_{split}.json").read_text("utf-8"))
            for t in spec["tasks"]
        ]

    patience = spec.get("patience")
    val = _datasets(cfg, "val", ids) if patience else []
    batch_size, epochs = int(spec["batch_size"]), int(spec["epochs"])
    steps_per_epoch = math.ceil(len(train) / batch_size)
    total = steps_per_epoch * epochs
    params = [p for p in model.parameters() if p.requires_grad]
    optim = OptimWrapper(
        torch.optim.AdamW(params, lr=float(spec["lr"]), weight_decay=0.0),
        clip_grad=dict(max_norm=1.0),
    )
    warmup = max(1, int(0.05 * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optim.optimizer, lambda s: _lr_factor(s, total, warmup, cosine=not patience)
    )
    gen = torch.Generator().manual_seed(seed)
    say(f"{spec['name']}: {len(train)} samples, {epochs} epochs, {total} steps")
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    curve: list[float] = []
    step = 0
    for epoch in range(epochs):
        order = torch.randperm(len(train), generator=gen).tolist()
        running = 0.0
        for begin in range(0, len(order), batch_size):
            batch = instruction_collate([train[i] for i in order[begin : begin + batch_size]])
            losses = model.train_step(batch, optim)
            scheduler.step()
            running += float(losses["loss"].detach())
            step += 1
        say(
            f"epoch {epoch + 1}: mean loss {running / steps_per_epoch:.4f} "
            f"({(time.monotonic() - start) / 60:.2f} min)"
        )
        if patience:
            val_scores = _evaluate(model, val, truths("val"))
            score = sum(sum(s) / len(s) for s in val_scores) / len(val_scores)
            curve.append(score)
            say(f"epoch {epoch + 1}: validation {score:.1f}")
            if best is None or score > best[0]:
                state = {k: v.detach().clone() for k, v in trainable_state_dict(model).items()}
                best = (score, epoch + 1, state)
            elif epoch + 1 - best[1] >= patience:
                break
    if best is not None:
        model.load_state_dict(best[2], strict=False)
    per_sample = _evaluate(model, test, truths("test"))
    save_checkpoint(work / "final", model, meta={"steps": step, "seed": seed}, rng_state=False)
    metrics = {
        "scores": {t: sum(s) / len(s) for t, s in zip(spec["tasks"], per_sample)},
        "per_sample": dict(zip(spec["tasks"], per_sample)),
        "steps": step,
        "epochs_trained": epoch + 1,
        "best_epoch": best[1] if best else epochs,
        "validation": curve,
        "minutes": (time.monotonic() - start) / 60,
    }
    (work / "metrics.json").write_text(json.dumps(metrics) + "\n", encoding="utf-8")
    say(f"done in {metrics['minutes']:.2f} min: {metrics['scores']}")
    log.close()
    return metrics


def train_run_safely(spec: Mapping[str, Any]) -> tuple[str, int, float]:
    """:func:`train_run` for a worker pool: ``(name, exit status, minutes)``, errors logged."""
    from octavius.plugin_manager import load_plugins

    start = time.monotonic()
    try:
        load_plugins()
        train_run(spec)
        return spec["name"], 0, (time.monotonic() - start) / 60
    except Exception:
        with (Path(spec["work_dir"]) / "run.log").open("a", encoding="utf-8") as log:
            log.write(traceback.format_exc())
        return spec["name"], 1, (time.monotonic() - start) / 60
