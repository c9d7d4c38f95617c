"""Exports: a merged standalone Hugging Face model for one routing, and peft LoRA adapters both ways.

- :mod:`octavius.export.merged` — ``W' = W + Σ_k w_k·(α/r)·B_k A_k`` for an expert set or a
  prompt's routing, saved with ``save_pretrained``;
- :mod:`octavius.export.peft_io` — adapters in peft's format (``adapter_config.json`` +
  ``adapter_model.safetensors``), exported and imported.
"""

from __future__ import annotations

from octavius.export.merged import (
    EXPORT_INFO_FILE,
    expert_set_decision,
    export_merged_model,
    merged_state_dict,
    prompt_routing,
)
from octavius.export.peft_io import (
    PeftFormatError,
    export_peft_adapter,
    import_peft_adapter,
    peft_adapter_rules,
    read_peft_adapter,
)

__all__ = [
    "EXPORT_INFO_FILE",
    "PeftFormatError",
    "expert_set_decision",
    "export_merged_model",
    "export_peft_adapter",
    "import_peft_adapter",
    "merged_state_dict",
    "peft_adapter_rules",
    "prompt_routing",
    "read_peft_adapter",
]
