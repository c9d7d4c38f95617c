"""tools/train.py logs what it should; tools/test.py writes metrics, predictions and tables."""

from __future__ import annotations

import json
import runpy

import pytest

from octavius.checkpoints.checkpoint import CheckpointMismatchError

from .tiny_setup import CONFIG, TEST, TRAIN, assets_root


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 2-iteration training run with TensorBoard; returns (work_dir, data_dir, env)."""
    root = tmp_path_factory.mktemp("tools")
    env = {
        "OCTAVIUS_TEST_ASSETS": str(assets_root(tmp_path_factory)),
        "OCTAVIUS_TEST_DATA": str(root / "data"),
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        train = runpy.run_path(str(TRAIN))["main"]
        train([str(CONFIG), "--work-dir", str(root / "w"), "--tensorboard",
               "--cfg-options", "train_cfg.max_iters=2", "log_processor.window_size=1"])  # fmt: skip
    return root, env


def test_training_logs_each_loss_lr_and_tokens_per_second(run):
    root, _ = run
    scalars = sorted((root / "w").glob("*/vis_data/scalars.json"))
    assert scalars, "no scalar log written"
    records = [json.loads(line) for line in scalars[-1].read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    for record in records:
        assert record["loss"] == pytest.approx(
            record["loss_lm"] + record["loss_instance_balance_loss"], rel=1e-5
        )
        assert record["loss_instance_balance_loss"] > 0 and record["tokens_per_s"] > 0
        assert record["lr"] > 0
    assert list((root / "w").glob("*/vis_data/events.out.tfevents.*")), "no TensorBoard events"


def test_tools_test_writes_metrics_predictions_and_tables(run, monkeypatch, capsys):
    root, env = run
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    test = runpy.run_path(str(TEST))["main"]
    capsys.readouterr()
    test([str(CONFIG), str(root / "w" / "iter_2"), "--work-dir", str(root / "eval")])
    printed = capsys.readouterr().out

    metrics = json.loads((root / "eval" / "metrics.json").read_text())
    assert set(metrics) == {"2d_test/classification/accuracy", "2d_test/vqa/accuracy"}
    references = json.loads((root / "data" / "annotations" / "2d_test.json").read_text())
    lines = (root / "eval" / "predictions.jsonl").read_text().splitlines()
    predictions = [json.loads(line) for line in lines]
    assert len(predictions) == len(references)
    by_task: dict[str, list[bool]] = {}
    for pred, ref in zip(predictions, references):
        assert isinstance(pred["pred_text"], str) and pred["task_type"] == ref["task_type"]
        answer = ref["conversations"][-1]["value"].strip().lower()
        by_task.setdefault(pred["task_type"], []).append(
            pred["pred_text"].strip().lower() == answer
        )
    for task, hits in by_task.items():  # exact answers are correct under either metric
        assert metrics[f"2d_test/{task}/accuracy"] >= 100.0 * sum(hits) / len(hits)
        assert 0.0 <= metrics[f"2d_test/{task}/accuracy"] <= 100.0
    assert "2d_test" in printed and "Acc@1" in printed and "Cls." in printed


def test_checkpoint_of_another_model_is_refused(run, monkeypatch):
    root, env = run
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    test = runpy.run_path(str(TEST))["main"]
    args = [str(CONFIG), str(root / "w" / "iter_2"), "--work-dir", str(root / "eval2"),
            "--cfg-options", "model.adapters.experts.num_experts=2"]  # fmt: skip
    with pytest.raises(CheckpointMismatchError, match=r"iter_2/adapter\.safetensors.*mis-shaped"):
        test(args)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        test([str(CONFIG), str(root / "w" / "iter_99"), "--work-dir", str(root / "eval3")])


def test_a_strategy_runs_on_mmengines_flexible_runner(run, tmp_path, monkeypatch):
    from mmengine.runner import FlexibleRunner

    from octavius.config import load_config
    from octavius.engine.train_entry import TrainOptions, apply_train_options, run_training

    _, env = run
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    options = {
        "strategy": {"type": "SingleDeviceStrategy"},
        "train_cfg.max_iters": 2,
        "log_level": "WARNING",
    }
    cfg = apply_train_options(load_config(CONFIG, options), TrainOptions(work_dir=str(tmp_path)))
    runner = run_training(cfg)
    assert isinstance(runner, FlexibleRunner) and runner.iter == 2
    assert (tmp_path / "iter_2" / "adapter.safetensors").is_file()
