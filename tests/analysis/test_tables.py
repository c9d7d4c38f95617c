"""The result-table maker on fake metrics.json files."""

from __future__ import annotations

import json

import pytest

from octavius.analysis import load_metrics, metrics_table, results_table


def _run(root, name, metrics):
    run = root / name
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run


def test_metrics_table_from_run_directories(tmp_path):
    lora = _run(
        tmp_path,
        "lora",
        {"2d/vqa/accuracy": 0.5, "2d/detection/recall": 0.25, "3d/vqa/accuracy": 0.3},
    )
    moe = _run(
        tmp_path,
        "moe",
        {"2d/vqa/accuracy": 0.75, "2d/detection/recall": 0.125, "3d/vqa/accuracy": 0.5},
    )
    table = metrics_table([lora, moe / "metrics.json"], scale=100, digits=1)
    assert table.splitlines() == [
        "| Method | 2d/detection/recall | 2d/vqa/accuracy | 3d/vqa/accuracy | Avg |",
        "|---|---:|---:|---:|---:|",
        "| lora | **25.0** | 50.0 | 30.0 | 35.0 |",
        "| moe | 12.5 | **75.0** | **50.0** | **45.8** |",
    ]


def test_results_table_columns_headers_and_missing_values():
    runs = {
        "specialist": {"2d/vqa/accuracy": 0.5, "3d/vqa/accuracy": 0.25, "2d/caption/cider": 9.0},
        "shared": {"2d/vqa/accuracy": 0.4},
    }
    table = results_table(
        runs,
        columns=[r".*/vqa/accuracy"],
        headers={"2d/vqa/accuracy": "VQA 2D"},
        bold_best=False,
        first_column="Run",
    )
    assert table.splitlines() == [
        "| Run | VQA 2D | 3d/vqa/accuracy | Avg |",
        "|---|---:|---:|---:|",
        "| specialist | 0.50 | 0.25 | 0.38 |",
        "| shared | 0.40 | – | – |",
    ]
    no_avg = results_table(runs, columns=["2d/caption/cider"], average=False)
    assert no_avg.splitlines()[0] == "| Method | 2d/caption/cider |"
    with pytest.raises(KeyError, match="matches no metric"):
        results_table(runs, columns=["3d/detection/.*"])


def test_load_metrics_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no metrics file"):
        load_metrics(tmp_path)
    (tmp_path / "metrics.json").write_text('{"a/b": "high"}')
    with pytest.raises(ValueError, match="expected a number"):
        load_metrics(tmp_path)
    (tmp_path / "metrics.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        load_metrics(tmp_path)
    (tmp_path / "metrics.json").write_text('{"a/b": null, "a/c": 2}')
    metrics = load_metrics(tmp_path / "metrics.json")
    assert metrics["a/c"] == 2.0 and metrics["a/b"] != metrics["a/b"]
