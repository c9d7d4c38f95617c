"""MME, ANLS, relaxed accuracy, PathVQA, ScanQA, LAMM ScienceQA and CIFAR scoring, by hand."""

from __future__ import annotations

import os
import shutil

import pytest

from octavius.evaluation import (
    ANLS,
    ClassificationAccuracy,
    MMEScore,
    MultipleChoiceAccuracy,
    PathVQAMetric,
    RelaxedAccuracy,
    ScanQAMetric,
    VQAAccuracy,
    anls_score,
    levenshtein,
    parse_yes_no,
    relaxed_correct,
    token_recall,
)


def run(metric, samples):
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def vqa(pred, gt, dataset="d", **extra):
    return dict(dataset=dataset, task_type="vqa", pred_text=pred, gt_text=gt, **extra)


def test_mme_accuracy_and_accuracy_plus_per_image_by_hand():
    samples = [
        vqa("Yes", "Yes", "mme", subtask="existence", image_id="1"),
        vqa("No, there is not.", "No", "mme", subtask="existence", image_id="1"),
        vqa("yes", "Yes", "mme", subtask="existence", image_id="2"),
        vqa("Yes", "No", "mme", subtask="existence", image_id="2"),
        # the official tool reads only the first four characters: "the " is neither yes nor no
        vqa("The answer is yes", "Yes", "mme", subtask="code_reasoning", image_id="3"),
        vqa("No", "No", "mme", subtask="code_reasoning", image_id="3"),
    ]
    out = run(MMEScore(), samples)
    # existence: acc 3/4, acc+ 1/2 (image 1) → 75 + 50; code_reasoning: acc 1/2, acc+ 0 → 50
    assert out["mme/vqa/existence_acc"] == 75.0
    assert out["mme/vqa/existence_acc_plus"] == 50.0
    assert out["mme/vqa/existence"] == 125.0
    assert out["mme/vqa/code_reasoning"] == 50.0
    assert out["mme/vqa/perception"] == 125.0
    assert out["mme/vqa/cognition"] == 50.0
    assert out["mme/vqa/total"] == 175.0
    assert [parse_yes_no(t) for t in ("YES", "no.", "Not sure", "maybe")] == [
        "yes",
        "no",
        "no",
        "other",
    ]
    with pytest.raises(ValueError, match="subtask"):
        MMEScore().process({}, [vqa("Yes", "Yes")])


def test_anls_by_hand_including_the_threshold():
    assert levenshtein("kitten", "sitting") == 3
    assert anls_score("Hello  World", ["hello world"]) == 1.0
    assert anls_score("hello wrld", ["hello world"]) == pytest.approx(1 - 1 / 11)
    assert anls_score("abxy", ["abcd"]) == 0.0  # NL = 0.5 is not < 0.5
    assert anls_score("abcx", ["zzzz", "abcd"]) == 0.75  # the best reference
    samples = [
        vqa("Hello  World", "hello world"),
        vqa("hello wrld", ["hello world"]),
        vqa("abc", "hello"),
        vqa("abxy", "abcd"),
    ]
    assert run(ANLS(), samples)["d/vqa/anls"] == pytest.approx(100 * (1 + 10 / 11) / 4)
    # exact match counts only the first (and the normalised spacing) of those
    assert run(VQAAccuracy(), samples)["d/vqa/accuracy"] == 25.0


def test_relaxed_accuracy_five_percent_tolerance_where_exact_match_fails():
    assert relaxed_correct("13", "12.5")  # 0.5 / 12.5 = 4 %
    assert not relaxed_correct("13.2", "12.5")  # 5.6 %
    assert relaxed_correct("0.41", "40%")  # 40 % is 0.4: 2.5 %
    assert not relaxed_correct("0.0", "0")  # a zero target is compared as text
    assert relaxed_correct(" Yes", "yes")
    samples = [vqa("13", "12.5"), vqa("13.2", "12.5"), vqa("0.41", ["12", "40%"]), vqa("no", "yes")]
    assert run(RelaxedAccuracy(), samples)["d/vqa/relaxed_accuracy"] == 50.0
    assert run(VQAAccuracy(), samples)["d/vqa/accuracy"] == 0.0


def test_pathvqa_open_recall_and_closed_accuracy():
    assert token_recall("carcinoma", "squamous cell carcinoma") == pytest.approx(1 / 3)
    # tp counts the prediction's occurrences: 1 + 1 + 2, no reference word missing
    assert token_recall("squamous cell carcinoma carcinoma", "squamous cell carcinoma") == 1.0
    assert token_recall("the lung", "squamous cell carcinoma") == 0.0
    samples = [
        vqa("carcinoma", "squamous cell carcinoma"),
        vqa("It shows squamous cell carcinoma.", "squamous cell carcinoma"),
        vqa("Yes, it is.", "yes"),
        vqa("no", "yes"),
        vqa("yes or no", "yes"),
        vqa("no", "no", answer_type="CLOSED"),
    ]
    out = run(PathVQAMetric(), samples)
    # recall, not precision: all three reference words occur in the second answer
    assert out["d/vqa/open_recall"] == pytest.approx(100 * (1 / 3 + 1) / 2)
    assert out["d/vqa/closed_accuracy"] == 50.0


def test_scanqa_rouge_bleu_and_exact_match_by_hand():
    out = run(ScanQAMetric(), [vqa("The brown chair.", ["brown chair"], "scanqa")])
    # LCS 2 of 3 predicted / 2 reference tokens; ROUGE-L with β = 1.2
    p, r, beta2 = 2 / 3, 1.0, 1.2**2
    assert out["scanqa/vqa/ROUGE-L"] == pytest.approx(100 * (1 + beta2) * p * r / (r + beta2 * p))
    assert out["scanqa/vqa/BLEU-1"] == pytest.approx(100 * 2 / 3, abs=1e-4)
    assert out["scanqa/vqa/EM"] == 100.0  # VQA normalisation drops the article and the period
    assert "scanqa/vqa/METEOR" not in out
    assert run(ScanQAMetric(), [vqa("a brown chair", "black chair", "s")])["s/vqa/EM"] == 0.0


# METEOR starts a Java process that loads WordNet (half a minute on a busy 2-core machine): opt in.
@pytest.mark.skipif(
    shutil.which("java") is None or not os.environ.get("OCTAVIUS_JAVA_TESTS"),
    reason="METEOR needs Java; set OCTAVIUS_JAVA_TESTS=1 to run it",
)
def test_scanqa_meteor_with_java_rewards_the_right_answer():
    samples = [
        vqa("brown wooden chair", "a brown wooden chair", "right"),
        vqa("white table", "a brown wooden chair", "wrong"),
    ]
    out = run(ScanQAMetric(meteor=True), samples)
    assert 0.0 < out["right/vqa/METEOR"] <= 100.0
    assert out["wrong/vqa/METEOR"] < out["right/vqa/METEOR"]


def test_scanqa_meteor_without_java_fails_with_a_clear_message(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="needs `java`"):
        ScanQAMetric(meteor=True)


OPTIONS = ["cat", "dog", "hot dog"]


@pytest.mark.parametrize(
    "answer, gt_index, lamm, default",
    [
        ("The answer is (B).", 1, True, True),
        ("The answer is B", 1, False, True),  # LAMM's pattern needs a character after the letter
        ("ANSWER: B", 1, True, True),
        ("(A) cat or (B) dog", 1, False, False),  # every "(X)" must be the right letter
        ("It is a hot dog", 2, False, True),  # "dog", another option, occurs too
        ("I think it is a cat", 0, True, True),
    ],
)
def test_scienceqa_lamm_option_parsing(answer, gt_index, lamm, default):
    sample = dict(task_type="multiple_choice", pred_text=answer, options=OPTIONS, gt_index=gt_index)
    for protocol, expected in (("lamm", lamm), ("default", default)):
        metric = MultipleChoiceAccuracy(protocol=protocol)
        assert run(metric, [sample])["unknown/multiple_choice/accuracy"] == 100.0 * expected


def test_scienceqa_lamm_reads_the_chain_of_thought_first():
    sample = dict(
        task_type="multiple_choice",
        pred_text="so (B).",
        CoT_answer="Dogs bark, ",
        options=OPTIONS,
        gt_index=1,
    )
    assert (
        run(MultipleChoiceAccuracy(protocol="lamm", cot_field="CoT_answer"), [sample])[
            "unknown/multiple_choice/accuracy"
        ]
        == 100.0
    )


@pytest.mark.parametrize(
    "answer, label, lamm, contains",
    [
        ("This is an aeroplane.", "airplane", True, False),  # a WordNet lemma of airplane
        ("Two planes.", "airplane", True, False),
        ("a red car", "automobile", True, False),
        ("a boat on the sea", "ship", False, False),  # not a lemma of ship's first synset
        ("It is a cat.", "cat", True, True),
        ("a category of dog", "cat", False, False),
    ],
)
def test_cifar_classification_as_lamm_scores_it(answer, label, lamm, contains):
    sample = dict(dataset="cifar10", task_type="classification", pred_text=answer, gt_text=label)
    key = "cifar10/classification/accuracy"
    assert run(ClassificationAccuracy(match="lamm"), [sample])[key] == 100.0 * lamm
    assert run(ClassificationAccuracy(), [sample])[key] == 100.0 * contains


def test_cifar_classification_synonyms_extend_from_the_config():
    sample = dict(task_type="classification", pred_text="a kitty", gt_text="cat")
    key = "unknown/classification/accuracy"
    assert run(ClassificationAccuracy(match="lamm"), [sample])[key] == 0.0
    assert (
        run(ClassificationAccuracy(match="lamm", synonyms={"kitty": "cat"}), [sample])[key] == 100.0
    )


def test_celeba_smile_as_lamm_scores_it():
    samples = [
        dict(task_type="classification", pred_text="Yes, the person is smiling.", gt_text="1"),
        dict(task_type="classification", pred_text="The person is not smiling.", gt_text="-1"),
        dict(task_type="classification", pred_text="No.", gt_text="1"),
        dict(
            task_type="classification", pred_text="Nothing to say.", gt_text="-1"
        ),  # "nothing" ≠ "no"
    ]
    out = run(ClassificationAccuracy(match="lamm_smile"), samples)
    assert out["unknown/classification/accuracy"] == 50.0
