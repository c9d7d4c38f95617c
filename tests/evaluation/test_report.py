"""Evaluation report: per-dataset tables, metrics.json and predictions JSONL."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement
from rich.console import Console

from octavius.checkpoints import atomic
from octavius.evaluation import (
    metric_tables,
    print_metric_tables,
    write_metrics_json,
    write_predictions_jsonl,
)
from octavius.evaluation.metric_tables import split_metric_key

METRICS = {
    "lamm/detection/recall": 39.04,
    "lamm/detection/precision": 35.2149,
    "lamm/vqa/accuracy": 46.95,
    "scan2inst/caption/CIDEr": 39.38,
    "scan2inst/caption/BLEU-1": 35.94,
}


def test_split_metric_key():
    assert split_metric_key("scan2inst/detection/recall") == ("scan2inst", "detection", "recall")
    assert split_metric_key("val/scan2inst/vqa/accuracy") == ("val/scan2inst", "vqa", "accuracy")
    assert split_metric_key("coco/accuracy") == ("coco", "", "accuracy")


def test_one_table_per_dataset_with_paper_headers():
    tables = metric_tables(METRICS)
    assert [t.title for t in tables] == ["lamm", "scan2inst"]
    lamm = tables[0]
    headers = [c.header for c in lamm.columns]
    assert headers == ["Det. (IoU=0.5)\nPrec", "Det. (IoU=0.5)\nRecall", "VQA\nAcc@1"]
    assert [next(iter(c.cells)) for c in lamm.columns] == ["35.21", "39.04", "46.95"]
    buffer = io.StringIO()
    print_metric_tables(METRICS, Console(file=buffer, width=120))
    text = buffer.getvalue()
    assert "scan2inst" in text and "CIDEr" in text and "39.38" in text


def test_metrics_json_is_flat_and_atomic(tmp_path, monkeypatch):
    path = write_metrics_json(METRICS, tmp_path / "w")
    assert json.loads(path.read_text()) == METRICS
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]

    def crash(handle):
        handle.write(b'{"half": ')
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic.atomic_write(path, crash)
    assert json.loads(path.read_text()) == METRICS  # the previous file is intact
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]  # no partial file


def test_predictions_jsonl(tmp_path):
    element = BaseDataElement(pred_text="yes", gt_text="no", dataset="d", task_type="vqa")
    samples = [
        dict(pred_text="[1, 2, 3, 4]", gt_boxes=torch.tensor([[1.0, 2.0, 3.0, 4.0]]), dataset="d"),
        element,
        dict(pred_text="x", score=np.float32(0.5), bad=float("nan")),
    ]
    path = write_predictions_jsonl(samples, tmp_path / "preds" / "predictions.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {
        "pred_text": "[1, 2, 3, 4]",
        "gt_boxes": [[1.0, 2.0, 3.0, 4.0]],
        "dataset": "d",
    }
    assert lines[1] == {"pred_text": "yes", "gt_text": "no", "dataset": "d", "task_type": "vqa"}
    assert lines[2] == {"pred_text": "x", "score": 0.5, "bad": None}


def test_lamm_detection_and_new_protocol_headers():
    metrics = {
        "voc2012/detection/recall@0.50": 25.0,
        "voc2012/detection/prec_wocat@0.25": 100.0,
        "docvqa/vqa/anls": 80.5,
        "mme/vqa/perception": 1200.0,
    }
    headers = {t.title: [c.header for c in t.columns] for t in metric_tables(metrics)}
    assert headers == {
        "docvqa": ["VQA\nANLS"],
        "mme": ["VQA\nPerception"],
        "voc2012": ["Det.\nPrec@0.25 (no cls)", "Det.\nRecall@0.5"],
    }
