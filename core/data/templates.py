"""Conversation templates: from turns to token ids, response labels and the question mask.

A template lays a conversation out as a list of :class:`Segment` pieces of text, each of one kind:

- ``context``: system prompt, role names, separators — no loss, not part of the question;
- ``question``: the text of a user turn — no loss, marked in the question mask (Octavius's
  ``z^qu``, the instance gate's input, eq. 3);
- ``response``: an assistant turn and the end-of-sequence token that closes it — the only tokens
  with labels, so the loss covers responses only (every other label is ``-100``).

Each segment is tokenized on its own and the ids are concatenated, so the label and question masks
follow segment boundaries exactly, whatever the tokenizer does with spaces. Training and generation
use the same segments (generation stops before the last response), so the prompt the model sees at
test time is token for token the prefix it was trained on.

Templates are registered in ``TEMPLATES``; build one with :func:`build_template`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from octavius.data.annotation_records import Turn
from octavius.registry import TEMPLATES

__all__ = ["IGNORE_INDEX", "BaseTemplate", "EncodedConversation", "Segment", "build_template"]

#: Label of tokens that carry no loss (PyTorch's cross-entropy ``ignore_index``).
IGNORE_INDEX = -100

_KINDS = ("bos", "context", "question", "response", "eos")


@dataclass(frozen=True)
class Segment:
    """A piece of a laid-out conversation; ``kind`` is one of bos/context/question/response/eos."""

    kind: str
    text: str = ""


@dataclass
class EncodedConversation:
    """A tokenized conversation.

    Attributes:
        input_ids: ``n`` token ids.
        labels: ``n`` ids; ``-100`` everywhere but on response tokens.
        question_mask: ``n`` booleans, true on the tokens of user turns.
        reference: for a generation prompt, the response that was left out (``None`` if none).
        question: the text of the last user turn.
    """

    input_ids: list[int]
    labels: list[int]
    question_mask: list[bool]
    reference: str | None
    question: str

    def __len__(self) -> int:
        return len(self.input_ids)


class BaseTemplate(ABC):
    """Base class of conversation templates.

    Subclasses implement :meth:`segments`.
    """

    @abstractmethod
    def segments(
        self, turns: Sequence[Turn], task: str, add_generation_prompt: bool
    ) -> list[Segment]:
        """Lay ``turns`` out as segments.

        Args:
            turns: alternating user/assistant turns starting with the user; for a generation
                prompt they end with the user turn to answer.
            task: the sample's task type (selects the system prompt).
            add_generation_prompt: end with what precedes an assistant response, so the model
                continues with the response.
        """

    def render(self, turns: Sequence[Turn], task: str, add_generation_prompt: bool = False) -> str:
        """The laid-out conversation as text (BOS/EOS shown as ``<s>``/``</s>``), for reading."""
        special = {"bos": "<s>", "eos": "</s>"}
        return "".join(
            special.get(s.kind, s.text) for s in self.segments(turns, task, add_generation_prompt)
        )

    def encode(self, tokenizer: Any, turns: Sequence[Turn], task: str) -> EncodedConversation:
        """Tokenize a whole conversation for training (labels on every response)."""
        if not turns or turns[-1].role != "assistant":
            raise ValueError("encode() needs a conversation that ends with an assistant turn.")
        segments = self.segments(turns, task, add_generation_prompt=False)
        return self._tokenize(tokenizer, segments, reference=None, question=_last_question(turns))

    def encode_prompt(
        self, tokenizer: Any, turns: Sequence[Turn], task: str
    ) -> EncodedConversation:
        """Tokenize a generation prompt: the conversation up to its last user turn.

        A final assistant turn, if present, is left out and returned as ``reference``; every
        label is ``-100`` (earlier responses are context).
        """
        reference = None
        if turns and turns[-1].role == "assistant":
            reference = turns[-1].text
            turns = turns[:-1]
        if not turns or turns[-1].role != "user":
            raise ValueError("encode_prompt() needs a conversation with a user turn to answer.")
        segments = self.segments(turns, task, add_generation_prompt=True)
        encoded = self._tokenize(
            tokenizer, segments, reference=reference, question=_last_question(turns)
        )
        # Earlier responses are context here: a prompt carries no label.
        encoded.labels = [IGNORE_INDEX] * len(encoded.input_ids)
        return encoded

    @staticmethod
    def _tokenize(
        tokenizer: Any, segments: list[Segment], reference: str | None, question: str
    ) -> EncodedConversation:
        ids: list[int] = []
        labels: list[int] = []
        qmask: list[bool] = []
        for seg in segments:
            if seg.kind not in _KINDS:
                raise ValueError(f"unknown segment kind {seg.kind!r}; expected one of {_KINDS}.")
            if seg.kind == "bos":
                if tokenizer.bos_token_id is None:
                    continue
                piece = [tokenizer.bos_token_id]
            elif seg.kind == "eos":
                piece = [tokenizer.eos_token_id]
            elif not seg.text:
                continue
            else:
                piece = tokenizer(seg.text, add_special_tokens=False)["input_ids"]
            trained = seg.kind in ("response", "eos")
            ids.extend(piece)
            labels.extend(piece if trained else [IGNORE_INDEX] * len(piece))
            qmask.extend([seg.kind == "question"] * len(piece))
        return EncodedConversation(ids, labels, qmask, reference, question)


def _last_question(turns: Sequence[Turn]) -> str:
    return next((t.text for t in reversed(turns) if t.role == "user"), "")


def build_template(cfg: Mapping[str, Any] | str | BaseTemplate) -> BaseTemplate:
    """Build a template from ``dict(type='VicunaV1', ...)``, a bare name, or return it as is.

    Raises:
        TypeError: when the registered class is not a :class:`BaseTemplate`.
    """
    if isinstance(cfg, BaseTemplate):
        return cfg
    if isinstance(cfg, str):
        cfg = {"type": cfg}
    if not isinstance(cfg, Mapping) or "type" not in cfg:
        raise TypeError(
            f"A template config must be a dict with a 'type' key (e.g. 'VicunaV1'), got {cfg!r}."
        )
    template = TEMPLATES.build(dict(cfg))
    if not isinstance(template, BaseTemplate):
        raise TypeError(f"{type(template).__name__} is not a conversation template (BaseTemplate).")
    return template
