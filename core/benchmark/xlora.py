"""peft's X-LoRA as a benchmark variant.

X-LoRA loads its experts as saved LoRA adapters (``adapters={name: path}``), so four randomly
initialised LoRA adapters are first saved to a temporary directory and loaded back through the
real loading path — no model hub involved. Its classifier reads the last hidden state of a
no-grad "scaling pass" of the whole model and then runs the real pass with per-token softmax
scalings over all adapters (dense), so one step costs two forwards.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from torch import nn

from octavius.benchmark.model import PreparedVariant, clone_with_shared_weights
from octavius.benchmark.options import ModelSetup


def build_xlora(
    model: nn.Module,
    setup: ModelSetup,
    targets: Sequence[str],
    num_experts: int = 4,
    rank: int = 32,
) -> PreparedVariant:
    """X-LoRA over ``num_experts`` LoRA adapters of rank ``rank`` on ``targets``.

    The adapters are trainable (``use_trainable_adapters=True``) as in the MoE variants, and the
    classifier has depth 1 (one linear, per token, peft's default).
    """
    from peft import LoraConfig, XLoraConfig, get_peft_model

    lora_config = LoraConfig(
        task_type="CAUSAL_LM",
        r=rank,
        lora_alpha=2 * rank,
        lora_dropout=0.0,
        target_modules=list(targets),
    )
    with tempfile.TemporaryDirectory(prefix="octavius-xlora-") as tmp:
        # peft activates the adapters under their keys but loads them as "0", "1", …: the keys
        # must be those indices.
        adapters: dict[str, str] = {}
        for index in range(num_experts):
            path = Path(tmp) / str(index)
            get_peft_model(clone_with_shared_weights(model), lora_config).save_pretrained(path)
            adapters[str(index)] = str(path)
        config = XLoraConfig(
            task_type="CAUSAL_LM",
            hidden_size=setup.hidden_size,
            adapters=adapters,
            use_trainable_adapters=True,
            xlora_depth=1,
        )
        xlora_model = get_peft_model(model, config)
    return PreparedVariant.from_model(
        "peft_xlora_e4_r32",
        xlora_model,
        info={
            "adapted_linears": setup.num_layers * len(targets),
            "note": "two forwards per step: a no-grad scaling pass, then the real pass",
        },
    )
