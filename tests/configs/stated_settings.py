"""What each paper config states about itself, written out per config (not parsed from names).

``factors``: ``(E, r)`` of every MixLoRA factor pool; ``mlp_experts``: LLaVA-MoLE's experts per
MLP; ``frequencies``: the sampling frequencies λ of the dataset mixture (LLaVA-MoLE Table 1);
``lora_rank``: the rank of every LoRA, all at α = 2r (LLaVA-MoLE Table 3, MixLoRA's baselines).
A config listed here is checked against its entry by ``test_configs.py``.
"""

from __future__ import annotations

from typing import Any

STATED: dict[str, dict[str, Any]] = {
    "mixlora_e16_r2": {"factors": (16, 2)},
    "mixlora_e16_r4": {"factors": (16, 4)},
    "mixlora_e16_r4_no_cfs": {"factors": (16, 4)},
    "mixlora_e16_r8": {"factors": (16, 8)},
    "mixlora_e32_r2": {"factors": (32, 2)},
    "mixlora_e32_r4": {"factors": (32, 4)},
    "mixlora_e32_r4_no_cfs": {"factors": (32, 4)},
    "mixlora_e32_r4_random": {"factors": (32, 4)},
    "mixlora_e32_r4_task_embedding": {"factors": (32, 4)},
    "mixlora_e32_r8": {"factors": (32, 8)},
    "llava_15_mix100": {"frequencies": [1.0, 0.0, 0.0]},
    "llava_mix_mix110": {"frequencies": [1.0, 1.0, 0.0]},
    "llava_mix_mix111": {"frequencies": [1.0, 1.0, 1.0]},
    "llava_mole_e2_mix101": {"mlp_experts": 2, "frequencies": [1.0, 0.0, 1.0]},
    "llava_mole_e2_mix101_dense": {"mlp_experts": 2, "frequencies": [1.0, 0.0, 1.0]},
    "llava_mole_e2_mix110": {"mlp_experts": 2, "frequencies": [1.0, 1.0, 0.0]},
    "llava_mole_e2_mix120": {"mlp_experts": 2, "frequencies": [1.0, 2.0, 0.0]},
    "llava_mole_e3_mix110": {"mlp_experts": 3, "frequencies": [1.0, 1.0, 0.0]},
    "llava_mole_e3_mix111": {"mlp_experts": 3, "frequencies": [1.0, 1.0, 1.0]},
    "llava_mole_e3_mix121": {"mlp_experts": 3, "frequencies": [1.0, 2.0, 1.0]},
    "llava_mole_e5_mix110": {"mlp_experts": 5, "frequencies": [1.0, 1.0, 0.0]},
    "llava_mole_e8_mix110": {"mlp_experts": 8, "frequencies": [1.0, 1.0, 0.0]},
    "llava_mole_e16_mix110": {"mlp_experts": 16, "frequencies": [1.0, 1.0, 0.0]},
    "llava_mole_e3_mix111_dense": {"mlp_experts": 3, "frequencies": [1.0, 1.0, 1.0]},
    "llava_mole_e2_mix110_r128": {
        "mlp_experts": 2,
        "frequencies": [1.0, 1.0, 0.0],
        "lora_rank": 128,
    },
    "llava_mix_mix101": {"frequencies": [1.0, 0.0, 1.0]},
    "llava_mix_mix120": {"frequencies": [1.0, 2.0, 0.0]},
    "llava_mix_mix121": {"frequencies": [1.0, 2.0, 1.0]},
    "llava_mix_mix111_2ep": {"frequencies": [1.0, 1.0, 1.0]},
    "llava_mix_mix100_r64": {"frequencies": [1.0, 0.0, 0.0], "lora_rank": 64},
    "llava_mix_mix100_r96": {"frequencies": [1.0, 0.0, 0.0], "lora_rank": 96},
    "llava_mix_mix100_r128": {"frequencies": [1.0, 0.0, 0.0], "lora_rank": 128},
    "llava_mix_mix110_r64": {"frequencies": [1.0, 1.0, 0.0], "lora_rank": 64},
    "llava_mix_mix110_r96": {"frequencies": [1.0, 1.0, 0.0], "lora_rank": 96},
    "llava_mix_mix110_r128": {"frequencies": [1.0, 1.0, 0.0], "lora_rank": 128},
    "mixlora_e16_r2_no_cfs": {"factors": (16, 2)},
    "mixlora_e16_r4_seen_tasks": {"factors": (16, 4)},
    "mixlora_e16_r8_no_cfs": {"factors": (16, 8)},
    "mixlora_e32_r2_no_cfs": {"factors": (32, 2)},
    "mixlora_e32_r8_no_cfs": {"factors": (32, 8)},
    "lora_r2": {"lora_rank": 2},
    "lora_r4": {"lora_rank": 4},
    "lora_r8": {"lora_rank": 8},
    "lora_r16": {"lora_rank": 16},
    "lora_r32": {"lora_rank": 32},
    "lora_r4_specialist": {"lora_rank": 4},
    "lora_r16_specialist": {"lora_rank": 16},
    "lora_r4_seen_tasks": {"lora_rank": 4},
    "lora_r16_seen_tasks": {"lora_rank": 16},
}

#: Memory controls of every paper config (docs/training.md, "Memory controls"): the frozen LLM
#: and frozen encoders (CLIP, Point-BERT) in bf16, adapters / routers / projectors / fusion in
#: fp32, gradient checkpointing on the LLM.
PAPER_MEMORY: dict[str, Any] = {"frozen_dtype": "bfloat16", "gradient_checkpointing": True}

#: ``(micro-batch per device, accumulation steps)`` by config, first matching name prefix wins:
#: Octavius — the release's train_batch_size 64 = 8 GPUs × 4 × 2; LLaVA-MoLE — Table 1 (SFT 64 =
#: 8 × 4 × 2, PT 256 = 8 × 8 × 4); MixLoRA — appendix B (8 per GPU × 4 GPUs × 4 = 128), its stage
#: one LLaVA-v1's 128 = 8 × 4 × 4.
BATCHING: list[tuple[str, tuple[int, int]]] = [
    ("llava_mole_stage1_pretrain", (8, 4)),
    ("mixlora_stage1_align", (4, 4)),
    ("octavius", (4, 2)),
    ("llava_", (4, 2)),
    ("mixlora_", (8, 4)),
    ("lora_", (8, 4)),
]
