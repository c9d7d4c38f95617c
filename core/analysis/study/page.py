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

import dataclasses
import json
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from octavius.analysis.study.analysis import RunAnalysis
from octavius.analysis.study.plan import StudyPlan
from octavius.analysis.study.results import StudyResults, correlations

__all__ = [
    "PAGE_TEMPLATE",
    "SECTIONS",
    "markers",
    "pair_interference",
    "publish",
    "study_sections",
    "study_summary",
    "task_statistics",
    "write_study_page",
]

#: The generated sections, in page order, with the heading the template gives each.
SECTIONS: dict[str, str] = {
    "run": "How these numbers were made",
    "pilot": "Pilot: which base",
    "base": "Stage 0: the pretrained base and encoders",
    "tasks": "Tasks",
    "methods": "Methods",
    "scores": "Scores, equal epochs (mean ± standard error over seeds)",
    "recovered": "Recovered fraction (bootstrap 95 % intervals)",
    "convergence": "To convergence (early stopping on validation)",
    "pairs": "Pairs: interference score against drop",
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


def task_statistics(plan: StudyPlan, data_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Per task: sample counts per split, one example, and the test score of always giving the
    most frequent training answer (the baseline a model beats only by looking at the input)."""
    stats: dict[str, dict[str, Any]] = {}
    for task in plan.tasks:
        entry: dict[str, Any] = {}
        answers: dict[str, list[str]] = {}
        for split in ("train", "val", "test"):
            samples = json.loads(
                (Path(data_dir) / "tasks" / f"{task.name}_{split}.json").read_text("utf-8")
            )
            entry[split] = len(samples)
            answers[split] = [s["conversations"][-1]["value"].strip().lower() for s in samples]
            if split == "train":
                question = samples[0]["conversations"][0]["value"].split("\n", 1)[-1]
                entry["example"] = (question, samples[0]["conversations"][-1]["value"])
        common = Counter(answers["train"]).most_common(1)[0][0]
        entry["majority"] = (
            100.0 * sum(a == common for a in answers["test"]) / max(1, len(answers["test"]))
        )
        stats[task.name] = entry
    return stats


def _fmt(value: Any, spec: str = ".1f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, spec)


def _ci(point: float, low: float, high: float, spec: str = ".2f") -> str:
    if math.isnan(point):
        return "–"
    if math.isnan(low):
        return _fmt(point, spec)
    return f"{point:{spec}} [{low:{spec}}, {high:{spec}}]"


def pair_interference(
    plan: StudyPlan, analyses: Sequence[RunAnalysis]
) -> dict[str, dict[str, float]]:
    """Per pair ``a+b``: ``(I(a, b) + I(b, a)) / 2`` of the shared LoRA's layer-averaged matrices,
    for LoRA A, LoRA B and their mean (``score``), averaged over the seeds analysed."""
    shared = [a for a in analyses if a.run.startswith(f"{plan.shared_key}_s") and a.matrices]
    out: dict[str, dict[str, float]] = {}
    for a_name, b_name in plan.pairs:
        parts: dict[str, list[float]] = {"A": [], "B": []}
        for analysis in shared:
            i, j = analysis.tasks.index(a_name), analysis.tasks.index(b_name)
            for part in parts:
                m = analysis.matrices[part]
                parts[part].append((m[i][j] + m[j][i]) / 2)
        if parts["A"]:
            a_mean, b_mean = float(np.mean(parts["A"])), float(np.mean(parts["B"]))
            out[f"{a_name}+{b_name}"] = {"A": a_mean, "B": b_mean, "score": (a_mean + b_mean) / 2}
    return out


def _group_tasks(plan: StudyPlan) -> dict[str, list[str]]:
    return {
        "all": [t.name for t in plan.tasks],
        "conflict": [t.name for t in plan.tasks if t.conflicting],
        "control": [t.name for t in plan.tasks if not t.conflicting],
    }


def study_summary(outcome: Any) -> dict[str, Any]:
    """Every number of the page, as plain data (written to ``study.json``)."""
    results: StudyResults = outcome.results
    plan = results.plan
    groups = {k: v for k, v in _group_tasks(plan).items() if v}
    summary: dict[str, Any] = {"plan": dataclasses.asdict(plan), "info": outcome.info}
    for variant in ("fair", "converge"):
        block: dict[str, Any] = {"stats": {}, "recovered": {}, "groups": {}, "drop": {}}
        for key in results.methods(variant):
            block["stats"][key] = results.task_stats(key, variant)
            if key != plan.shared_key and not (plan.specialists and key == plan.specialists.key):
                block["recovered"][key] = results.recovered(key, variant)
                block["groups"][key] = {
                    g: results.recovered(key, variant, tasks).get("avg", (math.nan,) * 3)
                    for g, tasks in groups.items()
                }
        block["drop"] = {g: results.drop(variant, tasks) for g, tasks in groups.items()}
        block["epochs"] = {k: v for k, v in results.epochs.get(variant, {}).items()}
        summary[variant] = block
    drops = results.pair_drops()
    inter = pair_interference(plan, outcome.analyses)
    pairs = {p: {**drops.get(p, {}), **{f"I_{k}": v for k, v in inter.get(p, {}).items()}} for p in
             sorted(set(drops) | set(inter))}  # fmt: skip
    summary["pairs"] = pairs
    keyed = [(v.get("I_score", math.nan), v.get("drop", math.nan)) for v in pairs.values()]
    summary["correlation"] = correlations([k[0] for k in keyed], [k[1] for k in keyed])
    summary["interference"] = {a.run: a.interference for a in outcome.analyses}
    summary["adapter_params"] = {a.run: a.adapter_params for a in outcome.analyses}
    summary["missing"] = results.missing
    return summary


def _score_table(plan: StudyPlan, block: dict[str, Any], with_recovered: bool = True) -> list[str]:
    titles = {m.key: m.title for m in plan.methods}
    tasks = [t.name for t in plan.tasks]
    head = "| Method | " + " | ".join(t.title or t.name for t in plan.tasks) + " | Avg |"
    rule = "|---|" + "---:|" * (len(tasks) + 1)
    if with_recovered:
        head += " recovered (avg) |"
        rule += "---:|"
    rows = [head, rule]
    best = {c: max((s[c][0] for s in block["stats"].values() if c in s), default=math.nan)
            for c in [*tasks, "avg"]}  # fmt: skip
    for key, stats in block["stats"].items():
        cells = []
        for c in [*tasks, "avg"]:
            mean, se = stats.get(c, (math.nan, math.nan))
            text = f"{mean:.1f} ± {_fmt(se)}"
            cells.append(f"**{text}**" if mean == best[c] else text)
        line = f"| {titles[key]} | " + " | ".join(cells) + " |"
        if with_recovered:
            rec = block["recovered"].get(key, {}).get("avg")
            line += f" {_ci(*rec) if rec else '–'} |"
        rows.append(line)
    return rows


def study_sections(
    summary: dict[str, Any],
    plan: StudyPlan,
    stats: dict[str, dict[str, Any]],
    figures: dict[str, str],
    command: str,
) -> dict[str, str]:
    """The generated sections (name → Markdown): numbers, tables and figure links only; the
    findings are the page's own text."""
    info = summary["info"]
    titles = {m.key: m.title for m in plan.methods}
    budget = plan.budget
    sections: dict[str, list[str]] = {}
    run_minutes = sorted(info.get("run_minutes", {}).values())
    sections["run"] = [
        "| command | runs | trained by this call | workers | training (min) | total (min) | "
        "median / longest run (min) |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| `{command}` | {info.get('runs')} | {info.get('trained')} | {info.get('jobs', 2)} | "
        f"{_fmt(info.get('train_minutes'), '.1f')} | {_fmt(info.get('minutes'), '.1f')} | "
        f"{_fmt(run_minutes[len(run_minutes) // 2] if run_minutes else None, '.2f')} / "
        f"{_fmt(run_minutes[-1] if run_minutes else None, '.2f')} |",
    ]
    pilot = info.get("pilot")
    if pilot:
        steps = info.get("total_steps")
        rows = [
            f"One LoRA step (rank 4 on q/v, AdamW, batch {pilot['batch']} × {pilot['tokens']} "
            f"tokens, {pilot['threads']} thread), measured by the study on this machine:",
            "",
            "| base | layers | width | parameters | s / step | the study's steps at this speed (min, 1 core) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, label in (
            ("tiny", "tiny LLaMA, pretrained here"),
            ("smollm2", "SmolLM2-135M-Instruct"),
        ):
            p = pilot.get(name)
            if not p:
                continue
            cost = steps * p["step_seconds"] / 60 if steps else None
            rows.append(
                f"| {label} | {p['layers']} | {p['width']} | {p['parameters']:,} | "
                f"{p['step_seconds']:.3f} | {_fmt(cost, '.0f')} |"
            )
            if name == "smollm2":
                p4 = p["step_seconds_4_layers"]
                rows.append(
                    f"| SmolLM2 cut to 4 layers (extrapolated) | 4 | {p['width']} | – | {p4:.3f} | "
                    f"{_fmt(steps * p4 / 60 if steps else None, '.0f')} |"
                )
        if steps:
            rows += ["", f"The study trains {steps:,} steps of batch {budget.batch_size} in all."]
        sections["pilot"] = rows
    base = info.get("base", {})
    sections["base"] = [
        "| width | layers | MLP | parameters | corpus tokens | steps × batch × tokens | loss first → last | minutes |",
        "|---:|---:|---:|---:|---:|---|---|---:|",
        f"| {base.get('hidden_size')} | {base.get('num_layers')} | {base.get('intermediate_size')} | "
        f"{base.get('parameters', 0):,} | {base.get('corpus_tokens', 0):,} | "
        f"{base.get('steps')} × {base.get('batch_size')} × {base.get('seq_len')} | "
        f"{_fmt(base.get('loss_first'), '.2f')} → {_fmt(base.get('loss_last'), '.2f')} | "
        f"{_fmt(base.get('minutes'), '.1f')} |",
    ]
    encoders = info.get("encoders", {})
    image, points = encoders.get("clip"), encoders.get("point_bert")
    if image and points:
        sections["base"] += [
            "",
            "The encoders, pretrained on perception of the world (items of their own, no "
            "question) and frozen:",
            "",
            "| encoder | target | examples × steps × batch | loss first → last | held-out accuracy | minutes |",
            "|---|---|---|---|---|---:|",
            f"| CLIP tower (feature layer {image['feature_layer']}) | per patch, the coverage of "
            f"each (colour, shape) object's box | {image['images']:,} × {image['steps']} × "
            f"{image['batch_size']} | {_fmt(image['loss_first'], '.3f')} → "
            f"{_fmt(image['loss_last'], '.3f')} | largest-coverage class of covered patches "
            f"{100 * image['held_out_patch_accuracy']:.1f} %, empty patches "
            f"{100 * image['held_out_background_accuracy']:.1f} % | {_fmt(image['minutes'], '.1f')} |",
            f"| Point-BERT (RoI clouds of {points['points_per_roi']} points) | object shape and "
            f"colour | {points['objects']:,} × {points['steps']} × {points['batch_size']} | "
            f"{_fmt(points['loss_first'], '.3f')} → {_fmt(points['loss_last'], '.3f')} | shape "
            f"{100 * points['held_out_shape_accuracy']:.1f} %, colour "
            f"{100 * points['held_out_colour_accuracy']:.1f} % | {_fmt(points['minutes'], '.1f')} |",
        ]
    rows = [
        "| task | group | modality | example question → answer | train / val / test | majority answer (%) |",
        "|---|---|---|---|---:|---:|",
    ]
    for task in plan.tasks:
        s = stats.get(task.name, {})
        q, a = s.get("example", ("", ""))
        rows.append(
            f"| `{task.name}` | {task.group} | {task.modality.upper()} | {q} → `{a}` | "
            f"{s.get('train')} / {s.get('val')} / {s.get('test')} | {_fmt(s.get('majority'))} |"
        )
    rows += [
        "",
        f"Data: `{json.dumps(plan.data, sort_keys=True)}`. Budget: {budget.epochs} epochs of "
        f"every task in every run, batch {budget.batch_size}, AdamW at {budget.lr:g} (5 % warm-up, "
        f"cosine decay); to convergence: constant rate, up to {budget.max_epochs} epochs, patience "
        f"{budget.patience}. Seeds {', '.join(map(str, plan.seeds))}.",
    ]
    sections["tasks"] = rows
    params = summary.get("adapter_params", {})
    seed0 = plan.seeds[0]
    rows = [
        "| method | config | adapters (active / total rank) | adapter parameters |",
        "|---|---|---|---:|",
    ]
    for method in plan.methods:
        count = params.get(f"{method.key}_s{seed0}")
        rows.append(
            f"| {method.title} | `{method.config}` | {method.note} | {_fmt(count, ',') if count else '–'} |"
        )
    sections["methods"] = rows
    fair = summary["fair"]
    sections["scores"] = _score_table(plan, fair) if fair["stats"] else ["(no results)"]
    groups = [g for g in ("all", "conflict", "control") if g in fair["drop"]]
    rows = [
        "Drop of the shared LoRA (specialists − shared, points) and the share of it each method "
        "recovers, on the average over all tasks, the conflict tasks and the control tasks:",
        "",
        "| | " + " | ".join(groups) + " |",
        "|---|" + "---:|" * len(groups),
        "| drop of the shared LoRA | "
        + " | ".join(_ci(*fair["drop"][g], spec=".1f") for g in groups)
        + " |",
    ]
    for key, by_group in fair["groups"].items():
        rows.append(f"| {titles[key]} | " + " | ".join(_ci(*by_group[g]) for g in groups) + " |")
    tasks = [t.name for t in plan.tasks]
    rows += [
        "",
        "Per task (– where the specialists are not above the shared LoRA):",
        "",
        "| Method | " + " | ".join(t.title or t.name for t in plan.tasks) + " |",
        "|---|" + "---:|" * len(tasks),
    ]
    for key, rec in fair["recovered"].items():
        rows.append(
            f"| {titles[key]} | "
            + " | ".join(_ci(*rec[t]) if t in rec else "–" for t in tasks)
            + " |"
        )
    sections["recovered"] = rows
    conv = summary["converge"]
    if conv["stats"]:
        rows = _score_table(plan, conv)
        epochs = ", ".join(f"{titles[k]} {np.mean(v):.1f}" for k, v in conv["epochs"].items() if v)
        rows += ["", f"Epochs trained before stopping (mean over runs): {epochs}."]
        cg = [g for g in ("all", "conflict", "control") if g in conv["drop"]]
        rows += [
            "",
            "Drop of the shared LoRA: "
            + ", ".join(f"{g} {_ci(*conv['drop'][g], spec='.1f')}" for g in cg)
            + ".",
        ]
        sections["convergence"] = rows
    else:
        sections["convergence"] = ["(not run)"]
    pairs = summary["pairs"]
    rows = [
        "| pair | kind | I (LoRA A) | I (LoRA B) | score | drop (points) | drop per task |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for pair, v in pairs.items():
        a, b = pair.split("+")
        kind = (
            "conflict"
            if plan.task(a).group == plan.task(b).group and plan.task(a).conflicting
            else "control"
        )
        per = ", ".join(f"{t} {v[t]:+.1f}" for t in (a, b) if t in v)
        rows.append(
            f"| `{pair}` | {kind} | {_fmt(v.get('I_A'), '.3f')} | {_fmt(v.get('I_B'), '.3f')} | "
            f"{_fmt(v.get('I_score'), '.3f')} | {_fmt(v.get('drop'))} | {per} |"
        )
    c = summary["correlation"]
    rows += [
        "",
        f"Correlation of the score with the drop over the {c['n']} pairs: Pearson r = "
        f"{_fmt(c['pearson'], '.2f')}, Spearman ρ = {_fmt(c['spearman'], '.2f')}. Scores from the "
        "shared LoRA trained on all tasks, averaged over its seeds; drops from the pair runs "
        "(shared LoRA on the two tasks, equal epochs) against the specialists, over the seeds.",
    ]
    sections["pairs"] = rows
    rows = [
        "Off-diagonal `I(i, j)` of the seed-0 runs averaged over the decoder layers (below 0: a "
        "step on task j raises the loss of task i): median, minimum and share of negative pairs (%).",
        "",
        "| run | A: median | A: min | A: negative | B: median | B: min | B: negative |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run, parts in summary.get("interference", {}).items():
        cells = [
            _fmt(parts.get(p, {}).get(k), spec)
            for p in ("A", "B")
            for k, spec in (("median", ".3f"), ("min", ".2f"), ("negative", ".0f"))
        ]
        rows.append(f"| `{run}` | " + " | ".join(cells) + " |")
    sections["interference"] = rows
    rows = []
    for label, link in figures.items():
        rows += [f"**{label}**", "", f"![{label}]({link})", ""]
    sections["figures"] = rows or ["(no figures)"]
    return {name: "\n".join(lines).rstrip() + "\n" for name, lines in sections.items()}


def _small_png(source: str | os.PathLike, target: Path, limit: int = 150_000) -> None:
    """Copy a PNG, re-encoded with a palette (and shrunk if still above ``limit`` bytes)."""
    from PIL import Image

    image = Image.open(source).convert("RGB")
    while True:
        image.quantize(colors=128).save(target, format="PNG", optimize=True)
        if target.stat().st_size <= limit or image.width < 300:
            return
        image = image.resize((int(image.width * 0.8), int(image.height * 0.8)))


def publish(
    outcome: Any,
    summary: dict[str, Any],
    page: Path,
    figures_dir: Path,
    command: str,
    data_dir: Path,
) -> Path:
    """Draw the study's figures, copy the analyses' ones, and write the page's sections."""
    from octavius.analysis.study.plots import plot_correlation, plot_recovered, plot_task_scores

    results = outcome.results
    plan = results.plan
    figures_dir.mkdir(parents=True, exist_ok=True)
    tmp = figures_dir / ".draw"
    tmp.mkdir(exist_ok=True)
    made: dict[str, Path] = {}
    if results.methods("fair"):
        made["Per-task scores, equal epochs (error bars: one standard error over seeds)"] = (
            plot_task_scores(results, tmp / "scores_fair.png", "fair")
        )
    if results.methods("converge"):
        made["Per-task scores, to convergence"] = plot_task_scores(
            results, tmp / "scores_converge.png", "converge"
        )
    titles = {m.key: m.title for m in plan.methods}
    rows = {titles[k]: v for k, v in summary["fair"]["groups"].items()}
    if rows:
        made["Recovered fraction per method and task group (bootstrap 95 % intervals)"] = (
            plot_recovered(rows, tmp / "recovered.png")
        )
    points = []
    for pair, v in summary["pairs"].items():
        a, b = pair.split("+")
        conflict = plan.task(a).group == plan.task(b).group and plan.task(a).conflicting
        if "I_score" in v and "drop" in v:
            points.append((pair.replace("+", " + "), v["I_score"], v["drop"], conflict))
    if points:
        made["Pair interference score against pair drop"] = plot_correlation(
            points, summary["correlation"], tmp / "correlation.png"
        )
    for analysis in outcome.analyses:
        if not analysis.run.endswith(f"_s{plan.seeds[0]}"):
            continue
        title = titles.get(analysis.run.rsplit("_s", 1)[0], analysis.run)
        for kind, label in (("interference", "interference heatmap"), ("routing", "routing map")):
            if kind in analysis.figures:
                made[f"{title}: {label}"] = analysis.figures[kind]
    links: dict[str, str] = {}
    for label, source in made.items():
        name = "".join(c if c.isalnum() else "_" for c in label.lower())[:60].strip("_") + ".png"
        target = figures_dir / name
        _small_png(source, target)
        links[label] = Path(os.path.relpath(target, page.parent)).as_posix()
    for leftover in tmp.iterdir():
        leftover.unlink()
    tmp.rmdir()
    sections = study_sections(summary, plan, task_statistics(plan, data_dir), links, command)
    return write_study_page(page, sections)


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
