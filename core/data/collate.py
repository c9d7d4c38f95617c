"""Collation of instruction samples: group them, pad nothing yet.

Padding depends on what the batch is for — right padding to train, left padding to generate —
which only the data preprocessor knows (mmengine tells it ``training``), so the collate function
just groups the variable-length samples; :class:`InstructionDataPreprocessor` pads.

mmengine's ``Runner`` looks collate functions up in its root ``FUNCTIONS`` registry, so a config
names it with its scope: ``collate_fn=dict(type='octavius.instruction_collate')``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from octavius.registry import FUNCTIONS

__all__ = ["INPUT_KEYS", "instruction_collate"]

#: Keys of a packed sample that become model inputs (the rest is ``data_sample`` metadata).
INPUT_KEYS = ("input_ids", "labels", "question_mask", "images", "point_clouds")


@FUNCTIONS.register_module()
def instruction_collate(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Group packed samples (see ``EncodeConversation``) into lists.

    Returns:
        ``dict(inputs=dict(input_ids=[...], labels=[...], question_mask=[...], images=[[...]],
        point_clouds=[[...]], task_ids=[...]), data_samples=[...])`` — one list entry per sample.
    """
    if not batch:
        raise ValueError("instruction_collate got an empty batch.")
    missing = [k for k in ("input_ids", "data_sample") if k not in batch[0]]
    if missing:
        raise KeyError(
            f"instruction_collate: samples lack {missing}; the dataset pipeline must end with "
            "EncodeConversation."
        )
    inputs = {key: [sample.get(key, []) for sample in batch] for key in INPUT_KEYS}
    inputs["task_ids"] = [int(sample.get("task_id", -1)) for sample in batch]
    return {"inputs": inputs, "data_samples": [sample["data_sample"] for sample in batch]}
