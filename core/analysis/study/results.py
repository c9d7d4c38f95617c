"""The interference study's numbers: scores over seeds, recovered fractions, pair drops.

Every run's ``metrics.json`` holds one score per test sample. With ``s̄_m,t`` the mean over seeds
of method ``m``'s score on task ``t`` (each seed's score the mean over the test samples):

- **mean ± standard error** over seeds (``SE = std(ddof=1) / √seeds``);
- the **drop** of the shared LoRA on a task ``s̄_spec,t − s̄_shared,t`` and the **recovered
  fraction** ``(s̄_m − s̄_shared) / (s̄_spec − s̄_shared)`` (1: the method matches the
  specialists, 0: the shared LoRA), per task and on the average over tasks or over a group;
- **bootstrap intervals** (2.5 – 97.5 %): each resample draws, for every method independently,
  the seeds with replacement, and once for all methods, the test samples of every task with
  replacement (the methods are scored on the same samples, so the sample draw is shared);
- **pair drops**: for a pair ``(a, b)`` trained together with the shared LoRA, the mean over
  the two tasks and the seeds of ``specialist − pair run``; set against the pair's interference
  score with Pearson's and Spearman's correlation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from octavius.analysis.study.plan import StudyPlan
from octavius.analysis.study.runs import StudyRun

__all__ = [
    "StudyResults",
    "bootstrap_recovered",
    "collect_results",
    "correlations",
    "mean_se",
    "recovered_fraction",
]


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (NaN with fewer than two values)."""
    x = np.asarray(values, dtype=float)
    if not x.size:
        return math.nan, math.nan
    se = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan
    return float(x.mean()), se


def recovered_fraction(method: float, shared: float, specialist: float) -> float:
    """``(method − shared) / (specialist − shared)``; NaN when the gap is not positive."""
    gap = specialist - shared
    return (method - shared) / gap if gap > 0 else math.nan


def _resampled_means(
    per_sample: Mapping[str, np.ndarray],
    seed_draws: np.ndarray,
    sample_draws: Mapping[str, np.ndarray],
) -> np.ndarray:
    """``(B, T)`` task means for bootstrap draws; ``per_sample[t]`` is ``(seeds, samples)``."""
    out = []
    for task, scores in per_sample.items():
        by_seed = scores[:, sample_draws[task]].mean(axis=2)  # (S, B)
        picked = np.take_along_axis(by_seed.T, seed_draws, axis=1)  # (B, S)
        out.append(picked.mean(axis=1))
    return np.stack(out, axis=1)


def bootstrap_recovered(
    method: Mapping[str, np.ndarray],
    shared: Mapping[str, np.ndarray],
    specialist: Mapping[str, np.ndarray],
    resamples: int = 2000,
    seed: int = 0,
    tasks: Sequence[str] | None = None,
) -> dict[str, tuple[float, float]]:
    """2.5 and 97.5 percentiles of the recovered fraction, per task and on the tasks' average.

    Args:
        method, shared, specialist: task → ``(seeds, test samples)`` per-sample scores.
        resamples: bootstrap resamples.
        seed: the bootstrap's random seed.
        tasks: the tasks of the average (and the per-task entries); all when ``None``.

    Returns:
        task (and ``"avg"``) → ``(low, high)``; NaN where the resampled gap is mostly ≤ 0.
    """
    tasks = list(tasks or method)
    rng = np.random.default_rng(seed)
    samples = {
        t: rng.integers(0, method[t].shape[1], (resamples, method[t].shape[1])) for t in tasks
    }
    means = []
    for source in (method, shared, specialist):
        seeds = source[tasks[0]].shape[0]
        draws = rng.integers(0, seeds, (resamples, seeds))
        means.append(_resampled_means({t: source[t] for t in tasks}, draws, samples))
    m, s, sp = means
    out = {}
    columns = [*((t, i) for i, t in enumerate(tasks)), ("avg", None)]
    for name, i in columns:
        a, b, c = (x[:, i] if i is not None else x.mean(axis=1) for x in (m, s, sp))
        gap = c - b
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(gap > 0, (a - b) / gap, np.nan)
        if np.isnan(frac).mean() > 0.5:
            out[name] = (math.nan, math.nan)
        else:
            low, high = np.nanpercentile(frac, [2.5, 97.5])
            out[name] = (float(low), float(high))
    return out


def _ranks(x: np.ndarray) -> np.ndarray:
    order = x.argsort()
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    for value in np.unique(x):  # ties share their mean rank
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def correlations(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """Pearson's r and Spearman's ρ of paired values (NaN pairs dropped), and their count."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return {"pearson": math.nan, "spearman": math.nan, "n": len(a)}
    return {
        "pearson": float(np.corrcoef(a, b)[0, 1]),
        "spearman": float(np.corrcoef(_ranks(a), _ranks(b))[0, 1]),
        "n": len(a),
    }


@dataclass
class StudyResults:
    """Per-sample scores of every run, and the statistics built on them.

    Attributes:
        plan: the study plan.
        samples: variant → method key → task → ``(seeds, test samples)`` scores (specialists
            assembled from their per-task runs; a method lacking a seed is left out).
        pair_scores: pair ``"a+b"`` → task → per-seed scores of the pair runs.
        epochs: variant → method key → epochs trained per run (the to-convergence stop).
        missing: runs without a usable ``metrics.json``.
    """

    plan: StudyPlan
    samples: dict[str, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)
    pair_scores: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    epochs: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def methods(self, variant: str = "fair") -> list[str]:
        """Method keys with results in ``variant``, in plan order."""
        have = self.samples.get(variant, {})
        return [m.key for m in self.plan.methods if m.key in have]

    def task_stats(self, method: str, variant: str = "fair") -> dict[str, tuple[float, float]]:
        """Task (and ``"avg"``) → mean ± SE over seeds."""
        data = self.samples.get(variant, {}).get(method)
        if not data:
            return {}
        per_seed = {t: data[t].mean(axis=1) for t in data}
        out = {t: mean_se(v) for t, v in per_seed.items()}
        out["avg"] = mean_se(np.mean([per_seed[t] for t in data], axis=0))
        return out

    def _means(self, method: str, variant: str, tasks: Sequence[str]) -> float:
        data = self.samples[variant][method]
        return float(np.mean([data[t].mean() for t in tasks]))

    def recovered(
        self, method: str, variant: str = "fair", tasks: Sequence[str] | None = None
    ) -> dict:
        """Recovered fraction on the tasks' average with its bootstrap interval, per task too."""
        have = self.samples.get(variant, {})
        special = self.plan.specialists
        if (
            special is None
            or special.key not in have
            or self.plan.shared_key not in have
            or method not in have
        ):
            return {}
        tasks = list(tasks or [t.name for t in self.plan.tasks])
        point = {
            t: recovered_fraction(
                *(self._means(k, variant, [t]) for k in (method, self.plan.shared_key, special.key))
            )
            for t in tasks
        }
        point["avg"] = recovered_fraction(
            *(self._means(k, variant, tasks) for k in (method, self.plan.shared_key, special.key))
        )
        interval = bootstrap_recovered(
            have[method], have[self.plan.shared_key], have[special.key],
            self.plan.bootstrap, seed=0, tasks=tasks,
        )  # fmt: skip
        return {t: (point[t], *interval[t]) for t in point}

    def drop(
        self, variant: str = "fair", tasks: Sequence[str] | None = None
    ) -> tuple[float, float, float]:
        """Specialists − shared LoRA on the tasks' average, with a bootstrap interval."""
        have = self.samples.get(variant, {})
        special = self.plan.specialists
        if special is None or special.key not in have or self.plan.shared_key not in have:
            return (math.nan, math.nan, math.nan)
        tasks = list(tasks or [t.name for t in self.plan.tasks])
        rng = np.random.default_rng(1)
        b = self.plan.bootstrap
        draws = {
            t: rng.integers(0, have[special.key][t].shape[1], (b, have[special.key][t].shape[1]))
            for t in tasks
        }
        means = []
        for key in (special.key, self.plan.shared_key):
            seeds = have[key][tasks[0]].shape[0]
            means.append(
                _resampled_means(
                    {t: have[key][t] for t in tasks}, rng.integers(0, seeds, (b, seeds)), draws
                ).mean(axis=1)
            )
        diff = means[0] - means[1]
        point = self._means(special.key, variant, tasks) - self._means(
            self.plan.shared_key, variant, tasks
        )
        low, high = np.percentile(diff, [2.5, 97.5])
        return point, float(low), float(high)

    def pair_drops(self) -> dict[str, dict[str, float]]:
        """Pair → ``drop`` (specialist − together, mean over tasks and seeds) and its parts."""
        special = self.plan.specialists
        alone = self.samples.get("fair", {}).get(special.key if special else "", {})
        out = {}
        for pair, scores in self.pair_scores.items():
            if not all(t in alone for t in scores) or not scores:
                continue
            per_task = {t: float(alone[t].mean() - np.mean(v)) for t, v in scores.items()}
            out[pair] = {"drop": float(np.mean(list(per_task.values()))), **per_task}
        return out


def collect_results(
    plan: StudyPlan, runs: Sequence[StudyRun], status: Mapping[str, int] | None = None
) -> StudyResults:
    """Read every run's ``metrics.json`` into :class:`StudyResults`."""
    results = StudyResults(plan)
    raw: dict[tuple[str, str], dict[str, dict[int, list[float]]]] = {}
    for run in runs:
        if (status or {}).get(run.name, 0) != 0 or not run.metrics.is_file():
            results.missing.append(run.name)
            continue
        metrics = json.loads(run.metrics.read_text(encoding="utf-8"))
        if run.variant == "pair":
            pair = "+".join(t.name for t in run.tasks)
            for task in run.tasks:
                results.pair_scores.setdefault(pair, {}).setdefault(task.name, []).append(
                    metrics["scores"][task.name]
                )
            continue
        slot = raw.setdefault((run.variant, run.method.key), {})
        for task in run.tasks:
            slot.setdefault(task.name, {})[run.seed] = metrics["per_sample"][task.name]
        results.epochs.setdefault(run.variant, {}).setdefault(run.method.key, []).append(
            int(metrics.get("epochs_trained", 0))
        )
    names = [t.name for t in plan.tasks]
    for (variant, key), tasks in raw.items():
        seeds = sorted(set.intersection(*(set(tasks.get(t, {})) for t in names)))
        if not seeds:
            continue
        results.samples.setdefault(variant, {})[key] = {
            t: np.asarray([tasks[t][s] for s in seeds], dtype=float) for t in names
        }
    return results
