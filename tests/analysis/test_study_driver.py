"""The interference study end to end on a tiny budget (two runs of two iterations, ~40 s)."""

from __future__ import annotations

import json

from octavius.analysis.study.driver import run_study
from octavius.testing.tiny_assets import default_assets_root
from tests.analysis.test_study import tiny_plan
from tests.analysis.tiny_models import REPO


def test_tiny_study_end_to_end(tmp_path):
    plan = tiny_plan(["lora_shared", "moe_instance_top2"], ["2d_cls", "3d_count"])
    page = tmp_path / "docs" / "study.md"
    messages = []
    outcome = run_study(
        plan,
        tmp_path / "work",
        REPO,
        page=page,
        jobs=2,
        assets_root=default_assets_root(),
        log=messages.append,
    )
    assert outcome.ok, (
        outcome.results.missing,
        outcome.status,
        [r.read_text()[-2000:] for r in (tmp_path / "work" / "runs").glob("*/run.log")],
    )
    assert set(outcome.results.scores) == {"lora_shared", "moe_instance_top2"}
    summary = json.loads(outcome.summary.read_text())
    assert set(summary["interference"]) == {"lora_shared", "moe_instance_top2"}
    text = page.read_text()
    assert "| LoRA, shared |" in text and "study/moe_instance_top2_routing.png" in text
    run = text.split("<!-- BEGIN study:run", 1)[1].split("<!-- END study:run -->", 1)[0]
    assert "| 2 | 2 |" in run  # 2 trainings, both trained by this call; the minutes follow
    assert (tmp_path / "docs" / "study" / "moe_instance_top2_tsne.png").is_file()
    again = run_study(
        plan,
        tmp_path / "work",
        REPO,
        jobs=2,
        assets_root=default_assets_root(),
        analyse=False,
        log=messages.append,
    )
    assert again.results.scores == outcome.results.scores
    assert sum("complete, skipped" in m for m in messages) == 2


def _tool(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / "analysis" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_analysis_tools_on_a_tiny_study_run(tmp_path):
    plan = tiny_plan(["moe_instance_top2"], ["2d_cls", "3d_count"])
    run_study(
        plan,
        tmp_path / "work",
        REPO,
        jobs=1,
        assets_root=default_assets_root(),
        analyse=False,
        log=print,
    )
    run = tmp_path / "work" / "runs" / "moe_instance_top2"
    args = [str(run / "config.py"), str(run / "iter_2")]
    _tool("routing_map").main([*args, "--task-key", "{dataset}", "--out", str(tmp_path / "maps")])
    maps = json.loads((tmp_path / "maps" / "routing_maps.json").read_text())
    assert maps["tasks"] == ["2d_cls", "3d_count"] and len(maps["maps"]) == 1
    _tool("task_interference").main(
        [
            *args,
            "--task-key",
            "{dataset}",
            "--batches-per-task",
            "1",
            "--batch-size",
            "2",
            "--group-by",
            "model",
            "--out",
            str(tmp_path / "inter"),
        ]
    )
    scores = json.loads((tmp_path / "inter" / "interference.json").read_text())
    assert list(scores["groups"]) == ["model"] and scores["mean"]["A"][0][0] == 1.0
    table = _tool("make_table").main(
        [str(run), "--names", "moe", "--out", str(tmp_path / "table.md")]
    )
    assert table.startswith("| Method |") and "| moe |" in table
    assert (tmp_path / "table.md").read_text() == table
