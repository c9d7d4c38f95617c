"""Conversation templates: layout, response-only labels, question mask, prompt/train consistency."""

from __future__ import annotations

import pytest

from octavius.data import (
    IGNORE_INDEX,
    SYSTEM_PROMPTS,
    Plain,
    Turn,
    VicunaV1,
    build_template,
    load_tokenizer,
)
from octavius.registry import UnknownComponentError

TURNS = [
    Turn("user", "<image>\nWhat is it?"),
    Turn("assistant", "A red square."),
    Turn("user", "Which colour?"),
    Turn("assistant", "red"),
]


@pytest.fixture(scope="module")
def tok(tokenizer_path):
    return load_tokenizer(tokenizer_path)


def test_vicuna_v1_layout_multi_turn():
    text = VicunaV1(per_task_system=False).render(TURNS, "vqa")
    assert text == (
        f"<s>{SYSTEM_PROMPTS['default']} USER: <image>\nWhat is it? ASSISTANT: A red square.</s>"
        "USER: Which colour? ASSISTANT: red</s>"
    )


def test_labels_cover_exactly_the_responses(tok):
    enc = VicunaV1().encode(tok, TURNS, "vqa")
    assert len(enc.input_ids) == len(enc.labels) == len(enc.question_mask)
    trained = [i for i, label in enumerate(enc.labels) if label != IGNORE_INDEX]
    assert all(enc.labels[i] == enc.input_ids[i] for i in trained)
    # Two responses, each followed by </s>; nothing else carries a label.
    assert tok.decode([enc.input_ids[i] for i in trained]) == " A red square.</s> red</s>"
    assert enc.input_ids[0] == tok.bos_token_id and enc.labels[0] == IGNORE_INDEX
    eos_positions = [i for i, t in enumerate(enc.input_ids) if t == tok.eos_token_id]
    assert [enc.labels[i] for i in eos_positions] == [tok.eos_token_id] * 2


def test_question_mask_covers_the_user_turns(tok):
    enc = VicunaV1().encode(tok, TURNS, "vqa")
    asked = [t for t, q in zip(enc.input_ids, enc.question_mask) if q]
    assert tok.decode(asked) == "<image>\nWhat is it?Which colour?"
    assert not any(q and label != IGNORE_INDEX for q, label in zip(enc.question_mask, enc.labels))


def test_prompt_is_the_training_prefix(tok):
    template = VicunaV1()
    full = template.encode(tok, TURNS, "detection")
    prompt = template.encode_prompt(tok, TURNS, "detection")
    assert prompt.reference == "red"
    assert full.input_ids[: len(prompt.input_ids)] == prompt.input_ids
    assert all(label == IGNORE_INDEX for label in prompt.labels)
    rest = full.input_ids[len(prompt.input_ids) :]
    assert tok.decode(rest) == " red</s>"


def test_system_prompt_follows_the_task():
    template = VicunaV1(system_prompts={"caption": "Caption it."})
    assert template.system_prompt("detection") == SYSTEM_PROMPTS["detection"]
    assert template.system_prompt("caption") == "Caption it."
    assert template.system_prompt("unknown_task") == SYSTEM_PROMPTS["default"]
    assert SYSTEM_PROMPTS["detection"] != SYSTEM_PROMPTS["vqa"]
    assert VicunaV1(per_task_system=False).system_prompt("detection") == SYSTEM_PROMPTS["default"]


def test_plain_keeps_only_placeholders_by_default(tok):
    assert Plain().render(TURNS[:2], "caption") == "<s><image>A red square.</s>"
    assert (
        Plain(keep_question=True).render(TURNS[:2], "caption")
        == "<s><image>\nWhat is it?A red square.</s>"
    )
    enc = Plain().encode(tok, TURNS[:2], "caption")
    trained = [t for t, label in zip(enc.input_ids, enc.labels) if label != IGNORE_INDEX]
    assert tok.decode(trained) == "A red square.</s>"


def test_build_template_by_name_and_errors():
    assert isinstance(build_template("VicunaV1"), VicunaV1)
    assert isinstance(build_template(dict(type="Plain", keep_question=True)), Plain)
    with pytest.raises(UnknownComponentError, match="VicunaV1"):
        build_template("VicunaV2")
    with pytest.raises(ValueError, match="roles"):
        VicunaV1(roles=("USER",))


def test_encode_needs_a_final_response(tok):
    with pytest.raises(ValueError, match="assistant"):
        VicunaV1().encode(tok, TURNS[:1], "vqa")
