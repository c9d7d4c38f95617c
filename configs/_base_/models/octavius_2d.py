"""Octavius, image modality (§3.1–3.2.1): CLIP ViT-L/14 → linear projector → Vicuna + LoRA-MoE.

LoRA-MoE (eq. 3): rank-32 LoRA experts on q/k/v/o of every decoder layer, one instance-based gate
for the whole model choosing the top-2 experts from the question ``z^qu``; 4 experts for 2D
(Table 5). Only the experts, the gate and the projector train. The frozen LLM and CLIP load in
bfloat16 (as the release trains in bf16), the trained parts stay in float32.
"""

from mmengine.config import read_base

with read_base():
    from ..adapters.octavius import *

# Vicuna v0, as in the LAMM/Octavius release (the paper's main text does not give the size).
llm_path = "checkpoints/vicuna-13b-v0"
clip_path = "checkpoints/clip-vit-large-patch14"  # openai/clip-vit-large-patch14 (224 px)

model = dict(
    type="MultimodalLLM",
    llm=dict(pretrained="{{llm_path}}", dtype="bfloat16"),  # frozen: bf16 (see below)
    encoders=dict(
        # Penultimate-layer patch tokens, as LLaVA/LAMM; the paper does not name the layer.
        image=dict(type="CLIPImageEncoder", pretrained="{{clip_path}}", feature_layer=-2),
    ),
    projector="LinearProjector",  # f^proj of eq. 4
    adapters=adapters,  # 4 rank-32 LoRA experts on q/k/v/o, global top-2 instance gate
    # As the release (max_tgt_len: 400 for every task, ChEF octavius_*.yaml); answers end at its
    # "###" separator (LAMMTemplate).
    generation=dict(max_new_tokens=400, stop_strings=["###"]),
)

# Memory controls (docs/training.md, "Memory"): decoder layers recomputed in backward, the frozen
# LLM and CLIP tower in bf16; adapters, routers, projectors and their optimizer state stay fp32.
# Leaf configs set `model.llm.pretrained`, never `model.llm`, so the dtype reaches every run.
model["gradient_checkpointing"] = True
model["encoders"]["image"]["dtype"] = "bfloat16"
