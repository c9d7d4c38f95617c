"""Benchmark loaders: LAMM 2D/3D JSON, MME folders, ScienceQA problems.json → samples → metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image

from octavius.data.errors import DataError
from octavius.evaluation import DetectionMetric, MMEScore, MultipleChoiceAccuracy
from octavius.registry import DATASETS
from octavius.testing.tiny_tokenizer import build_tiny_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return str(build_tiny_tokenizer(tmp_path_factory.mktemp("tok")))


def png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 30, 30)).save(path)


def build(cfg, tokenizer):
    init_default_scope("octavius")
    return DATASETS.build(dict(cfg, tokenizer=tokenizer, test_mode=True))


def data_samples(dataset):
    return [dataset[i]["data_sample"] for i in range(len(dataset))]


def score(metric, samples, answers):
    metric.process({}, [dict(s, pred_text=a) for s, a in zip(samples, answers)])
    return metric.evaluate(len(samples))


def test_lamm_2d_detection_file_feeds_the_lamm_detection_metric(tmp_path, tokenizer):
    png(tmp_path / "voc/0001.jpg")
    items = [
        {
            "id": 1,
            "image": "voc/0001.jpg",
            "query": "Identify all the objects in the image and provide their positions.",
            "object": [
                {"label": "person", "bbox": [0.1, 0.1, 0.5, 0.9]},
                {"label": "diningtable", "bbox": [0.5, 0.5, 0.9, 0.9]},
            ],
        }
    ]
    (tmp_path / "meta_file").mkdir()
    (tmp_path / "meta_file/Detection_VOC2012.json").write_text(json.dumps(items))
    ds = build(
        dict(
            type="LAMM2DBenchmark",
            data_root=str(tmp_path),
            ann_file="meta_file/Detection_VOC2012.json",
            name="voc",
        ),
        tokenizer,
    )
    (sample,) = data_samples(ds)
    assert sample["task_type"] == "detection" and sample["dataset"] == "voc"
    assert sample["gt_text"].startswith("The person object is located at [0.1, 0.1, 0.5, 0.9].")
    answer = (
        "The person object is located at [0.1, 0.1, 0.5, 0.9]. "
        "The bounding box [0.5, 0.5, 0.9, 0.9] belongs to the category of dining table."
    )
    result = score(DetectionMetric(protocol="lamm"), [sample], [answer])
    assert result["voc/detection/recall@0.50"] == 100.0


def test_lamm_2d_multiple_choice_and_classification(tmp_path, tokenizer):
    png(tmp_path / "img/a.png")
    (tmp_path / "sqa.json").write_text(
        json.dumps(
            [
                {
                    "image": "img/a.png",
                    "query": "Which is a mammal?",
                    "gt_choice": 1,
                    "gt_choices": ["frog", "dog"],
                }
            ]
        )
    )
    (tmp_path / "cifar.json").write_text(
        json.dumps([{"image": "img/a.png", "query": "What is it?", "label": "cat"}])
    )
    sqa = build(
        dict(type="LAMM2DBenchmark", data_root=str(tmp_path), ann_file="sqa.json"), tokenizer
    )
    (sample,) = data_samples(sqa)
    assert "Options: (A) frog (B) dog" in sample["question"]
    assert (sample["gt_text"], sample["extra"]["gt_index"]) == ("(B) dog", 1)
    out = score(
        MultipleChoiceAccuracy(protocol="lamm", task_types=["vqa"]),
        [sample],
        ["The answer is (B)."],
    )
    assert out["sqa/vqa/accuracy"] == 100.0
    cifar = build(
        dict(
            type="LAMM2DBenchmark",
            data_root=str(tmp_path),
            ann_file="cifar.json",
            class_names=["cat", "dog", "frog"],
        ),
        tokenizer,
    )
    (sample,) = data_samples(cifar)
    assert "Please choose a label from the following shuffled categories: " in sample["question"]
    assert sample["gt_text"] == "cat"


def test_lamm_3d_converts_corner_boxes_at_the_boundary(tmp_path, tokenizer):
    (tmp_path / "scannet").mkdir()
    np.save(tmp_path / "scannet/scene0000_00.npy", np.zeros((16, 6), dtype=np.float32))
    item = {
        "pcl": "./scannet/scene0000_00.npy",
        "query": "Identify all the objects in the point cloud and provide their positions.",
        "object": [{"label": "chair", "bbox": [2.5, 2.5, 0.0, 3.5, 3.5, 1.0]}],
    }
    (tmp_path / "det.json").write_text(json.dumps([item]))
    cfg = dict(type="LAMM3DBenchmark", data_root=str(tmp_path), ann_file="det.json", point_root="")
    (as_corners,) = data_samples(build(dict(cfg, box_format="corners"), tokenizer))
    assert as_corners["extra"]["gt_objects"] == [
        {"label": "chair", "bbox": [3.0, 3.0, 0.5, 1.0, 1.0, 1.0]}
    ]
    assert as_corners["scene_id"] == "scene0000_00"
    (as_given,) = data_samples(build(cfg, tokenizer))
    assert as_given["extra"]["gt_objects"][0]["bbox"] == [2.5, 2.5, 0.0, 3.5, 3.5, 1.0]
    answer = "The chair object is located at [3.0, 3.0, 0.5, 0.8, 0.4, 1.0]."  # true IoU 0.32
    result = score(DetectionMetric(protocol="lamm"), [as_corners], [answer])
    assert (result["det/detection/recall@0.50"], result["det/detection/recall@0.25"]) == (
        0.0,
        100.0,
    )
    with pytest.raises(ValueError, match="box_format"):
        build(dict(cfg, box_format="xyzxyz"), tokenizer)


def test_mme_folders_feed_the_mme_score(tmp_path, tokenizer):
    root = tmp_path / "MME"
    png(root / "existence/1.png")
    (root / "existence/1.txt").write_text(
        "Is there a dog in this image? Please answer yes or no.\tYes\n"
        "Is there a cat in this image? Please answer yes or no.\tNo\n"
    )
    (root / "existence/2.txt").write_text("Is there a cow?\tYes\n")  # no image: skipped, as in MME
    png(root / "code_reasoning/images/7.jpg")
    (root / "code_reasoning/questions_answers_YN").mkdir(parents=True)
    (root / "code_reasoning/questions_answers_YN/7.txt").write_text(
        "Is the output 3?\tYes\nIs the output 4?\tNo\n"
    )
    ds = build(dict(type="MMEBenchmark", ann_file=str(root), name="mme"), tokenizer)
    samples = data_samples(ds)
    assert [s["extra"]["subtask"] for s in samples] == ["existence"] * 2 + ["code_reasoning"] * 2
    out = score(MMEScore(), samples, ["Yes", "No", "Yes", "Yes"])
    assert (out["mme/vqa/perception"], out["mme/vqa/cognition"]) == (200.0, 50.0)
    with pytest.raises(DataError, match="release folder"):
        build(dict(type="MMEBenchmark", ann_file=str(root / "existence/1.txt")), tokenizer)


def test_scienceqa_release_files_image_subset(tmp_path, tokenizer):
    png(tmp_path / "images/test/11/image.png")
    problems = {
        "11": {
            "question": "Which is a mammal?",
            "choices": ["frog", "dog"],
            "answer": 1,
            "hint": "",
            "image": "image.png",
            "split": "test",
        },
        "12": {
            "question": "2 + 2?",
            "choices": ["3", "4"],
            "answer": 1,
            "hint": "",
            "image": None,
            "split": "test",
        },
        "13": {
            "question": "Train?",
            "choices": ["a", "b"],
            "answer": 0,
            "hint": "",
            "image": None,
            "split": "train",
        },
    }
    (tmp_path / "problems.json").write_text(json.dumps(problems))
    (tmp_path / "pid_splits.json").write_text(json.dumps({"test": ["11", "12"], "train": ["13"]}))
    cfg = dict(
        type="ScienceQABenchmark",
        data_root=str(tmp_path),
        ann_file="problems.json",
        image_root="images",
        name="scienceqa",
    )
    (sample,) = data_samples(build(cfg, tokenizer))
    assert sample["question"].endswith(
        "Context: N/A\nWhich is a mammal?\nOptions: (A) frog (B) dog"
    )
    assert (sample["gt_text"], sample["extra"]["options"]) == ("(B) dog", ["frog", "dog"])
    assert len(build(dict(cfg, image_only=False), tokenizer)) == 2


def test_a_malformed_benchmark_record_is_reported_with_file_and_line(tmp_path, tokenizer):
    png(tmp_path / "voc/0001.jpg")
    good = {"id": 1, "image": "voc/0001.jpg", "query": "What?", "label": "cat"}
    bad = {"id": 2, "image": "voc/0001.jpg", "query": "What?"}  # no ground-truth key
    path = tmp_path / "Classification_bad.json"
    path.write_text(json.dumps([good, bad]))
    cfg = dict(type="LAMM2DBenchmark", ann_file=str(path), image_root=str(tmp_path))
    with pytest.raises(DataError, match=rf"{path}:#1: a LAMM benchmark item needs one of"):
        build(cfg, tokenizer)
    ds = build(dict(cfg, on_error="skip"), tokenizer)
    assert len(ds) == 1 and ds.skip_log.counts == {"malformed_sample": 1}
    assert str(ds.skip_log.errors[0]).startswith(f"{path}:#1:")
    # MME's question files: the shared loop names the .txt file and its line.
    root = tmp_path / "MME"
    png(root / "existence/1.png")
    txt = root / "existence/1.txt"
    txt.write_text("Is there a dog?\tYes\n\nIs there a cat? no tab here\n")
    mme = build(dict(type="MMEBenchmark", ann_file=str(root), on_error="skip"), tokenizer)
    assert len(mme) == 1
    assert str(mme.skip_log.errors[0]).startswith(f"{txt}:3:")
    assert "question<TAB>answer" in str(mme.skip_log.errors[0])
