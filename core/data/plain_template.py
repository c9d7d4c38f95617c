"""The plain template of LLaVA's projector pre-training: ``<image>{caption}</s>``."""

from __future__ import annotations

import re
from collections.abc import Sequence

from octavius.data.annotation_records import Turn
from octavius.data.templates import BaseTemplate, Segment
from octavius.data.tokenizer import PLACEHOLDERS
from octavius.registry import TEMPLATES

__all__ = ["Plain"]

_PLACEHOLDER_RE = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS.values()))


@TEMPLATES.register_module()
class Plain(BaseTemplate):
    """No system prompt, no role names: user text, then the response and ``</s>``.

    LLaVA's ``conv_llava_plain`` used to align the projector on caption pairs. Like LLaVA, the user
    text is reduced to its placeholders by default; with ``keep_question=True`` it is kept (and
    marked in the question mask, which instance routers need).

    Args:
        keep_question: keep the user turns' text instead of only their placeholders.
        add_bos: start with the tokenizer's BOS token.
    """

    def __init__(self, keep_question: bool = False, add_bos: bool = True) -> None:
        self.keep_question = keep_question
        self.add_bos = add_bos

    def segments(
        self, turns: Sequence[Turn], task: str, add_generation_prompt: bool
    ) -> list[Segment]:
        """Optional ``bos``; per turn pair: question (or its placeholders), response + ``eos``."""
        segments = [Segment("bos")] if self.add_bos else []
        for turn in turns:
            if turn.role == "user":
                text = (
                    turn.text if self.keep_question else "".join(_PLACEHOLDER_RE.findall(turn.text))
                )
                segments.append(Segment("question", text))
            else:
                segments.append(Segment("response", turn.text))
                segments.append(Segment("eos"))
        return segments
