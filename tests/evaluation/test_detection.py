"""DetectionMetric: box parsing from text, IoU, one-to-one matching, recall/precision."""

from __future__ import annotations

import pytest

from octavius.evaluation import DetectionMetric, box_iou, match_boxes, parse_boxes
from octavius.evaluation.box_parsing import Box
from octavius.registry import METRICS


def coords(text, vocabulary=None):
    return [b.coords for b in parse_boxes(text, vocabulary)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[1,2,3,4]", [(1, 2, 3, 4)]),
        ("box: [ 1 , 2 , 3 , 4 ] done", [(1, 2, 3, 4)]),
        ("at (10 20 30 40).", [(10, 20, 30, 40)]),
        ("[1., .5, 3e0, 4.25]", [(1.0, 0.5, 3.0, 4.25)]),
        ("[-1.5 2 3 -4]", [(-1.5, 2, 3, -4)]),
        ("[0.1,0.2 0.3, 0.4]", [(0.1, 0.2, 0.3, 0.4)]),
        ("[[1,2,3,4],[5,6,7,8]]", [(1, 2, 3, 4), (5, 6, 7, 8)]),
        ("chair [1.2, -0.4, 0.5, 0.6, 0.6, 1.0]", [(1.2, -0.4, 0.5, 0.6, 0.6, 1.0)]),
        ("I see [1, 2] and (5 items) and [1,2,3,4,5]", []),
        ("no boxes here, only 1 2 3 4", []),
    ],
)
def test_parser_reads_boxes_whatever_the_words_and_separators(text, expected):
    assert coords(text) == expected


def test_parser_takes_the_name_before_each_box():
    text = "The person is located at [0.1, 0.2, 0.5, 0.9], and a dog at (10 20 30 40)."
    assert [b.label for b in parse_boxes(text)] == ["person", "dog"]
    assert [b.label for b in parse_boxes("cat: [1,2,3,4]; red car [5,6,7,8]")] == ["cat", "red car"]
    assert parse_boxes("[1,2,3,4]")[0].label is None


def test_parser_with_vocabulary_prefers_the_closest_longest_name_and_plurals():
    text = "I see two chairs [1,2,3,4] near the dining table [5,6,7,8] and [9,9,9,9]"
    vocab = ["chair", "table", "dining table"]
    assert [b.label for b in parse_boxes(text, vocab)] == ["chair", "dining table", None]


def test_iou_2d_and_3d_by_hand():
    assert box_iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)
    assert box_iou((2, 2, 0, 0), (1, 1, 3, 3)) == pytest.approx(1 / 7)  # corners in any order
    assert box_iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0
    # centre (0,0,0) vs (1,0,0), both 2×2×2: overlap 1×2×2 = 4, union 8 + 8 − 4 = 12
    assert box_iou((0, 0, 0, 2, 2, 2), (1, 0, 0, 2, 2, 2)) == pytest.approx(1 / 3)
    assert box_iou((0, 0, 2, 2), (0, 0, 0, 2, 2, 2)) == 0.0


def test_matching_is_one_to_one_so_duplicates_do_not_inflate_recall():
    gt = [Box((0, 0, 10, 10))]
    dup = [Box((0, 0, 10, 10)), Box((0, 0, 10, 10)), Box((0.5, 0, 10, 10))]
    assert len(match_boxes(dup, gt)) == 1


def test_matching_is_greedy_by_iou():
    gt = [Box((0, 0, 10, 10)), Box((5, 0, 15, 10))]
    preds = [Box((4, 0, 14, 10)), Box((1, 0, 11, 10))]  # IoU 0.818 with B and A respectively
    matches = sorted(match_boxes(preds, gt))
    assert [(i, j) for i, j, _ in matches] == [(0, 1), (1, 0)]
    assert matches[0][2] == pytest.approx(90 / 110)
    # the threshold is inclusive: IoU exactly 0.5
    assert len(match_boxes([Box((0, 0, 10, 10))], [Box((0, 0, 10, 5))])) == 1
    assert len(match_boxes([Box((0, 0, 10, 10))], [Box((0, 0, 10, 4.9))])) == 0


def test_matching_is_class_aware_when_names_are_given():
    gt = [Box((0, 0, 10, 10), "cat")]
    assert match_boxes([Box((0, 0, 10, 10), "dog")], gt) == []
    assert len(match_boxes([Box((0, 0, 10, 10), "dog")], gt, class_aware=False)) == 1
    assert len(match_boxes([Box((0, 0, 10, 10), None)], [Box((0, 0, 10, 10))])) == 1


def run(metric, samples, batch=2):
    for i in range(0, len(samples), batch):
        metric.process({}, samples[i : i + batch])
    return metric.evaluate(len(samples))


def test_detection_metric_recall_precision_by_hand():
    samples = [
        # 2 references, 2 predictions, one of them right (the dog box is off): tp 1
        dict(
            dataset="voc",
            task_type="detection",
            gt_text="cat [0, 0, 10, 10], dog [20, 20, 30, 30]",
            pred_text="There is a cat at [0, 0, 10, 9] and a dog at [0, 20, 5, 25].",
        ),
        # 1 reference; 3 predictions: right, its duplicate, and the wrong class: tp 1
        dict(
            dataset="voc",
            task_type="detection",
            gt_boxes=[[1, 1, 5, 5]],
            gt_labels=["person"],
            pred_text="person [1,1,5,5]; person [1,1,5,5]; car [1,1,5,5]",
        ),
        dict(dataset="voc", task_type="vqa", gt_text="yes", pred_text="yes"),  # not scored
        # 3D, another dataset: one of one
        dict(
            dataset="scan2inst",
            task_type="detection",
            gt_text="chair [0, 0, 0, 1, 1, 1]",
            pred_text="The chair is at (0.1 0 0 1 1 1).",
        ),
    ]
    metric = METRICS.build(dict(type="DetectionMetric"))
    result = run(metric, samples)
    assert result == {
        "scan2inst/detection/recall": 100.0,
        "scan2inst/detection/precision": 100.0,
        "voc/detection/recall": pytest.approx(100 * 2 / 3),
        "voc/detection/precision": pytest.approx(100 * 2 / 5),
    }
    agnostic = run(DetectionMetric(class_aware=False), samples)
    assert agnostic["voc/detection/recall"] == pytest.approx(100 * 2 / 3)


def test_detection_metric_rejects_bad_config_and_bad_references():
    with pytest.raises(ValueError, match="iou_thr"):
        DetectionMetric(iou_thr=0)
    with pytest.raises(TypeError, match="list of names"):
        DetectionMetric(task_types="detection")
    metric = DetectionMetric()
    with pytest.raises(ValueError, match="gt_labels"):
        metric.process(
            {}, [dict(task_type="detection", gt_boxes=[[0, 0, 1, 1]], gt_labels=[], pred_text="")]
        )
    with pytest.raises(ValueError, match="4 \\(2D\\) or 6 \\(3D\\)"):
        metric.process({}, [dict(task_type="detection", gt_boxes=[[0, 0, 1]], pred_text="")])
    with pytest.raises(KeyError, match="'pred_text'"):
        metric.process({}, [dict(task_type="detection", gt_text="[0,0,1,1]")])
