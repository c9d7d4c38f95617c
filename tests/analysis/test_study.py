"""The interference study: plan, conflict data, budgets, statistics and the results page."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from octavius.analysis.study.conflict_data import write_study_data
from octavius.analysis.study.page import PAGE_TEMPLATE, SECTIONS, markers, write_study_page
from octavius.analysis.study.plan import DEFAULT_STUDY, StudyBudget
from octavius.analysis.study.pretrain_encoders import patch_coverage
from octavius.analysis.study.results import (
    bootstrap_recovered,
    correlations,
    mean_se,
    recovered_fraction,
)
from octavius.analysis.study.runs import epoch_steps, study_runs, write_run_config
from octavius.analysis.study.trainer import answer_score
from octavius.config import load_config
from tests.analysis.tiny_models import REPO


def tiny_plan(methods, tasks, epochs=1, seeds=(0,)):
    plan = DEFAULT_STUDY.select(methods, tasks)
    return dataclasses.replace(
        plan,
        seeds=tuple(seeds),
        convergence_seeds=tuple(seeds[:1]),
        budget=StudyBudget(epochs=epochs, batch_size=2, max_epochs=2, patience=1),
        data=dict(train=4, val=2, test=2, seed=0, image_size=32),
        base=dict(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, steps=2,
                  num_documents=20),
        encoders=dict(image=dict(images=8, held_out=4, steps=2, batch_size=4),
                      points=dict(objects=8, held_out=4, steps=2, batch_size=4)),
        analysis={**plan.analysis, "batches_per_task": 2, "gradient_batch_size": 2,
                  "routing_per_task": 2},
        bootstrap=200,
    )  # fmt: skip


def test_plan_selection_keeps_pairs_and_convergence_consistent():
    plan = DEFAULT_STUDY.select(["lora_shared", "lora_specialists"], ["count_digit", "count_word"])
    assert [m.key for m in plan.methods] == ["lora_specialists", "lora_shared"]
    assert [t.name for t in plan.tasks] == ["count_word", "count_digit"]
    assert plan.pairs == (("count_word", "count_digit"),) and plan.convergence == ("lora_shared",)
    with pytest.raises(KeyError, match=r"unknown task\(s\) \['4d'\]"):
        DEFAULT_STUDY.select(tasks=["4d"])
    groups = {t.group for t in DEFAULT_STUDY.tasks}
    assert groups == {"format", "modality", "length", "control"}
    assert len(DEFAULT_STUDY.seeds) == 3


def _by_item(samples):
    return {s["id"].rsplit("_", 2)[0] + "_" + s["id"].split("_")[1]: s for s in samples}


def test_conflict_tasks_ask_the_same_thing_and_answer_differently(tmp_path):
    tasks = ["count_word", "count_digit", "shape_2d", "shape_3d", "list_2d", "exists_2d"]
    data = write_study_data(tmp_path, tasks, {"train": 6, "val": 2, "test": 2})
    load = lambda t: json.loads((data / "tasks" / f"{t}_train.json").read_text())  # noqa: E731
    words, digits = load("count_word"), load("count_digit")
    assert len(words) == len(digits) == 6
    for w, d in zip(words, digits):
        assert w["image"] == d["image"]  # same input
        qw, qd = (s["conversations"][0]["value"] for s in (w, d))
        assert qw.replace("[count_word]", "[count_digit]") == qd  # same question, its tag aside
        aw, ad = w["conversations"][1]["value"], d["conversations"][1]["value"]
        assert aw != ad and ["zero", "one", "two", "three"].index(aw) == int(ad)
    two, three = load("shape_2d"), load("shape_3d")
    strip = lambda s: s["conversations"][0]["value"].split("] ", 1)[1]  # noqa: E731
    assert (
        {strip(s) for s in two}
        == {strip(s) for s in three}
        == {"What is the shape of the largest object?"}
    )
    answers_2d = {s["conversations"][1]["value"] for s in two}
    answers_3d = {s["conversations"][1]["value"] for s in three}
    assert answers_2d <= {"square", "circle", "triangle"} and answers_3d <= {
        "cube", "sphere", "cylinder"
    }  # fmt: skip
    lists, yes_no = load("list_2d"), load("exists_2d")
    assert [b["image"] for b in lists] == [y["image"] for y in yes_no]
    for sample in lists:  # "<colour> <shape>" per object, left to right, "; " between them
        items = sample["conversations"][1]["value"].split("; ")
        assert items == [o["label"] for o in sample["meta"]["gt_objects"]]
        assert all(len(i.split()) == 2 for i in items)
    assert {y["conversations"][1]["value"] for y in yes_no} <= {"yes", "no"}
    test_images = {
        s["image"] for s in json.loads((data / "tasks" / "count_word_test.json").read_text())
    }
    assert not test_images & {s["image"] for s in words}  # splits are disjoint items


def test_object_list_score_is_the_f1_of_the_listed_objects():
    sample = {"meta": {"gt_objects": [{"label": "red square"}, {"label": "green circle"}]}}
    assert answer_score("green circle; red square.", sample) == 100.0  # order aside
    # One of two right, one wrong: precision 1/2, recall 1/2, F1 1/2.
    assert answer_score("Red square; green triangle", sample) == 50.0
    # One right and nothing else: precision 1, recall 1/2, F1 2/3.
    assert answer_score("red square", sample) == pytest.approx(200 / 3)
    assert answer_score("green square", sample) == 0.0
    # Exact match elsewhere, without VQA normalisation: "two" is not "2".
    vqa = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "two"}]}
    assert answer_score("Two.", vqa) == 100.0 and answer_score("2", vqa) == 0.0


def test_control_tasks_agree_across_modalities(tmp_path):
    data = write_study_data(tmp_path, ["color_2d", "color_3d"], {"train": 12, "val": 0, "test": 0})
    load = lambda t: json.loads((data / "tasks" / f"{t}_train.json").read_text())  # noqa: E731
    strip = lambda s: s["conversations"][0]["value"].split("] ", 1)[1]  # noqa: E731
    forms = {t: {strip(s).rsplit(" the ", 1)[0] for s in load(t)} for t in ("color_2d", "color_3d")}
    assert forms["color_2d"] == forms["color_3d"] == {"Which colour does"}
    answers = {s["conversations"][1]["value"] for t in ("color_2d", "color_3d") for s in load(t)}
    assert answers <= {"red", "green", "blue"}


def test_patch_coverage_by_hand():
    # A 2 × 2 grid; a box over the left half, class 1: the left patches are covered fully.
    cover = patch_coverage([(0.0, 0.0, 0.5, 1.0)], [1], grid=2, k=2)
    assert cover.tolist() == [[0, 1], [0, 0], [0, 1], [0, 0]]
    # A box over the centre quarter covers a quarter of each patch.
    cover = patch_coverage([(0.25, 0.25, 0.75, 0.75)], [0], grid=2, k=1)
    assert cover.squeeze(1).tolist() == [0.25] * 4


def test_equal_epoch_budget_for_specialists_and_mixtures(tmp_path):
    # 8 tasks of 40 samples, 3 epochs, batch 8: a mixture run takes 3 · 320 / 8 steps, a
    # specialist 3 · 40 / 8: every task sees each of its samples 3 times in both.
    assert epoch_steps([40] * 8, 3, 8) == 120 and epoch_steps([40], 3, 8) == 15
    assert epoch_steps([5, 4], 2, 4) == 2 * 3  # ⌈9 / 4⌉ steps per epoch
    plan = tiny_plan(["lora_specialists", "lora_shared", "moe_individual"],
                     ["count_word", "count_digit", "color_3d"], epochs=3, seeds=(0, 1))  # fmt: skip
    runs = study_runs(plan, tmp_path)
    fair = [r for r in runs if r.variant == "fair"]
    assert {r.spec(plan)["epochs"] for r in fair} == {3}
    assert len([r for r in fair if r.method.per_task]) == 6  # 3 tasks × 2 seeds
    converge = [r for r in runs if r.variant == "converge"]
    assert {r.seed for r in converge} == {0} and all(
        r.spec(plan)["patience"] == 1 for r in converge
    )
    assert {r.spec(plan)["epochs"] for r in converge} == {2}
    pair = next(r for r in runs if r.variant == "pair")
    assert pair.name == "pair_count_word+count_digit_s0" and pair.method.key == "lora_shared"
    individual = next(r for r in runs if r.name == "moe_individual_s1")
    assert individual.spec(plan)["task_ids"] == [0, 1, 2] and individual.seed == 1
    special = next(r for r in runs if r.name == "lora_specialists_color_3d_s0")
    assert special.spec(plan)["task_ids"] == [2]  # the task's index in the plan, as in mixtures


def test_run_config_has_the_runs_tasks_base_and_splits(tmp_path):
    plan = tiny_plan(["lora_shared"], ["count_word", "color_3d"])
    data = write_study_data(tmp_path / "data", ["count_word", "color_3d"], plan.data)
    run = next(r for r in study_runs(plan, tmp_path / "runs") if r.variant == "fair")
    cfg = load_config(
        write_run_config(run, plan, data, REPO, tmp_path / "assets", tmp_path / "base")
    )
    assert cfg.model.llm == str((tmp_path / "base").resolve())
    assert cfg.train_dataloader.dataset.names == ["count_word", "color_3d"]
    assert [d.ann_file for d in cfg.val_dataloader.dataset.datasets] == [
        "tasks/count_word_val.json", "tasks/color_3d_val.json"
    ]  # fmt: skip
    assert all(d.test_mode for d in cfg.test_dataloader.dataset.datasets)
    run.metrics.write_text("{}")
    write_run_config(run, plan, data, REPO, tmp_path / "assets", tmp_path / "base")
    assert run.metrics.is_file()  # unchanged run: kept
    longer = dataclasses.replace(plan, budget=dataclasses.replace(plan.budget, epochs=5))
    write_run_config(run, longer, data, REPO, tmp_path / "assets", tmp_path / "base")
    assert not run.metrics.is_file()  # changed budget: trained again


def test_mean_se_and_recovered_fraction_by_hand():
    mean, se = mean_se([1.0, 2.0, 3.0])
    assert mean == 2.0 and se == pytest.approx(1 / math.sqrt(3))
    assert math.isnan(mean_se([4.0])[1])
    assert recovered_fraction(66.0, 62.0, 70.0) == 0.5
    assert recovered_fraction(58.0, 62.0, 70.0) == -0.5  # below the shared LoRA
    assert math.isnan(recovered_fraction(70.0, 62.0, 60.0))  # no gap to recover


def test_bootstrap_recovered_on_a_hand_made_example():
    const = lambda v: {"a": np.full((3, 10), v), "b": np.full((3, 10), v + 10.0)}  # noqa: E731
    exact = bootstrap_recovered(const(70.0), const(60.0), const(80.0), resamples=100)
    assert exact["a"] == exact["b"] == exact["avg"] == pytest.approx((0.5, 0.5))
    rng = np.random.default_rng(0)
    noisy = lambda p: {"a": (rng.random((3, 200)) < p) * 100.0}  # noqa: E731
    shared, method, special = noisy(0.5), noisy(0.7), noisy(0.9)
    low, high = bootstrap_recovered(method, shared, special, resamples=500)["avg"]
    point = recovered_fraction(method["a"].mean(), shared["a"].mean(), special["a"].mean())
    assert low < point < high and 0.2 < point < 0.8 and high - low < 1.0


def test_correlations():
    c = correlations([1, 2, 3, 4], [1, 4, 9, 16])
    assert c["spearman"] == pytest.approx(1.0) and 0.9 < c["pearson"] < 1.0 and c["n"] == 4
    assert correlations([1, 2, float("nan"), 4], [2, 1, 3, 0])["n"] == 3
    assert math.isnan(correlations([1, 2], [1, 2])["pearson"])


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
    assert page.read_text() == PAGE_TEMPLATE
    text = page.read_text().replace(markers("scores")[1], markers("scores")[1] + "\n\nWe read: X.")
    page.write_text(text)
    write_study_page(page, {"tasks": "| t |\n", "scores": "| s |\n"})
    out = page.read_text()
    assert out.index("| t |") < out.index("| s |") < out.index("We read: X.")
    assert all(out.count(markers(name)[0]) == 1 for name in SECTIONS)


def test_study_samples_use_the_system_prompt_the_base_was_pretrained_with():
    from octavius.analysis.study.pretrain import STUDY_SYSTEM_PROMPT, pretrain_corpus

    cfg = load_config(REPO / "configs" / "study" / "lora.py")
    template = cfg.train_dataloader.dataset.datasets[0].template
    assert template.system_prompts == {"default": STUDY_SYSTEM_PROMPT}
    assert not template.per_task_system
    assert all(doc.startswith(STUDY_SYSTEM_PROMPT + " ") for doc in pretrain_corpus(5))
