"""LLaVA-MoLE (§3–4.1): LLaVA-1.5 with a sparse mixture of LoRA experts on the MLP layers.

CLIP ViT-L/14 at 336 px (576 patch tokens) → two-layer MLP projector → Vicuna-7B-v1.5. Each MLP
(gate/up/down) gets rank-32 LoRA experts routed per token to the top-1 expert by one router per
MLP block (eq. 3–6), with the Switch-style balancing loss at α = 1e-2 and no token dropped; the
attention projections get a plain rank-32 LoRA. ViT and Vicuna stay frozen.
"""

from mmengine.config import read_base

with read_base():
    from ..adapters.llava_mole import *

llm_path = "checkpoints/vicuna-7b-v1.5"
clip_path = "checkpoints/clip-vit-large-patch14-336"

model = dict(
    type="MultimodalLLM",
    llm=dict(pretrained="{{llm_path}}", dtype="bfloat16"),  # frozen: bf16 (see below)
    encoders=dict(
        image=dict(type="CLIPImageEncoder", pretrained="{{clip_path}}", feature_layer=-2)
    ),
    projector=dict(type="MLPProjector", num_layers=2),
    adapters=adapters,  # rules "mlp" (token top-1 of 3 LoRA experts) and "attention" (LoRA)
    generation=dict(max_new_tokens=128),  # LLaVA's evaluation scripts (model_vqa_loader.py)
)

# Memory controls (docs/training.md, "Memory"): decoder layers recomputed in backward, the frozen
# LLM and CLIP tower in bf16; adapters, routers, projectors and their optimizer state stay fp32.
# Leaf configs set `model.llm.pretrained`, never `model.llm`, so the dtype reaches every run.
model["gradient_checkpointing"] = True
model["encoders"]["image"]["dtype"] = "bfloat16"
