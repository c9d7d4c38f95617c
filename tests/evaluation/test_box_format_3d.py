"""One 3D box format end to end: generator, system prompt, parser and metric agree (centre/size)."""

from __future__ import annotations

import numpy as np
import pytest

from octavius.data.tasks import SYSTEM_PROMPTS
from octavius.evaluation import (
    DetectionMetric,
    box_iou,
    center_size_to_corners,
    corners_to_center_size,
    parse_boxes,
)
from octavius.testing.synthetic_3d import Object3D, scene_samples

CUBE = Object3D("red", "cube", (3.0, 3.0, 0.5, 1.0, 1.0, 1.0))
# Centre (3, 3, 0.5), size 0.8 × 0.4 × 1.0: inside the 1 m cube, so the true IoU is 0.32 / 1.
NEAR_MISS = (3.0, 3.0, 0.5, 0.8, 0.4, 1.0)


def detection_sample():
    (sample,) = scene_samples(np.random.default_rng(0), [CUBE], "scene0", ["detection"])
    return sample


def as_data_sample(sample, pred_text):
    """What the model's test_step hands the metric: the reference answer, and extra fields."""
    return dict(
        dataset="scan",
        task_type="detection",
        gt_text=sample["conversations"][1]["value"],
        pred_text=pred_text,
        extra={"meta": sample["meta"]},
    )


def test_generator_writes_centre_and_size_and_the_prompt_asks_for_it():
    sample = detection_sample()
    answer = sample["conversations"][1]["value"]
    assert answer == "red cube [3.00, 3.00, 0.50, 1.00, 1.00, 1.00]"
    assert parse_boxes(answer)[0].coords == CUBE.box
    assert sample["meta"]["gt_objects"] == [{"label": "red cube", "box": list(CUBE.box)}]
    prompt = SYSTEM_PROMPTS["detection"]
    assert "[cx, cy, cz, length, width, height]" in prompt and "centre and size" in prompt


def test_a_box_with_true_iou_032_does_not_match_at_05():
    assert box_iou(NEAR_MISS, CUBE.box) == pytest.approx(0.32)
    sample = detection_sample()
    pred = "red cube [3.00, 3.00, 0.50, 0.80, 0.40, 1.00]"
    for refs_from in ("gt_text", "gt_objects"):
        data = as_data_sample(sample, pred)
        if refs_from == "gt_objects":
            data.pop("gt_text")
        else:
            data.pop("extra")
        at_05 = DetectionMetric(iou_thr=0.5)
        at_05.process({}, [data])
        assert at_05.evaluate(1)["scan/detection/recall"] == 0.0
        at_025 = DetectionMetric(iou_thr=0.25)
        at_025.process({}, [data])
        assert at_025.evaluate(1)["scan/detection/recall"] == 100.0
    lamm = DetectionMetric(protocol="lamm")
    lamm.process(
        {}, [as_data_sample(sample, f"The red cube object is located at {list(NEAR_MISS)}.")]
    )
    result = lamm.evaluate(1)
    assert (result["scan/detection/recall@0.50"], result["scan/detection/recall@0.25"]) == (0, 100)


def test_the_old_corner_answers_read_as_centre_size_inflated_the_iou():
    # Before: the data wrote corners, the metric read centre/size. Gt corners (2.5,2.5,0,3.5,3.5,1)
    # read as centre (2.5,2.5,0) size (3.5,3.5,1); the near miss's corners (2.6,2.8,0,3.4,3.2,1)
    # as centre (2.6,2.8,0) size (3.4,3.2,1): overlap 3.35 × 3.05 × 1 = 10.2175, union
    # 12.25 + 10.88 − 10.2175 = 12.9125, IoU 0.791 — a match at 0.5 for a box of true IoU 0.32.
    gt_corners, pred_corners = center_size_to_corners(CUBE.box), center_size_to_corners(NEAR_MISS)
    assert gt_corners == (2.5, 2.5, 0.0, 3.5, 3.5, 1.0)
    assert pred_corners == pytest.approx((2.6, 2.8, 0.0, 3.4, 3.2, 1.0))
    assert box_iou(pred_corners, gt_corners) == pytest.approx(10.2175 / 12.9125)


def test_corner_data_converts_to_centre_size_at_the_boundary():
    assert corners_to_center_size((3.5, 2.5, 1.0, 2.5, 3.5, 0.0)) == (3.0, 3.0, 0.5, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="6 numbers"):
        corners_to_center_size((0, 0, 1, 1))


def test_the_synthetic_set_read_by_the_dataset_scores_its_own_answers_perfectly(tmp_path):
    """Files → InstructionDataset → data sample → metric: the reference answer is a perfect answer,
    and shrinking every box to true IoU 0.32 leaves no match at 0.5."""
    from mmengine.registry import init_default_scope

    from octavius.registry import DATASETS
    from octavius.testing.synthetic import make_synthetic
    from octavius.testing.tiny_tokenizer import build_tiny_tokenizer

    data = make_synthetic(
        tmp_path / "data",
        num_images=2,
        num_scenes=4,
        image_size=32,
        tasks=["detection"],
        progress=False,
    )
    init_default_scope("octavius")
    dataset = DATASETS.build(
        dict(
            type="InstructionDataset",
            tokenizer=str(build_tiny_tokenizer(tmp_path / "tok")),
            data_root=str(data.root),
            ann_file="annotations/3d_test.json",
            point_root="scenes",
            name="scan",
            test_mode=True,
        )
    )
    samples = [dataset[i]["data_sample"] for i in range(len(dataset))]
    assert samples and all(s["task_type"] == "detection" for s in samples)
    metric = DetectionMetric()
    metric.process({}, [dict(s, pred_text=s["gt_text"]) for s in samples])
    assert metric.evaluate(len(samples))["scan/detection/recall"] == 100.0

    def shrunk(sample):  # each box keeps its centre; size × (0.8, 0.4, 1.0): IoU 0.32
        objects = sample["extra"]["meta"]["gt_objects"]
        return "; ".join(
            f"{o['label']} [{', '.join(f'{v:.4f}' for v in (*o['box'][:3], o['box'][3] * 0.8, o['box'][4] * 0.4, o['box'][5]))}]"
            for o in objects
        )

    metric = DetectionMetric()
    metric.process({}, [dict(s, pred_text=shrunk(s)) for s in samples])
    assert metric.evaluate(len(samples))["scan/detection/recall"] == 0.0
