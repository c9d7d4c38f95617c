"""The interference study's numbers: per-task scores, the tug-of-war gap, what each method recovers.

Scores come from each run's ``metrics.json`` (``tools/test.py``); the specialists' row takes each
task's score from the run trained on that task alone. With ``avg(·)`` the mean over tasks,

- the **tug-of-war gap** is ``avg(specialists) − avg(shared LoRA)`` (and per task, the
  specialist's score minus the shared LoRA's);
- a method **recovers** ``(avg(method) − avg(shared)) / gap`` of it — 100 % means it matches the
  specialists, 0 % the shared LoRA; undefined when the gap is not positive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from octavius.analysis.study.plan import StudyPlan
from octavius.analysis.study.runs import StudyRun
from octavius.analysis.tables import load_metrics, results_table

__all__ = ["StudyResults", "collect_results"]


@dataclass
class StudyResults:
    """Scores per method (row) and task (column), and what is missing.

    Attributes:
        plan: the study plan.
        scores: method key → task name → score (absent when the run failed).
        missing: run names without a usable ``metrics.json``.
        budget_check: method key → task name → score of the longer budget-check runs.
    """

    plan: StudyPlan
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    budget_check: dict[str, dict[str, float]] = field(default_factory=dict)

    def average(self, method: str) -> float | None:
        """Mean over the plan's tasks; ``None`` when a task is missing."""
        row = self.scores.get(method, {})
        values = [row.get(t.name) for t in self.plan.tasks]
        if not values or any(v is None or not math.isfinite(v) for v in values):
            return None
        return sum(values) / len(values)

    def gap(self) -> float | None:
        """``avg(specialists) − avg(shared)``, the tug-of-war on average."""
        special = self.plan.specialists
        if special is None:
            return None
        best, shared = self.average(special.key), self.average(self.plan.shared_key)
        return None if best is None or shared is None else best - shared

    def task_gaps(self) -> dict[str, float]:
        """Per task, specialist minus shared LoRA (positive: the shared LoRA is below)."""
        special = self.plan.specialists
        if special is None:
            return {}
        best, shared = self.scores.get(special.key, {}), self.scores.get(self.plan.shared_key, {})
        return {
            t.name: best[t.name] - shared[t.name]
            for t in self.plan.tasks
            if t.name in best and t.name in shared
        }

    def recovered(self, method: str) -> float | None:
        """Share of the gap a method recovers, in % (``None`` when undefined)."""
        gap, avg, shared = self.gap(), self.average(method), self.average(self.plan.shared_key)
        if gap is None or gap <= 0 or avg is None or shared is None:
            return None
        return 100.0 * (avg - shared) / gap

    def table(self, digits: int = 1) -> str:
        """The Markdown results table: rows methods, columns tasks, Avg, Δ vs shared, recovered."""
        keys = [t.metric_key for t in self.plan.tasks]
        runs: dict[str, dict[str, float]] = {}
        for method in self.plan.methods:
            row = self.scores.get(method.key, {})
            runs[method.title] = {
                t.metric_key: row[t.name] for t in self.plan.tasks if t.name in row
            }
        headers = {t.metric_key: t.title or t.name for t in self.plan.tasks}
        table = results_table(runs, columns=keys, headers=headers, digits=digits).splitlines()
        shared = self.average(self.plan.shared_key)
        table[0] += " Δ vs shared | gap recovered |"
        table[1] += "---:|---:|"
        for i, method in enumerate(self.plan.methods, start=2):
            avg = self.average(method.key)
            delta = "–" if avg is None or shared is None else f"{avg - shared:+.{digits}f}"
            rec = self.recovered(method.key)
            reference = method.key == self.plan.shared_key or method.per_task
            share = "–" if rec is None or reference else f"{rec:.0f} %"
            table[i] += f" {delta} | {share} |"
        return "\n".join(table) + "\n"

    def budget_check_table(self, digits: int = 1) -> str:
        """The budget-check runs next to the same methods at the study's budget (Markdown)."""
        keys = [t.metric_key for t in self.plan.tasks]
        headers = {t.metric_key: t.title or t.name for t in self.plan.tasks}
        titles = {m.key: m.title for m in self.plan.methods}
        runs: dict[str, dict[str, float]] = {}
        for source, iterations in (
            (self.scores, self.plan.budget.iterations),
            (self.budget_check, self.plan.budget_check_iterations),
        ):
            for key in self.plan.budget_check:
                row = source.get(key, {})
                name = f"{titles[key]}, {iterations} it."
                runs[name] = {t.metric_key: row[t.name] for t in self.plan.tasks if t.name in row}
        return results_table(runs, columns=keys, headers=headers, digits=digits, bold_best=False)


def collect_results(
    plan: StudyPlan, runs: list[StudyRun], status: Mapping[str, int] | None = None
) -> StudyResults:
    """Read every run's ``metrics.json`` into :class:`StudyResults`."""
    results = StudyResults(plan)
    for run in runs:
        if (status or {}).get(run.name, 0) != 0 or not run.metrics.is_file():
            results.missing.append(run.name)
            continue
        metrics = load_metrics(run.metrics)
        table = results.budget_check if run.budget_check else results.scores
        row = table.setdefault(run.method.key, {})
        for task in run.tasks:
            if task.metric_key in metrics:
                row[task.name] = metrics[task.metric_key]
            else:
                results.missing.append(f"{run.name}: {task.metric_key}")
    return results
