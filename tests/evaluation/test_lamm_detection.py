"""DetectionMetric(protocol="lamm"): LAMM's sentence parser, maximum matching and class synonyms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from octavius.evaluation import (
    ClassSynonyms,
    DetectionMetric,
    max_bipartite_matching,
    parse_lamm_boxes,
)
from octavius.registry import METRICS


def run(metric, samples):
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def det(answer, objects, dataset="voc"):
    return dict(dataset=dataset, task_type="detection", pred_text=answer, gt_objects=objects)


def test_parser_reads_lamm_phrasings_one_box_per_sentence():
    text = (
        "The person object is located at [0.1, 0.2, 0.5, 0.9]. "
        "The bounding box [0.5, 0.5, 0.7, 0.8] is classified as dog. "
        "There is a box [0.1, 0.1, 0.2, 0.2] without a name. "
        "The object at [0.3, 0.3, 0.4, 0.4] belongs to the category of dining table. "
        "The cat object is located at [0.5, 0.5, 0.2, 0.2]. "  # x1 > x2: LAMM drops it
        "An item at [0.6, 0.6, 0.9, 0.9] falls under the sofa category."
    )
    boxes = parse_lamm_boxes(text)
    assert [(b.coords, b.label) for b in boxes] == [
        ((0.1, 0.2, 0.5, 0.9), "person"),
        ((0.5, 0.5, 0.7, 0.8), "dog"),
        ((0.3, 0.3, 0.4, 0.4), "dining table"),
        ((0.6, 0.6, 0.9, 0.9), "sofa"),
    ]


def test_parser_takes_the_last_matching_phrasing_as_lamm_does():
    # "The dog object" and "classified as cat" both match; LAMM keeps the later pattern's class.
    boxes = parse_lamm_boxes("The dog object at [1, 1, 2, 2] is classified as cat.")
    assert [b.label for b in boxes] == ["cat"]


def test_parser_reads_3d_centre_size_boxes_with_negative_coordinates():
    boxes = parse_lamm_boxes("The chair object is located at [-1.2, 0.4, 0.5, 0.6, 0.6, 1.0].", 6)
    assert [(b.coords, b.label) for b in boxes] == [((-1.2, 0.4, 0.5, 0.6, 0.6, 1.0), "chair")]
    with pytest.raises(ValueError, match="dims"):
        parse_lamm_boxes("", dims=5)


def test_maximum_matching_beats_greedy_where_greedy_was_wrong():
    # References A, B; prediction p overlaps A (IoU 90/110 = 0.818) and B (70/130 = 0.538),
    # q overlaps only A (80/110 = 0.727; with B 40/150 = 0.267). Greedy gives A to p and
    # matches 1; the maximum matching is p–B, q–A: 2.
    objects = [
        {"label": "person", "bbox": [1, 0, 11, 10]},
        {"label": "person", "bbox": [5, 0, 15, 10]},
    ]
    answer = (
        "The person object is located at [2, 0, 12, 10]. "
        "The person object is located at [0, 0, 9, 10]."
    )
    lamm = run(DetectionMetric(protocol="lamm"), [det(answer, objects)])
    assert lamm["voc/detection/recall@0.50"] == 100.0
    assert lamm["voc/detection/prec@0.50"] == 100.0
    greedy = run(DetectionMetric(protocol="greedy"), [det(answer, objects)])
    assert greedy["voc/detection/recall"] == 50.0


def test_class_written_after_the_box_counts_where_greedy_missed_it():
    objects = [{"label": "cat", "bbox": [0, 0, 10, 10]}, {"label": "dog", "bbox": [20, 20, 30, 30]}]
    answer = "[0, 0, 10, 10] is classified as cat. [20, 20, 30, 30] is classified as dog."
    lamm = run(DetectionMetric(protocol="lamm"), [det(answer, objects)])
    assert lamm["voc/detection/recall"] == 100.0
    # greedy reads the name before each box: none for the first, "cat" for the dog's box
    greedy = run(DetectionMetric(protocol="greedy"), [det(answer, objects)])
    assert greedy["voc/detection/recall"] == 0.0


def test_recall_and_precision_with_and_without_class_at_both_thresholds_by_hand():
    samples = [
        # person IoU 80/100 = 0.8 (right class); dog box IoU 60/100 = 0.6 but called "cat";
        # the third sentence names no class, so it is no prediction
        det(
            "The person object is located at [0, 0, 10, 8]. "
            "The bounding box [20, 20, 30, 26] is classified as cat. "
            "There is also something at [50, 50, 60, 60].",
            [
                {"label": "person", "bbox": [0, 0, 10, 10]},
                {"label": "dog", "bbox": [20, 20, 30, 30]},
            ],
        ),
        # IoU 30/100 = 0.3: a match at 0.25 only
        det(
            "The person object is located at [0, 0, 10, 3].",
            [{"label": "person", "bbox": [0, 0, 10, 10]}],
        ),
        det("I cannot see anything.", [{"label": "cow", "bbox": [0, 0, 4, 4]}]),
        dict(dataset="voc", task_type="vqa", pred_text="yes", gt_text="yes"),  # not scored
    ]
    result = run(METRICS.build(dict(type="DetectionMetric", protocol="lamm")), samples)
    # 4 references, 3 predictions; @0.5: 1 with class, 2 without; @0.25: 2 with, 3 without
    assert result == pytest.approx(
        {
            "voc/detection/recall@0.50": 25.0,
            "voc/detection/prec@0.50": 100 / 3,
            "voc/detection/recall_wocat@0.50": 50.0,
            "voc/detection/prec_wocat@0.50": 200 / 3,
            "voc/detection/recall@0.25": 50.0,
            "voc/detection/prec@0.25": 200 / 3,
            "voc/detection/recall_wocat@0.25": 75.0,
            "voc/detection/prec_wocat@0.25": 100.0,
            "voc/detection/recall": 25.0,
            "voc/detection/precision": 100 / 3,
        }
    )
    agnostic = run(DetectionMetric(protocol="lamm", iou_thr=0.25, class_aware=False), samples)
    assert agnostic["voc/detection/recall"] == 75.0
    assert "voc/detection/recall@0.50" not in agnostic


def test_class_synonyms_and_a_config_extension():
    objects = [{"label": "diningtable", "bbox": [0, 0, 10, 10]}]
    for phrase in ("dining table", "diningtable", "table", "Dining tables"):
        out = run(
            DetectionMetric(protocol="lamm"),
            [det(f"The {phrase} object is located at [0, 0, 10, 10].", objects)],
        )
        assert out["voc/detection/recall"] == 100.0, phrase
    person = [{"label": "person", "bbox": [0, 0, 10, 10]}]
    out = run(
        DetectionMetric(protocol="lamm"),
        [det("The young man object is located at [0, 0, 10, 10].", person)],
    )
    assert out["voc/detection/recall"] == 100.0
    sofa = [{"label": "sofa", "bbox": [0, 0, 10, 10]}]
    text = "The settee object is located at [0, 0, 10, 10]."
    plain = run(DetectionMetric(protocol="lamm"), [det(text, sofa)])
    assert (plain["voc/detection/recall"], plain["voc/detection/recall_wocat@0.50"]) == (0.0, 100.0)
    extended = run(DetectionMetric(protocol="lamm", synonyms={"settee": "sofa"}), [det(text, sofa)])
    assert extended["voc/detection/recall"] == 100.0
    assert not ClassSynonyms().same_class("dog", "a hot cat")


def test_bipartite_matching_size_equals_scipy_assignment():
    rng = np.random.default_rng(0)
    for _ in range(200):
        allowed = rng.random((int(rng.integers(1, 7)), int(rng.integers(1, 7)))) < 0.35
        rows, cols = linear_sum_assignment(allowed.astype(float), maximize=True)
        matches = max_bipartite_matching(allowed.tolist())
        assert len(matches) == int(allowed[rows, cols].sum())
        assert all(allowed[i][j] for i, j in matches)
        assert len({i for i, _ in matches}) == len({j for _, j in matches}) == len(matches)
    assert max_bipartite_matching([]) == []


def test_protocol_and_threshold_validation():
    with pytest.raises(ValueError, match="protocol"):
        DetectionMetric(protocol="coco")
    with pytest.raises(ValueError, match="one iou_thr"):
        DetectionMetric(protocol="greedy", iou_thr=[0.5, 0.25])
    with pytest.raises(ValueError, match="iou_thr"):
        DetectionMetric(protocol="lamm", iou_thr=[0.5, 0])
