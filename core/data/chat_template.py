"""Prompts in the LLM's own chat template (``tokenizer.apply_chat_template``).

Instruction-tuned LLMs ship their conversation format as a Jinja chat template in the tokenizer
(SmolLM2's ``<|im_start|>user … <|im_end|>``, LLaMA-2 chat's ``[INST] … [/INST]``, …).
:func:`build_chat_prompt` renders turns with it; :class:`Chat` is the conversation template that
trains and prompts a model in that format, with the same segment kinds as every template (see
:mod:`octavius.data.templates`): it renders the conversation with unique markers in place of
each turn's text, then splits the text at the markers, so the chat template's own role names and
separators become ``context``, user texts ``question`` and assistant texts ``response``; the
end-of-turn token right after a response is its ``eos`` (trained, so the model learns to stop).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from octavius.data.annotation_records import Turn
from octavius.data.tasks import SYSTEM_PROMPTS
from octavius.data.templates import BaseTemplate, EncodedConversation, Segment
from octavius.registry import TEMPLATES

__all__ = ["Chat", "build_chat_prompt"]

_MARK = "\ue000{}{}\ue000"  # a private-use character: never in real text
_MARK_RE = re.compile("\ue000([QR])(\\d+)\ue000")


def build_chat_prompt(
    tokenizer: Any,
    turns: Sequence[Turn] | Sequence[tuple[str, str]],
    system: str | None = None,
    add_generation_prompt: bool = True,
    chat_template: str | None = None,
) -> str:
    """The conversation as text in ``tokenizer``'s chat template.

    Args:
        tokenizer: a Hugging Face tokenizer with a ``chat_template``.
        turns: ``Turn``s or ``(role, text)`` pairs, roles ``"user"`` / ``"assistant"``.
        system: a system message, or ``None`` for the template's default.
        add_generation_prompt: end with the assistant's header, for generation.
        chat_template: a Jinja chat template used instead of the tokenizer's (for LLMs
            without one).

    Raises:
        ValueError: when neither the tokenizer nor ``chat_template`` gives a template.
    """
    if not chat_template and not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            f"{type(tokenizer).__name__} has no chat_template; use a template such as "
            "dict(type='VicunaV1') for this LLM."
        )
    pairs = [(t.role, t.text) if isinstance(t, Turn) else tuple(t) for t in turns]
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": role, "content": text} for role, text in pairs]
    return tokenizer.apply_chat_template(
        messages,
        tokenize=False,
        add_generation_prompt=add_generation_prompt,
        chat_template=chat_template,
    )


@TEMPLATES.register_module()
class Chat(BaseTemplate):
    """The LLM's own chat template, with Octavius's per-task system prompts.

    Args:
        tokenizer: directory / name of the tokenizer whose chat template is used; the tokenizer
            the dataset encodes with when ``None``.
        system_prompts: task → system prompt, merged over the built-in ones.
        use_system: send the task's system prompt as the system message; ``False`` leaves the
            chat template's default.
        per_task_system: each task's own system prompt; ``False`` always ``"default"``.
        chat_template: a Jinja chat template replacing the tokenizer's (for LLMs without one).
    """

    def __init__(
        self,
        tokenizer: str | os.PathLike | None = None,
        system_prompts: Mapping[str, str] | None = None,
        use_system: bool = True,
        per_task_system: bool = True,
        chat_template: str | None = None,
    ) -> None:
        self.tokenizer_path = tokenizer
        self.chat_template = chat_template
        self.system_prompts = {**SYSTEM_PROMPTS, **dict(system_prompts or {})}
        self.use_system = use_system
        self.per_task_system = per_task_system
        self._tokenizer: Any = None

    def _tok(self) -> Any:
        if self._tokenizer is None and self.tokenizer_path is not None:
            from octavius.data.tokenizer import load_tokenizer

            self._tokenizer = load_tokenizer(self.tokenizer_path)
        if self._tokenizer is None:
            raise ValueError("Chat: no tokenizer; give tokenizer=... or encode through a dataset.")
        return self._tokenizer

    def encode(self, tokenizer: Any, turns: Sequence[Turn], task: str) -> EncodedConversation:
        self._tokenizer = self._tokenizer or tokenizer
        return super().encode(tokenizer, turns, task)

    def encode_prompt(
        self, tokenizer: Any, turns: Sequence[Turn], task: str
    ) -> EncodedConversation:
        self._tokenizer = self._tokenizer or tokenizer
        return super().encode_prompt(tokenizer, turns, task)

    def system_prompt(self, task: str) -> str | None:
        """The system message for ``task`` (``None`` keeps the chat template's own)."""
        if not self.use_system:
            return None
        key = task if self.per_task_system and task in self.system_prompts else "default"
        return self.system_prompts.get(key)

    def segments(
        self, turns: Sequence[Turn], task: str, add_generation_prompt: bool
    ) -> list[Segment]:
        """Context from the chat template, questions, responses and their end-of-turn token."""
        tokenizer = self._tok()
        marked = [
            Turn(t.role, _MARK.format("Q" if t.role == "user" else "R", i))
            for i, t in enumerate(turns)
        ]
        text = build_chat_prompt(
            tokenizer, marked, self.system_prompt(task), add_generation_prompt, self.chat_template
        )
        eos = tokenizer.eos_token or ""
        segments: list[Segment] = []
        pos, after_response = 0, False
        for match in _MARK_RE.finditer(text):
            segments += self._context(text[pos : match.start()], eos, after_response)
            turn = turns[int(match.group(2))]
            kind = "question" if match.group(1) == "Q" else "response"
            segments.append(Segment(kind, turn.text))
            pos, after_response = match.end(), kind == "response"
        segments += self._context(text[pos:], eos, after_response)
        if len([s for s in segments if s.kind in ("question", "response")]) != len(turns):
            raise ValueError("Chat: the chat template dropped or repeated a turn's text.")
        return segments

    @staticmethod
    def _context(piece: str, eos: str, after_response: bool) -> list[Segment]:
        if after_response and eos and piece.startswith(eos):
            rest = piece[len(eos) :]
            return [Segment("eos")] + ([Segment("context", rest)] if rest else [])
        return [Segment("context", piece)] if piece else []
