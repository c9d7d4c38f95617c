"""RetemplateDetectionAnswer: detection answers worded anew at every read, as the Octavius release."""

from __future__ import annotations

import re

import pytest

from octavius.data import (
    DETECTION_ANSWER_TEMPLATES,
    DataError,
    InstructionDataset,
    RetemplateDetectionAnswer,
    parse_detection_answer,
)
from octavius.evaluation.box_parsing import parse_boxes
from tests.data.data_testing import image_sample, save_png, write_json

# LAMM v2's detection answers: one <Item> per object (OctaviusDataset.get_2d_data parses them).
XML = (
    "<Items><Item><x1>0.1234</x1><y1>0.2</y1><x2>0.5</x2><y2>1.2</y2><cls>dog</cls></Item>"
    "<Item><x1>-0.1</x1><y1>0.3</y1><x2>0.45</x2><y2>0.8</y2><cls>person</cls></Item>"
    "<Item><x1>0.6</x1><y1>0.1</y1><x2>0.9</x2><y2>0.4</y2><cls>potted plant</cls></Item></Items>"
)
# Clipped to [0, 1] and rounded to 2 decimals, as str([round(x, 2) for x in box]).
BOXES = {
    "dog": "[0.12, 0.2, 0.5, 1.0]",
    "person": "[0.0, 0.3, 0.45, 0.8]",
    "potted plant": "[0.6, 0.1, 0.9, 0.4]",
}


def _sample(answer: str = XML, task: str = "detection") -> dict:
    return dict(
        turns=[("user", "<image>\nDetect all objects."), ("assistant", answer)], task_type=task
    )


def _sentences(text: str) -> list[str]:
    """The answer split into the release's sentences: each ends with '.' after the class."""
    return [s for s in re.split(r"(?<=\.) (?=[A-Z])", text) if s]


def test_parses_lamm_xml_with_clipping():
    items = parse_detection_answer(XML)
    assert items == [
        ("dog", [0.1234, 0.2, 0.5, 1.0]),
        ("person", [0.0, 0.3, 0.45, 0.8]),
        ("potted plant", [0.6, 0.1, 0.9, 0.4]),
    ]
    assert parse_detection_answer("cat [0.1, 0.2, 0.3, 0.4] and dog: [0.5, 0.5, 0.9, 0.9]") == [
        ("cat", [0.1, 0.2, 0.3, 0.4]),
        ("dog", [0.5, 0.5, 0.9, 0.9]),
    ]
    assert parse_detection_answer("no boxes here") is None


def test_every_box_once_in_a_release_template():
    answer = RetemplateDetectionAnswer(seed=0)(_sample())["turns"][1][1]
    sentences = _sentences(answer)
    assert len(sentences) == 3
    seen = {}
    for sentence in sentences:
        match = next(
            (
                (name, template)
                for template in DETECTION_ANSWER_TEMPLATES
                for name, box in BOXES.items()
                if sentence == template.format(P=box, C=name)
            ),
            None,
        )
        assert match is not None, sentence
        seen[match[0]] = match[1]
    assert set(seen) == set(BOXES)
    # The metrics read the rewritten answer back to the same boxes.
    parsed = {tuple(b.coords) for b in parse_boxes(answer)}
    assert parsed == {(0.12, 0.2, 0.5, 1.0), (0.0, 0.3, 0.45, 0.8), (0.6, 0.1, 0.9, 0.4)}


def test_wording_and_order_change_from_read_to_read():
    transform = RetemplateDetectionAnswer(seed=1)
    answers = {transform(_sample())["turns"][1][1] for _ in range(20)}
    assert len(answers) > 10
    orders = {tuple(n for s in _sentences(a) for n in BOXES if BOXES[n] in s) for a in answers}
    assert len(orders) > 1  # the boxes are shuffled, not only the sentences


def test_other_tasks_are_left_alone_and_bad_answers_are_errors():
    transform = RetemplateDetectionAnswer(seed=0)
    vqa = _sample("A dog.", task="vqa")
    assert transform(vqa) == vqa
    with pytest.raises(DataError, match="no box"):
        transform(_sample("I see a dog."))
    with pytest.raises(ValueError, match="template"):
        RetemplateDetectionAnswer(templates=["no placeholders"])


def test_dataset_rewrites_detection_answers_at_every_read(tmp_path, tokenizer_path):
    save_png(tmp_path / "a.png")
    ann = write_json(
        tmp_path / "det.json",
        [image_sample("d0", "a.png", "<image>\nDetect all objects.", XML, task="detection")],
    )
    dataset = InstructionDataset(
        str(ann),
        tokenizer=tokenizer_path,
        image_root=str(tmp_path),
        template=dict(type="LAMMTemplate"),
        text_transforms=[dict(type="RetemplateDetectionAnswer")],
        serialize_data=False,
    )
    tok = dataset.tokenizer
    responses = set()
    for _ in range(6):
        item = dataset[0]
        trained = item["input_ids"][item["labels"] != -100].tolist()
        responses.add(tok.decode(trained))
    assert len(responses) > 1
    assert all("<Item>" not in r and "potted plant" in r for r in responses)
    with pytest.raises(ValueError, match="not both"):
        InstructionDataset(
            str(ann), tokenizer=tokenizer_path, pipeline=[], text_transforms=[dict(type="X")]
        )
