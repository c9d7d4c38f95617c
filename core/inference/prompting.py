"""Generation prompts: the LLM's own chat template when it has one, the configured one otherwise.

An instance router pools the question tokens (Octavius's ``z^qu``, eq. 3), so a prompt is more
than text: it needs the mask of the user turns' tokens. A conversation template of
:mod:`octavius.data.templates` gives it by construction. A tokenizer's chat template
(``apply_chat_template``, e.g. SmolLM2's ChatML) renders text only; the user turns are found in
the rendered text in order and their characters mapped to tokens with the fast tokenizer's offset
mapping — the same tokens the model sees, whatever the template adds around them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from octavius.data.annotation_records import Turn
from octavius.data.templates import IGNORE_INDEX, BaseTemplate, EncodedConversation, build_template

__all__ = ["encode_chat_template_prompt", "encode_prompt", "has_chat_template"]


def has_chat_template(tokenizer: Any) -> bool:
    """Whether the tokenizer carries a chat template of its own."""
    return bool(getattr(tokenizer, "chat_template", None))


def encode_chat_template_prompt(
    tokenizer: Any, turns: Sequence[Turn], system: str | None = None
) -> EncodedConversation:
    """Encode a generation prompt with ``tokenizer.apply_chat_template``.

    Args:
        tokenizer: a fast tokenizer with a chat template.
        turns: the conversation, ending with the user turn to answer.
        system: an optional system message put first.

    Raises:
        ValueError: when the template drops or rewrites a user turn's text (it cannot be
            located), or the tokenizer gives no offset mapping.
    """
    if not turns or turns[-1].role != "user":
        raise ValueError("a generation prompt must end with a user turn.")
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": t.role, "content": t.text} for t in turns]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    spans: list[tuple[int, int]] = []
    pos = 0
    for turn in turns:
        start = text.find(turn.text, pos)
        if start < 0:
            raise ValueError(
                f"the chat template of {type(tokenizer).__name__} does not keep the {turn.role} "
                f"turn {turn.text[:40]!r} verbatim; the question tokens cannot be located."
            )
        end = start + len(turn.text)
        if turn.role == "user":
            spans.append((start, end))
        pos = end
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            "prompts with a chat template need a fast tokenizer (offset mapping) to find the "
            "question tokens; load the tokenizer with use_fast=True."
        )
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])
    question = [
        b > a and any(s <= a and b <= e for s, e in spans) for a, b in encoded["offset_mapping"]
    ]
    return EncodedConversation(
        input_ids=ids,
        labels=[IGNORE_INDEX] * len(ids),
        question_mask=question,
        reference=None,
        question=turns[-1].text,
    )


def encode_prompt(
    tokenizer: Any,
    turns: Sequence[Turn],
    task: str,
    template: Mapping[str, Any] | str | BaseTemplate | None = None,
    use_chat_template: bool | None = None,
) -> EncodedConversation:
    """The generation prompt of ``turns``.

    Args:
        tokenizer: the model's tokenizer.
        turns: the conversation, ending with the user turn to answer.
        task: the sample's task (selects the system prompt of the conversation template).
        template: the configured conversation template (Vicuna v1 when ``None``).
        use_chat_template: ``None`` uses the tokenizer's chat template when it has one and the
            configured template otherwise; ``True``/``False`` forces either.
    """
    if use_chat_template is None:
        use_chat_template = has_chat_template(tokenizer)
    if use_chat_template:
        return encode_chat_template_prompt(tokenizer, turns)
    return build_template(template or "VicunaV1").encode_prompt(tokenizer, list(turns), task)
