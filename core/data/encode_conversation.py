"""Transform: tokenize a sample's conversation with a template and pack the model inputs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from octavius.data.annotation_records import Turn
from octavius.data.errors import DataError
from octavius.data.templates import BaseTemplate, EncodedConversation, build_template
from octavius.data.tokenizer import PLACEHOLDERS, load_tokenizer
from octavius.registry import TRANSFORMS

__all__ = ["EncodeConversation"]


@TRANSFORMS.register_module()
class EncodeConversation:
    """Turn ``results['turns']`` into ``input_ids``, ``labels`` and ``question_mask`` tensors.

    For training the whole conversation is encoded (labels on the responses); with
    ``for_generation=True`` only the prompt up to the last user turn is, and the left-out response
    becomes the ``gt_text`` of the data sample (what the metrics compare against). The output is
    the sample the collate function and
    :class:`~octavius.data.data_preprocessor.InstructionDataPreprocessor` expect::

        dict(input_ids=(n,) long, labels=(n,) long, question_mask=(n,) bool,
             images=[...], point_clouds=[...], task_id=int, data_sample=dict(...))

    Args:
        tokenizer: a tokenizer directory / hub name (loaded with :func:`load_tokenizer`) or a
            loaded tokenizer.
        template: conversation template config (``TEMPLATES``).
        max_length: the LLM context length; a longer sample (text tokens plus the modality
            tokens its placeholders expand to) is an error — samples are never truncated.
        modality_tokens: tokens each placeholder expands to, per modality, for the length
            check (the encoders' ``num_tokens``); missing modalities count one token.
        for_generation: encode a generation prompt instead of a training conversation.
    """

    def __init__(
        self,
        tokenizer: str | os.PathLike | Any,
        template: Mapping[str, Any] | str | BaseTemplate = "VicunaV1",
        max_length: int = 2048,
        modality_tokens: Mapping[str, int] | None = None,
        for_generation: bool = False,
    ) -> None:
        if max_length <= 0:
            raise ValueError(f"EncodeConversation: max_length must be positive, got {max_length}.")
        unknown = set(modality_tokens or {}) - set(PLACEHOLDERS)
        if unknown:
            raise ValueError(
                f"EncodeConversation: unknown modalities {sorted(unknown)} in modality_tokens; known: {sorted(PLACEHOLDERS)}."
            )
        self.tokenizer = (
            load_tokenizer(tokenizer) if isinstance(tokenizer, (str, os.PathLike)) else tokenizer
        )
        self.template = build_template(template)
        self.max_length = max_length
        self.modality_tokens = {m: int((modality_tokens or {}).get(m, 1)) for m in PLACEHOLDERS}
        self.placeholder_ids = {
            m: self.tokenizer.convert_tokens_to_ids(p) for m, p in PLACEHOLDERS.items()
        }
        self.for_generation = for_generation

    def encode(self, turns: list[Turn], task: str) -> EncodedConversation:
        """Encode ``turns`` (training conversation or generation prompt) and check the length.

        Raises:
            DataError: ``too_long`` when the expanded sequence exceeds ``max_length``.
        """
        if self.for_generation:
            encoded = self.template.encode_prompt(self.tokenizer, turns, task)
        else:
            encoded = self.template.encode(self.tokenizer, turns, task)
        length = self.expanded_length(encoded.input_ids)
        if length > self.max_length:
            raise DataError(
                "too_long",
                f"the sample is {length} tokens long (text and modality tokens) but the context is "
                f"max_length={self.max_length}; raise max_length, shorten the conversation, or set "
                "on_error='skip'. Samples are never truncated.",
            )
        return encoded

    def expanded_length(self, input_ids: list[int]) -> int:
        """Sequence length once every placeholder is replaced by its modality tokens."""
        extra = sum(
            (self.modality_tokens[m] - 1) * input_ids.count(i)
            for m, i in self.placeholder_ids.items()
        )
        return len(input_ids) + extra

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        turns = [Turn(role, text) for role, text in results["turns"]]
        encoded = self.encode(turns, results["task_type"])
        data_sample = {
            "sample_id": results["sample_id"],
            "source": results.get("source"),
            "task_type": results["task_type"],
            "task_id": results["task_id"],
            "task_definition": results.get("task_definition", ""),
            "question": encoded.question,
            "gt_text": encoded.reference,
            "num_turns": len(turns),
            "image_paths": list(results.get("image_paths", [])),
            "scene_id": results.get("scene_id"),
            "object_id": results.get("object_id"),
            "dataset": results.get("dataset"),
            "extra": dict(results.get("extra") or {}),
        }
        return {
            "input_ids": torch.tensor(encoded.input_ids, dtype=torch.long),
            "labels": torch.tensor(encoded.labels, dtype=torch.long),
            "question_mask": torch.tensor(encoded.question_mask, dtype=torch.bool),
            "images": results.get("images", []),
            "point_clouds": results.get("point_clouds", []),
            "task_id": results["task_id"],
            "data_sample": data_sample,
        }

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(template={type(self.template).__name__}, "
            f"max_length={self.max_length}, for_generation={self.for_generation})"
        )
