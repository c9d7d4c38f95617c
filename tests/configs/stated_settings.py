"""What each paper config states about itself, written out per config (not parsed from names).

``factors``: ``(E, r)`` of every MixLoRA factor pool; ``mlp_experts``: LLaVA-MoLE's experts per
MLP; ``frequencies``: the sampling frequencies λ of the dataset mixture (LLaVA-MoLE Table 1).
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
}
