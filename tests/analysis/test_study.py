"""The interference study: plan, data split, run configs, results maths, results page."""

from __future__ import annotations

import dataclasses
import json

import pytest

from octavius.analysis.study.page import PAGE_TEMPLATE, SECTIONS, markers, write_study_page
from octavius.analysis.study.plan import DEFAULT_STUDY, StudyBudget
from octavius.analysis.study.results import collect_results
from octavius.analysis.study.runs import prepare_study_data, study_runs, write_run_config
from octavius.config import load_config
from tests.analysis.tiny_models import REPO


def tiny_plan(methods, tasks, iterations=2, budget_check=()):
    plan = DEFAULT_STUDY.select(methods, tasks)
    return dataclasses.replace(
        plan,
        budget=StudyBudget(iterations=iterations, batch_size=2, warmup=50),
        synthetic=dict(num_images=12, num_scenes=4, difficulty="easy", image_size=32, seed=0),
        analysis={**plan.analysis, "batches_per_task": 1, "gradient_batch_size": 2},
        budget_check=tuple(budget_check),
        budget_check_iterations=3 * iterations,
    )


def test_plan_selection_and_task_filter():
    plan = DEFAULT_STUDY.select(["lora_shared", "lora_specialists"], ["3d_cls", "2d_mc"])
    assert [m.key for m in plan.methods] == ["lora_specialists", "lora_shared"]
    assert [t.name for t in plan.tasks] == ["2d_mc", "3d_cls"]
    assert plan.specialists.key == "lora_specialists" and plan.budget_check == ("lora_shared",)
    with pytest.raises(KeyError, match=r"unknown task\(s\) \['4d'\]"):
        DEFAULT_STUDY.select(tasks=["4d"])
    count = next(t for t in DEFAULT_STUDY.tasks if t.name == "2d_count")
    assert count.selects({"id": "img_00001_vqa_open"}) and not count.selects(
        {"id": "img_00001_vqa"}
    )
    assert count.metric_key == "2d_count/vqa/accuracy"


def test_data_split_and_run_configs(tmp_path):
    plan = tiny_plan(["lora_specialists", "moe_token_top1"], ["2d_count", "3d_cls"], iterations=30)
    data = prepare_study_data(plan, tmp_path / "data")
    train = json.loads((data / "tasks" / "2d_count_train.json").read_text())
    assert len(train) == 9 and all(s["id"].endswith("_vqa_open") for s in train)
    runs = study_runs(plan, tmp_path / "runs")
    assert [r.name for r in runs] == [
        "lora_specialists_2d_count",
        "lora_specialists_3d_cls",
        "moe_token_top1",
    ]
    path = write_run_config(runs[2], plan, data, REPO, assets_root=tmp_path / "assets")
    cfg = load_config(path)
    assert (
        cfg.train_cfg.max_iters == 30
        and cfg.param_scheduler[1].end == 30
        and cfg.param_scheduler[0].end == 3
    )
    assert cfg.train_dataloader.dataset.names == ["2d_count", "3d_cls"]
    assert [d.ann_file for d in cfg.test_dataloader.dataset.datasets] == [
        "tasks/2d_count_test.json",
        "tasks/3d_cls_test.json",
    ]
    assert all(d.test_mode for d in cfg.test_dataloader.dataset.datasets)
    assert (
        cfg.model.llm
        == str((tmp_path / "assets" / "llama").resolve())
        == cfg.train_dataloader.dataset.datasets[0].tokenizer
    )
    assert cfg.model.adapters.router.type == "TokenRouter" and "synthetic" not in cfg.quickstart
    specialist = load_config(write_run_config(runs[1], plan, data, REPO))
    assert specialist.train_dataloader.dataset.names == ["3d_cls"]


def _fake_run(run, scores):
    run.work_dir.mkdir(parents=True)
    run.metrics.write_text(json.dumps({t.metric_key: scores[t.name] for t in run.tasks}))


def test_results_gap_and_recovery(tmp_path):
    plan = tiny_plan(
        ["lora_specialists", "lora_shared", "moe_instance_top2", "mixlora"],
        ["2d_cls", "3d_count"],
        budget_check=["moe_instance_top2"],
    )
    runs = study_runs(plan, tmp_path)
    assert (
        runs[0].name == "moe_instance_top2_it6" and runs[0].iterations == 6 and runs[0].budget_check
    )
    scores = {
        "lora_specialists_2d_cls": {"2d_cls": 80.0},
        "lora_specialists_3d_count": {"3d_count": 60.0},
        "lora_shared": {"2d_cls": 60.0, "3d_count": 64.0},
        "moe_instance_top2": {"2d_cls": 70.0, "3d_count": 62.0},
        "moe_instance_top2_it6": {"2d_cls": 75.0, "3d_count": 66.0},
    }
    for run in runs:
        if run.name in scores:
            _fake_run(run, scores[run.name])
    results = collect_results(plan, runs)
    assert results.missing == ["mixlora"]
    assert results.average("lora_specialists") == 70.0 and results.average("lora_shared") == 62.0
    assert results.gap() == 8.0 and results.task_gaps() == {"2d_cls": 20.0, "3d_count": -4.0}
    assert results.recovered("moe_instance_top2") == 50.0 and results.recovered("mixlora") is None
    lines = results.table().splitlines()
    assert lines[0] == "| Method | 2D shape | 3D count | Avg | Δ vs shared | gap recovered |"
    assert lines[4] == "| LoRA-MoE, instance top-2 of 4 | 70.0 | 62.0 | 66.0 | +4.0 | 50 % |"
    assert lines[5] == "| MixLoRA, E=16, r=4 | – | – | – | – | – |"
    assert results.budget_check == {"moe_instance_top2": {"2d_cls": 75.0, "3d_count": 66.0}}
    check = results.budget_check_table().splitlines()
    assert check[2:] == [
        "| LoRA-MoE, instance top-2 of 4, 2 it. | 70.0 | 62.0 | 66.0 |",
        "| LoRA-MoE, instance top-2 of 4, 6 it. | 75.0 | 66.0 | 70.5 |",
    ]


def test_page_section_is_replaced_and_text_kept(tmp_path):
    page = tmp_path / "study.md"
    page.write_text("# Study\n\nHand-written intro.\n")
    begin, end = markers("scores")
    write_study_page(page, {"scores": "first\n"})
    write_study_page(page, {"scores": "second\n"})
    text = page.read_text()
    assert text.startswith("# Study\n\nHand-written intro.\n") and text.count(begin) == 1
    assert "second" in text and "first" not in text and text.rstrip().endswith(end)
    page.write_text(text + "\nClosing words.\n")
    write_study_page(page, {"scores": "third\n"})
    assert page.read_text().endswith(f"{end}\n\nClosing words.\n")


def test_sections_are_filled_in_place_and_prose_between_them_is_kept(tmp_path):
    page = tmp_path / "study.md"
    write_study_page(page, {})
    assert page.read_text() == PAGE_TEMPLATE  # headings and markers, no prose
    text = page.read_text().replace(markers("scores")[1], markers("scores")[1] + "\n\nWe read: X.")
    page.write_text(text)
    write_study_page(page, {"tasks": "| t |\n", "scores": "| s |\n"})
    out = page.read_text()
    assert out.index("| t |") < out.index("| s |") < out.index("We read: X.")
    assert all(out.count(markers(name)[0]) == 1 for name in SECTIONS)


def test_a_changed_run_is_not_reused(tmp_path):
    plan = tiny_plan(["lora_shared"], ["2d_cls", "3d_count"])
    data = prepare_study_data(plan, tmp_path / "data")
    (run,) = study_runs(plan, tmp_path / "runs")
    write_run_config(run, plan, data, REPO, assets_root=tmp_path / "assets")
    run.metrics.write_text("{}")
    write_run_config(run, plan, data, REPO, assets_root=tmp_path / "assets")
    assert run.metrics.is_file()  # same config and data: the finished run stays
    bigger = dataclasses.replace(plan, synthetic={**plan.synthetic, "num_images": 16})
    write_run_config(run, bigger, data, REPO, assets_root=tmp_path / "assets")
    assert not run.metrics.is_file()
