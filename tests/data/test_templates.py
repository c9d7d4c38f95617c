"""Conversation templates: layout, response-only labels, question mask, prompt/train consistency."""

from __future__ import annotations

import pytest

from octavius.data import (
    IGNORE_INDEX,
    LAMM_SYSTEM_MESSAGES,
    SYSTEM_PROMPTS,
    LAMMTemplate,
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


# --------------------------------------------------------------------------- LAMM / Octavius
def test_lamm_layout_is_the_releases_training_sample():
    """make_prompt_start + build_one_instance (OpenGVLab/LAMM) with --use_system, conv_v1_2."""
    text = LAMMTemplate().render(TURNS, "detection")
    system = LAMM_SYSTEM_MESSAGES["detection"]
    assert system.startswith("You are an AI visual assistant that can analyze a single image")
    assert text == (
        f"<s>{system}\n\n### Human: <Img><image></Img> What is it?\n### Assistant:"
        "A red square.\n###</s>Human: Which colour?\n### Assistant:red\n###</s>"
    )


def test_lamm_test_prompt_has_no_system_message():
    """prepare_generation_embedding: use_system=False ("no system header in test")."""
    prompt = LAMMTemplate().render(TURNS[:1], "detection", add_generation_prompt=True)
    assert prompt == "<s>### Human: <Img><image></Img> What is it?\n### Assistant:"
    kept = LAMMTemplate(system_at_test=True).render(TURNS[:1], "vqa", add_generation_prompt=True)
    assert kept.startswith(f"<s>{LAMM_SYSTEM_MESSAGES['VQA']}\n\n### Human: ")


def test_lamm_system_message_follows_task_and_modality():
    template = LAMMTemplate()
    scan = [Turn("user", "<point_cloud>\nWhat is on the table?"), Turn("assistant", "A cup.")]
    assert template.render(scan, "vqa").startswith(f"<s>{LAMM_SYSTEM_MESSAGES['VQA3D']}\n\n")
    assert "<Pcl><point_cloud></Pcl> What is on the table?" in template.render(scan, "vqa")
    assert template.system_message("caption", False) == LAMM_SYSTEM_MESSAGES["description"]
    assert template.system_message("caption", True) == LAMM_SYSTEM_MESSAGES["description3d"]
    assert template.system_message("unknown", False) == LAMM_SYSTEM_MESSAGES["normal"]


def test_lamm_question_mask_is_the_first_user_turn_by_default(tok):
    """The release's gate pools conversation[0]['value'] only (moe_set_gate)."""
    first = LAMMTemplate().encode(tok, TURNS, "vqa")
    asked = [t for t, q in zip(first.input_ids, first.question_mask) if q]
    assert tok.decode(asked) == "What is it?"
    every = LAMMTemplate(question_turns="all").encode(tok, TURNS, "vqa")
    asked = [t for t, q in zip(every.input_ids, every.question_mask) if q]
    assert tok.decode(asked) == "What is it?Which colour?"
    with pytest.raises(ValueError, match="question_turns"):
        LAMMTemplate(question_turns="last")


def test_lamm_labels_cover_answers_and_their_separator(tok):
    enc = LAMMTemplate().encode(tok, TURNS, "vqa")
    trained = [t for t, label in zip(enc.input_ids, enc.labels) if label != IGNORE_INDEX]
    assert tok.decode(trained) == "A red square.\n###</s>red\n###</s>"
    assert isinstance(build_template("LAMMTemplate"), LAMMTemplate)
