"""CaptionMetric: Java-free PTB tokenisation, BLEU-1..4 and CIDEr equal to pycocoevalcap's."""

from __future__ import annotations

import math
import subprocess

import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider

from octavius.evaluation import CaptionMetric, ptb_tokenize


@pytest.mark.parametrize(
    "raw, tokens",
    [
        ("A man, riding a horse.", "a man riding a horse"),
        ("The dog's ball isn't red!", "the dog 's ball is n't red"),
        (
            'A black-and-white cat (sleeping) on 3.5 m of 1,000 "mats"...',
            "a black-and-white cat sleeping on 3.5 m of 1,000 mats",
        ),
        ("Two people -- happy; sad: yes?", "two people happy sad yes"),
        ("They're here\nand we'll go", "they 're here and we 'll go"),
    ],
)
def test_ptb_tokenize(raw, tokens):
    assert ptb_tokenize(raw) == tokens


def test_no_java_is_started(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a subprocess was started: {args}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    metric = CaptionMetric()
    metric.process({}, [dict(task_type="caption", gt_text="a cat", pred_text="A cat.")])
    assert metric.evaluate(1)["unknown/caption/BLEU-1"] == pytest.approx(100.0, abs=1e-4)


def test_bleu_by_hand():
    # unigrams: 5 of 6 match ("sat" does not); bigrams: 3 of 5; equal lengths so no brevity penalty
    metric = CaptionMetric()
    metric.process(
        {},
        [
            dict(
                dataset="d",
                task_type="caption",
                gt_text="The cat is on the mat.",
                pred_text="The cat sat on the mat.",
            )
        ],
    )
    result = metric.evaluate(1)
    assert result["d/caption/BLEU-1"] == pytest.approx(100 * 5 / 6, abs=1e-5)
    assert result["d/caption/BLEU-2"] == pytest.approx(100 * math.sqrt(5 / 6 * 3 / 5), abs=1e-5)


def test_scores_equal_pycocoevalcap_on_pretokenised_text():
    raw = [
        ("A cat sits on the mat.", ["A cat is sitting on a mat.", "There's a cat on the mat!"]),
        ("A dog runs in the park", ["A dog is running through a park.", "The dog runs."]),
        ("Two birds fly over the sea.", ["Birds flying above the ocean.", "Two birds fly."]),
        ("", ["An empty street at night."]),
    ]
    samples = [
        dict(dataset="flickr30k", task_type="caption", pred_text=p, gt_text=refs) for p, refs in raw
    ]
    metric = CaptionMetric()
    metric.process({}, samples[:2])
    metric.process({}, samples[2:])
    result = metric.evaluate(len(samples))

    gts = {i: [ptb_tokenize(r) for r in refs] for i, (_, refs) in enumerate(raw)}
    res = {i: [ptb_tokenize(p)] for i, (p, _) in enumerate(raw)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    expected = [*bleu, cider]
    names = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "CIDEr"]
    assert [result[f"flickr30k/caption/{n}"] for n in names] == pytest.approx(
        [100 * v for v in expected], rel=1e-12
    )
    assert result["flickr30k/caption/CIDEr"] > 0


def test_caption_needs_a_reference():
    with pytest.raises(ValueError, match="no reference caption"):
        CaptionMetric().process({}, [dict(task_type="caption", gt_text=[], pred_text="x")])
