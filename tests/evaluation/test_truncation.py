"""The test summary reports how many answers hit max_new_tokens without EOS."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from octavius.engine.prediction_writer_hook import PredictionWriterHook
from octavius.engine.test_entry import report_test_results
from octavius.evaluation.truncation import count_truncated

SAMPLES = [
    dict(dataset="voc2012", task_type="detection", pred_text="dog [0.1, 0.2", pred_truncated=True),
    dict(
        dataset="voc2012", task_type="detection", pred_text="cat [0, 0, 1, 1]", pred_truncated=False
    ),
    dict(dataset="flickr30k", task_type="caption", pred_text="A man riding", pred_truncated=True),
    dict(dataset="voc2012", task_type="detection", pred_text="dog [0.1,", pred_truncated=True),
    dict(dataset="cifar10", task_type="classification", pred_text="cat"),  # older samples: no flag
]


def test_count_per_dataset_and_task():
    counts = count_truncated(SAMPLES)
    assert (counts.truncated, counts.total) == (3, 5)
    assert counts.per_group == {("voc2012", "detection"): 2, ("flickr30k", "caption"): 1}
    assert counts.summary() == (
        "Truncated answers (hit max_new_tokens without EOS): 3 of 5 "
        "(flickr30k/caption: 1, voc2012/detection: 2)"
    )


def test_test_summary_prints_the_count(tmp_path, capsys):
    hook = PredictionWriterHook()
    runner = SimpleNamespace(
        work_dir=str(tmp_path),
        logger=logging.getLogger("truncation-test"),
        hooks=[hook],
        test_dataloader=SimpleNamespace(dataset=SAMPLES),
    )
    for sample in SAMPLES:
        hook.after_test_iter(runner, 0, outputs=[sample])
    hook.after_test_epoch(runner)
    report_test_results(runner, {"voc2012/detection/recall": 40.0})
    printed = capsys.readouterr().out
    assert "Truncated answers (hit max_new_tokens without EOS): 3 of 5" in printed
    assert (tmp_path / "predictions.jsonl").read_text().count('"pred_truncated": true') == 3
