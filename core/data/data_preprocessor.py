"""The data preprocessor: pads instruction batches and moves them to the model's device."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from mmengine.model import BaseDataPreprocessor

from octavius.data.collate import instruction_collate
from octavius.data.templates import IGNORE_INDEX
from octavius.registry import MODELS

__all__ = ["InstructionDataPreprocessor", "pad_sequences"]

_SIDES = ("left", "right")


def pad_sequences(sequences: Sequence[torch.Tensor], value: int | bool, side: str) -> torch.Tensor:
    """Stack 1-D tensors into ``(b, n_max)``, padding with ``value`` on ``side``."""
    if side not in _SIDES:
        raise ValueError(f"padding side must be 'left' or 'right', got {side!r}.")
    length = max(len(s) for s in sequences)
    out = torch.full((len(sequences), length), value, dtype=sequences[0].dtype)
    for i, seq in enumerate(sequences):
        if side == "right":
            out[i, : len(seq)] = seq
        else:
            out[i, length - len(seq) :] = seq
    return out


@MODELS.register_module()
class InstructionDataPreprocessor(BaseDataPreprocessor):
    """Pads a collated instruction batch and casts it to the model's device.

    Training batches are right-padded; evaluation (generation) batches left-padded so every
    prompt ends at the last column and generated tokens line up. The model derives position ids
    from the attention mask, so either side gives the same result per sample.

    Output (the keyword arguments of ``MultimodalLLM.forward``)::

        inputs = dict(input_ids (b, n), attention_mask (b, n), labels (b, n),
                      question_mask (b, n) bool, task_ids (b,), images [[...]], point_clouds [[...]],
                      padding_side str)
        data_samples = [dict, ...]

    Args:
        pad_token_id: id used for padding; ``MultimodalLLM`` sets it from its tokenizer.
        train_padding_side: padding side when ``training`` (``"right"``).
        test_padding_side: padding side otherwise (``"left"``, required for batched generation).
        non_blocking: asynchronous device copies.
    """

    def __init__(
        self,
        pad_token_id: int | None = None,
        train_padding_side: str = "right",
        test_padding_side: str = "left",
        non_blocking: bool = False,
    ) -> None:
        super().__init__(non_blocking=non_blocking)
        for name, side in (
            ("train_padding_side", train_padding_side),
            ("test_padding_side", test_padding_side),
        ):
            if side not in _SIDES:
                raise ValueError(
                    f"InstructionDataPreprocessor: {name} must be 'left' or 'right', got {side!r}."
                )
        self.pad_token_id = pad_token_id
        self.train_padding_side = train_padding_side
        self.test_padding_side = test_padding_side

    def forward(
        self, data: dict[str, Any] | Sequence[dict[str, Any]], training: bool = False
    ) -> dict[str, Any]:
        """Pad and move a batch (collated by ``instruction_collate``, or a list of samples)."""
        if not isinstance(data, dict):
            data = instruction_collate(list(data))
        if self.pad_token_id is None:
            raise ValueError(
                "InstructionDataPreprocessor.pad_token_id is not set; set it in the config or let "
                "MultimodalLLM set it from its tokenizer."
            )
        raw = data["inputs"]
        side = self.train_padding_side if training else self.test_padding_side
        ids = [torch.as_tensor(x, dtype=torch.long) for x in raw["input_ids"]]
        labels = raw.get("labels") or [torch.full_like(x, IGNORE_INDEX) for x in ids]
        qmask = raw.get("question_mask") or [torch.zeros_like(x, dtype=torch.bool) for x in ids]
        for i, (x, y, q) in enumerate(zip(ids, labels, qmask)):
            if not (len(x) == len(y) == len(q)) or len(x) == 0:
                raise ValueError(
                    f"sample {i} of the batch has input_ids/labels/question_mask of lengths "
                    f"{len(x)}/{len(y)}/{len(q)}; they must be equal and non-zero."
                )
        inputs = {
            "input_ids": pad_sequences(ids, self.pad_token_id, side),
            "attention_mask": pad_sequences([torch.ones_like(x) for x in ids], 0, side),
            "labels": pad_sequences(
                [torch.as_tensor(y, dtype=torch.long) for y in labels], IGNORE_INDEX, side
            ),
            "question_mask": pad_sequences(
                [torch.as_tensor(q, dtype=torch.bool) for q in qmask], False, side
            ),
            "task_ids": torch.as_tensor(raw.get("task_ids") or [-1] * len(ids), dtype=torch.long),
            "images": raw.get("images") or [[] for _ in ids],
            "point_clouds": raw.get("point_clouds") or [[] for _ in ids],
            "padding_side": side,
        }
        out = self.cast_data({"inputs": inputs, "data_samples": data.get("data_samples")})
        return out
