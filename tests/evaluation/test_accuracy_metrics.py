"""MultipleChoiceAccuracy, VQAAccuracy and ClassificationAccuracy against hand-computed values."""

from __future__ import annotations

import pytest
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope

from octavius.evaluation import (
    ClassificationAccuracy,
    MultipleChoiceAccuracy,
    VQAAccuracy,
    normalize_vqa_answer,
    parse_choice,
    parse_options,
)

OPTIONS = ["cat", "dog", "hot dog"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("(B)", 1),
        ("B", 1),
        ("b.", 1),
        ("B. dog", 1),
        ("The answer is B", 1),
        ("The answer is B.", 1),
        ("The answer is B because it barks.", 1),
        ("Answer: (c)", 2),
        ("I choose option A", 0),
        ("The answer is a dog.", 1),  # the article is not option A: the text decides
        ("It is a hot dog", 2),  # the longest option text that occurs
        ("Cat.", 0),
        ("(D)", None),  # no fourth option
        ("I have no idea", None),
    ],
)
def test_parse_choice(text, expected):
    assert parse_choice(text, OPTIONS) == expected


def test_parse_choice_ties_and_no_options():
    assert parse_choice("red and blue", ["red", "blue"]) is None
    assert parse_choice("(D) is right") == 3
    assert parse_choice("a dog") is None
    assert parse_options("Which? (A) a cat (B) two dogs\n(C) none") == ["a cat", "two dogs", "none"]


def test_multiple_choice_accuracy_by_hand():
    samples = [
        dict(
            dataset="sqa",
            task_type="multiple_choice",
            options=OPTIONS,
            gt_text="(B)",
            pred_text="The answer is B.",
        ),  # right
        dict(
            dataset="sqa",
            task_type="multiple_choice",
            options=OPTIONS,
            gt_text="hot dog",
            pred_text="(C)",
        ),  # right: the reference given as option text
        dict(
            dataset="sqa",
            task_type="multiple_choice",
            gt_index=0,
            question="What is it? (A) cat (B) dog",
            pred_text="dog",
        ),  # wrong, options from question
        dict(
            dataset="sqa",
            task_type="multiple_choice",
            options=OPTIONS,
            gt_text="A",
            pred_text="no idea",
        ),  # wrong: no choice
        dict(dataset="sqa", task_type="vqa", gt_text="yes", pred_text="no"),  # not scored
    ]
    init_default_scope("octavius")  # as a config's default_scope does for the Runner
    evaluator = Evaluator([dict(type="MultipleChoiceAccuracy")])
    evaluator.process(samples)
    assert evaluator.evaluate(len(samples)) == {"sqa/multiple_choice/accuracy": 50.0}


def test_metrics_can_be_limited_to_datasets_sharing_a_task_type():
    """ScienceQA (choices) and ScanQA (open answers) are both `vqa`: each metric takes its own."""
    samples = [
        dict(dataset="sqa", task_type="vqa", options=OPTIONS, gt_text="(B)", pred_text="B"),
        dict(dataset="sqa", task_type="vqa", options=OPTIONS, gt_text="(A)", pred_text="B"),
        dict(dataset="scanqa", task_type="vqa", gt_text="two chairs", pred_text="Two chairs."),
    ]
    init_default_scope("octavius")
    evaluator = Evaluator(
        [
            dict(type="MultipleChoiceAccuracy", task_types=["vqa"], datasets=["sqa"]),
            dict(type="VQAAccuracy", datasets=["scanqa"]),
        ]
    )
    evaluator.process(samples)
    assert evaluator.evaluate(len(samples)) == {
        "sqa/vqa/accuracy": 50.0,
        "scanqa/vqa/accuracy": 100.0,
    }
    with pytest.raises(TypeError, match="datasets must be a list"):
        VQAAccuracy(datasets="scanqa")


def test_multiple_choice_reference_must_name_an_option():
    with pytest.raises(ValueError, match="names no option"):
        MultipleChoiceAccuracy().process(
            {},
            [dict(task_type="multiple_choice", options=OPTIONS, gt_text="a bird", pred_text="A")],
        )


@pytest.mark.parametrize(
    "raw, normalized",
    [
        ("Yes.", "yes"),
        ("The cat", "cat"),
        ("Two dogs!", "2 dogs"),
        ("dont know", "don't know"),
        ("1,000", "1000"),
        ("3.5 m", "3.5 m"),
        ("red-and-white", "red and white"),
        ("A (big) house?", "big house"),
        ("  an\tapple\n", "apple"),
    ],
)
def test_vqa_normalization(raw, normalized):
    assert normalize_vqa_answer(raw) == normalized


def test_vqa_accuracy_by_hand():
    samples = [
        dict(dataset="scanqa", task_type="vqa", gt_text=["2", "two"], pred_text="Two."),  # right
        dict(dataset="scanqa", task_type="vqa", gt_text="the table", pred_text="Table"),  # right
        dict(dataset="scanqa", task_type="vqa", gt_text="yes", pred_text="yes, it is"),  # wrong
        dict(dataset="gqa", task_type="VQA", gt_text="red", pred_text="blue"),  # wrong
    ]
    metric = VQAAccuracy()
    metric.process({}, samples)
    assert metric.evaluate(4) == {
        "gqa/VQA/accuracy": 0.0,
        "scanqa/vqa/accuracy": pytest.approx(200 / 3),
    }


def test_classification_accuracy_modes_by_hand():
    samples = [
        dict(dataset="cifar", task_type="classification", gt_text="cat", pred_text="It is a cat."),
        dict(dataset="cifar", task_type="classification", gt_text="cat", pred_text="A category."),
        dict(
            dataset="cifar",
            task_type="classification",
            gt_text="cat",
            pred_text="Not a dog, it is a cat",
        ),
        dict(dataset="cifar", task_type="classification", gt_text="airplane", pred_text="Airplane"),
    ]

    def acc(**kwargs):
        metric = ClassificationAccuracy(**kwargs)
        metric.process({}, samples)
        return metric.evaluate(len(samples))["cifar/classification/accuracy"]

    assert acc() == 75.0  # contains: 1, 3, 4
    assert acc(classes=["cat", "dog", "airplane"]) == 50.0  # sample 3 names "dog" first
    assert acc(match="exact") == 25.0  # only "Airplane"
    with pytest.raises(ValueError, match="match must be one of"):
        ClassificationAccuracy(match="fuzzy")
