"""model.chat: streaming, history, and prompts built with a tokenizer's chat template."""

from __future__ import annotations

import copy

import pytest

from octavius.data.annotation_records import Turn
from octavius.data.vicuna_v1 import VicunaV1
from octavius.inference import encode_chat_template_prompt, encode_prompt, stream_chat

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_streamed_answer_equals_the_plain_answer(model):
    plain = model.chat("What is in the picture?", max_new_tokens=10)
    pieces, wait = stream_chat(model, "What is in the picture?", max_new_tokens=10)
    streamed = list(pieces)
    response = wait()
    assert len(streamed) > 1  # tokens arrive one by one, not as one block
    assert "".join(streamed).strip() == plain.text == response.text
    assert response.token_ids == plain.token_ids


def test_history_is_part_of_the_prompt(model):
    first = model.chat("Name a colour.", max_new_tokens=6)
    assert first.history[-2:] == [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": first.text},
    ]
    second = model.chat("And another one?", history=first.history, max_new_tokens=6)
    assert len(second.history) == 4
    alone = model.chat("And another one?", max_new_tokens=6)
    assert second.token_ids != alone.token_ids or second.text == alone.text == ""


def test_vicuna_prompt_marks_only_the_question(model):
    turns = [Turn("user", "What is shown here?")]
    encoded = encode_prompt(model.tokenizer, turns, "vqa", use_chat_template=False)
    expected = VicunaV1().encode_prompt(model.tokenizer, turns, "vqa")
    assert encoded.input_ids == expected.input_ids
    marked = [t for t, q in zip(encoded.input_ids, encoded.question_mask) if q]
    assert model.tokenizer.decode(marked) == "What is shown here?"


def test_chat_template_prompt_marks_the_user_turns(model):
    tokenizer = copy.deepcopy(model.tokenizer)
    tokenizer.chat_template = CHATML
    turns = [
        Turn("user", "Hello there."),
        Turn("assistant", "Hi."),
        Turn("user", "Count the squares."),
    ]
    encoded = encode_prompt(tokenizer, turns, "vqa")  # the tokenizer's template wins
    text = tokenizer.decode(encoded.input_ids)
    assert text.startswith("<|im_start|>user\nHello there.<|im_end|>")
    assert text.endswith("<|im_start|>assistant\n")
    marked = tokenizer.decode([t for t, q in zip(encoded.input_ids, encoded.question_mask) if q])
    assert marked.replace(" ", "") == "Hellothere.Countthesquares."
    assert encoded.input_ids == tokenizer(text, add_special_tokens=False)["input_ids"]


def test_chat_template_that_drops_a_turn_is_refused(model):
    tokenizer = copy.deepcopy(model.tokenizer)
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }}{% endfor %}"
    with pytest.raises(ValueError, match="verbatim"):
        encode_chat_template_prompt(tokenizer, [Turn("user", "Hello")])
