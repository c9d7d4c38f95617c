"""The interference study end to end on a tiny budget (stage 0, three short runs, the page)."""

from __future__ import annotations

import json

from octavius.analysis.study.driver import run_study
from octavius.testing.tiny_assets import default_assets_root
from tests.analysis.test_study import tiny_plan
from tests.analysis.tiny_models import REPO


def _tool(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / "analysis" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_study_end_to_end(tmp_path):
    plan = tiny_plan(["lora_specialists", "lora_shared"], ["count_word", "count_digit"])
    plan = type(plan)(**{**plan.__dict__, "convergence": ()})
    page = tmp_path / "docs" / "study.md"
    messages = []
    kwargs = dict(jobs=1, assets_root=default_assets_root(), analyse=False, pilot=False)
    outcome = run_study(plan, tmp_path / "work", REPO, page=page, log=messages.append, **kwargs)
    assert outcome.ok, [
        r.read_text()[-2000:] for r in (tmp_path / "work" / "runs").glob("*/run.log")
    ]
    # specialists (2 tasks) + shared LoRA + the one pair run
    assert outcome.info["runs"] == outcome.info["trained"] == 4
    metrics = json.loads(
        (tmp_path / "work" / "runs" / "lora_shared_s0" / "metrics.json").read_text()
    )
    assert len(metrics["per_sample"]["count_word"]) == 2 and metrics["steps"] == 4  # ⌈8 / 2⌉ · 1
    special = tmp_path / "work" / "runs" / "lora_specialists_count_word_s0" / "metrics.json"
    assert json.loads(special.read_text())["steps"] == 2  # the same epoch on 4 samples
    summary = json.loads(outcome.summary.read_text())
    assert set(summary["fair"]["stats"]) == {"lora_specialists", "lora_shared"}
    assert "count_word+count_digit" in summary["pairs"]
    text = page.read_text()
    assert "| LoRA, shared |" in text and "count (words)" in text
    assert (tmp_path / "work" / "base" / "pretrain.json").is_file()
    again = run_study(plan, tmp_path / "work", REPO, log=messages.append, **kwargs)
    assert again.info["trained"] == 0 and "4 runs complete, skipped" in "\n".join(messages)
    run = tmp_path / "work" / "runs" / "lora_shared_s0"
    args = [str(run / "config.py"), str(run / "final")]
    table = _tool("make_table")  # the analysis tools read the study's runs too
    assert table is not None
    _tool("routing_map")  # importable; the shared LoRA has no router to map
    _tool("task_interference").main(
        [*args, "--task-key", "{dataset}", "--batches-per-task", "2", "--batch-size", "2",
         "--group-by", "model", "--out", str(tmp_path / "inter")]
    )  # fmt: skip
    scores = json.loads((tmp_path / "inter" / "interference.json").read_text())
    assert list(scores["groups"]) == ["model"] and scores["mean"]["A"][0][0] == 1.0
