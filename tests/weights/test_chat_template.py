"""``Chat`` lays conversations out exactly as the tokenizer's own ``apply_chat_template`` does."""

from __future__ import annotations

from octavius.data import Chat, build_chat_prompt
from octavius.data.annotation_records import Turn
from octavius.data.templates import IGNORE_INDEX
from octavius.data.tokenizer import load_tokenizer

CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '</s>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
TURNS = [
    Turn("user", "<image>\nWhat colour is the cube?"),
    Turn("assistant", "It is red."),
    Turn("user", "And the sphere?"),
    Turn("assistant", "Blue."),
]


def test_text_is_the_tokenizers_rendering(tiny_assets):
    tok = load_tokenizer(tiny_assets.llm)
    template = Chat(chat_template=CHATML)
    encoded = template.encode(tok, TURNS, "vqa")
    system = template.system_prompt("vqa")
    messages = [{"role": "system", "content": system}] + [
        {"role": t.role, "content": t.text} for t in TURNS
    ]
    reference = tok.apply_chat_template(messages, tokenize=False, chat_template=CHATML)
    assert tok.decode(encoded.input_ids) == tok.decode(
        tok(reference, add_special_tokens=False)["input_ids"]
    )
    assert reference == build_chat_prompt(tok, TURNS, system, False, CHATML)


def test_labels_cover_responses_and_their_end_token(tiny_assets):
    tok = load_tokenizer(tiny_assets.llm)
    encoded = Chat(chat_template=CHATML).encode(tok, TURNS, "vqa")
    trained = [i for i, label in zip(encoded.input_ids, encoded.labels) if label != IGNORE_INDEX]
    expected = []
    for text in ("It is red.", "Blue."):
        expected += tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert trained == expected
    question = [i for i, q in zip(encoded.input_ids, encoded.question_mask) if q]
    assert tok.decode(question).replace(
        " ", ""
    ) == "<image>\nWhatcolouristhecube?Andthesphere?".replace(" ", "")


def test_generation_prompt_ends_with_the_assistant_header(tiny_assets):
    tok = load_tokenizer(tiny_assets.llm)
    prompt = Chat(chat_template=CHATML, use_system=False).encode_prompt(tok, TURNS[:3], "vqa")
    assert tok.decode(prompt.input_ids).endswith("<|im_start|>assistant\n")
    assert all(label == IGNORE_INDEX for label in prompt.labels)
