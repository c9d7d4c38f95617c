"""The interference study's results page: numbers and figures written into marked sections.

docs/interference_study.md is written by people — design, reading of the results, conclusion.
The study script only fills the marked sections with what it measured: one section per table or
figure group, between ``<!-- BEGIN study:NAME -->`` and ``<!-- END study:NAME -->``
(:func:`markers`). :func:`study_sections` renders them (tables, figure links, the command that
regenerates them — no findings); :func:`write_study_page` replaces each section's content and
keeps every other line of the page. A page without markers is created from
:data:`PAGE_TEMPLATE`, whose headings are the only text the library contributes.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from octavius.analysis.study.analysis import RunAnalysis
from octavius.analysis.study.plan import StudyPlan
from octavius.analysis.study.results import StudyResults

__all__ = [
    "PAGE_TEMPLATE",
    "SECTIONS",
    "markers",
    "publish_figures",
    "study_sections",
    "task_statistics",
    "write_study_page",
]

#: The generated sections, in page order, with the heading the template gives each.
SECTIONS: dict[str, str] = {
    "run": "How these numbers were made",
    "tasks": "Tasks",
    "methods": "Methods",
    "scores": "Scores (test accuracy, %)",
    "budget_check": "Budget check",
    "interference": "Task interference (MixLoRA eq. 2–3)",
    "figures": "Figures",
}


def markers(name: str) -> tuple[str, str]:
    """The BEGIN and END comment lines around generated section ``name``."""
    return (
        f"<!-- BEGIN study:{name} (written by tools/analysis/interference_study.py) -->",
        f"<!-- END study:{name} -->",
    )


def _template() -> str:
    parts = ["# Interference study\n"]
    for name, heading in SECTIONS.items():
        begin, end = markers(name)
        parts.append(f"## {heading}\n\n{begin}\n{end}\n")
    return "\n".join(parts)


#: A new page: the section headings and their markers, nothing else.
PAGE_TEMPLATE = _template()


def task_statistics(plan: StudyPlan, data_dir: str | os.PathLike) -> dict[str, dict[str, float]]:
    """Per task: train and test sample counts and the test accuracy of always giving the most
    frequent training answer (the baseline a model beats only by looking at the input)."""
    stats = {}
    for task in plan.tasks:
        counts = {}
        answers: dict[str, list[str]] = {}
        for split in ("train", "test"):
            samples = json.loads(
                (Path(data_dir) / "tasks" / f"{task.name}_{split}.json").read_text("utf-8")
            )
            counts[split] = len(samples)
            answers[split] = [s["conversations"][-1]["value"].strip().lower() for s in samples]
        common = Counter(answers["train"]).most_common(1)[0][0]
        majority = 100.0 * sum(a == common for a in answers["test"]) / max(1, len(answers["test"]))
        stats[task.name] = {"train": counts["train"], "test": counts["test"], "majority": majority}
    return stats


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return (
        "–"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else format(value, spec)
    )


def _timing(minutes: float | None, trained: int | None, total: int) -> str:
    if minutes is None:
        return ""
    if trained is None or trained == total:
        return f" It took {minutes:.0f} minutes on this machine (2 processes, one thread each)."
    return (
        f" The call that wrote this page trained {trained} of the {total} runs, reusing the "
        f"others, in {minutes:.0f} minutes."
    )


def study_sections(
    results: StudyResults,
    analyses: Sequence[RunAnalysis],
    stats: dict[str, dict[str, float]],
    figures: dict[str, dict[str, str]],
    command: str,
    minutes: float | None,
    trained: int | None = None,
) -> dict[str, str]:
    """The generated sections (name → Markdown); ``trained`` runs were trained by this call, the
    others reused. Numbers, tables and figure links only: the findings are the page's own text."""
    plan, budget = results.plan, results.plan.budget
    by_run = {a.run: a for a in analyses}
    trainings = sum(len(plan.tasks) if m.per_task else 1 for m in plan.methods)
    trainings += len(plan.budget_check)
    sections: dict[str, list[str]] = {}
    sections["run"] = [
        "| command | trainings | trained by this call | minutes |",
        "|---|---:|---:|---:|",
        f"| `{command}` | {trainings} | {trainings if trained is None else trained} | "
        f"{_fmt(minutes, '.0f')} |",
    ]
    rows = [
        "| task | modality | generator task | train | test | majority answer (%) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for task in plan.tasks:
        s = stats.get(task.name, {})
        rows.append(
            f"| {task.title or task.name} (`{task.name}`) | {task.modality.upper()} | "
            f"{task.generator_task} | {s.get('train', '–')} | {s.get('test', '–')} | "
            f"{_fmt(s.get('majority'), '.1f')} |"
        )
    rows += [
        "",
        f"Synthetic set: `{json.dumps(plan.synthetic, sort_keys=True)}`. Budget of every run: "
        f"{budget.iterations} iterations × {budget.batch_size} samples, warm-up "
        f"{min(budget.warmup, budget.iterations // 10)} steps, seed {budget.seed}.",
    ]
    sections["tasks"] = rows
    rows = ["| method | config | adapters | adapter parameters |", "|---|---|---|---:|"]
    for method in plan.methods:
        params = by_run[method.key].adapter_params if method.key in by_run else None
        rows.append(
            f"| {method.title} | `{method.config}` | {method.note} | "
            f"{_fmt(params, ',') if params else '–'} |"
        )
    sections["methods"] = rows
    rows = [results.table().rstrip()]
    if results.missing:
        rows += ["", f"Missing (failed or not run): {', '.join(results.missing)}."]
    sections["scores"] = rows
    sections["budget_check"] = (
        [
            f"{plan.budget_check_iterations} iterations instead of {budget.iterations} "
            "(schedule stretched accordingly):",
            "",
            results.budget_check_table().rstrip(),
        ]
        if plan.budget_check
        else ["(not run)"]
    )
    sections["interference"] = _interference_rows(plan, analyses)
    sections["figures"] = _figure_rows(plan, figures)
    return {name: "\n".join(lines) + "\n" for name, lines in sections.items()}


def _interference_rows(plan: StudyPlan, analyses: Sequence[RunAnalysis]) -> list[str]:
    if not analyses:
        return ["(no analyses)"]
    rows = [
        "Off-diagonal scores `I(i, j)` averaged over the decoder layers (below 0: a step on task "
        "j raises the loss of task i): median, minimum and share of negative pairs (%), for the "
        "gradients of LoRA A and of LoRA B.",
        "",
        "| method | A: median | A: min | A: negative | B: median | B: min | B: negative |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    titles = {m.key: m.title for m in plan.methods}
    for a in analyses:
        ia, ib = a.interference.get("A", {}), a.interference.get("B", {})
        cells = [
            _fmt(part.get(key), spec)
            for part in (ia, ib)
            for key, spec in (("median", ".2f"), ("min", ".2f"), ("negative", ".0f"))
        ]
        rows.append(f"| {titles.get(a.run, a.run)} | " + " | ".join(cells) + " |")
    return rows


def _figure_rows(plan: StudyPlan, figures: dict[str, dict[str, str]]) -> list[str]:
    titles = {m.key: m.title for m in plan.methods}
    rows: list[str] = []
    for kind, heading in (
        ("interference", "Interference heatmaps (rows: task affected, columns: task updated)"),
        ("routing", "Routing maps (mean routing weight or token share per expert and task)"),
        ("tsne", "t-SNE of the expert / factor selection, coloured by task"),
    ):
        shown = [
            (titles.get(run, run), files[kind]) for run, files in figures.items() if kind in files
        ]
        if shown:
            rows += [*([""] if rows else []), f"#### {heading}", ""]
            rows += [f"![{title}]({path})" for title, path in shown]
    return rows or ["(no figures)"]


def publish_figures(
    analyses: Sequence[RunAnalysis], figures_dir: str | os.PathLike, page: str | os.PathLike
) -> dict[str, dict[str, str]]:
    """Copy the analyses' figures into ``figures_dir`` (next to the page, so it renders anywhere).

    Returns:
        run → figure kind → path relative to ``page``'s directory (what the section links).
    """
    fig_dir = Path(figures_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    links: dict[str, dict[str, str]] = {}
    for analysis in analyses:
        for kind, source in analysis.figures.items():
            target = fig_dir / f"{analysis.run}_{kind}.png"
            shutil.copyfile(source, target)
            links.setdefault(analysis.run, {})[kind] = Path(
                os.path.relpath(target, Path(page).parent)
            ).as_posix()
    return links


def write_study_page(page: str | os.PathLike, sections: Mapping[str, str]) -> Path:
    """Put each of ``sections`` between its markers in ``page``, keeping every other line.

    An absent page is created from :data:`PAGE_TEMPLATE`; a section whose markers the page lacks
    is appended at the end under its template heading, so nothing measured is dropped.
    """
    page = Path(page)
    text = page.read_text(encoding="utf-8") if page.is_file() else PAGE_TEMPLATE
    for name, content in sections.items():
        begin, end = markers(name)
        if begin in text and end in text.split(begin, 1)[1]:
            head, rest = text.split(begin, 1)
            tail = rest.split(end, 1)[1]
        else:
            heading = SECTIONS.get(name, name)
            head, tail = f"{text.rstrip()}\n\n## {heading}\n\n", "\n"
        text = f"{head}{begin}\n{content}{end}{tail}"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text, encoding="utf-8")
    return page
