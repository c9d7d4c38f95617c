"""MixLoRA (§4, appendix B): conditional mixture of LoRA factors in every decoder linear.

The stage-one LLaVA-v1 (CLIP ViT-L/14, linear projector, Vicuna-7B v1.3) with a pool of E rank-1
factors per linear; per instance, r factors are chosen for A and r for B by the Independent Factor
Selection routers, B refined by the Conditional Factor Selection router (eq. 5–9). E = 16, r = 4;
α = 2E (the pool's default, appendix B). Only the MixLoRA modules train: the stage-one
projector is kept fixed (``freeze_projectors``).
"""

from mmengine.config import read_base

with read_base():
    from ..adapters.mixlora import *

llm_path = "checkpoints/vicuna-7b-v1.3"
clip_path = "checkpoints/clip-vit-large-patch14"

model = dict(
    type="MultimodalLLM",
    llm=dict(pretrained="{{llm_path}}", dtype="bfloat16"),  # frozen: bf16 (see below)
    encoders=dict(
        image=dict(type="CLIPImageEncoder", pretrained="{{clip_path}}", feature_layer=-2)
    ),
    projector="LinearProjector",
    freeze_projectors=True,
    adapters=adapters,  # a pool of 16 rank-1 factors, r = 4, ConditionalFactorRouter with CFS
    generation=dict(max_new_tokens=128),  # LLaVA's evaluation scripts (model_vqa_loader.py)
)
model["adapters"]["experts"]["dropout"] = 0.05

# Memory controls (docs/training.md, "Memory"): decoder layers recomputed in backward, the frozen
# LLM and CLIP tower in bf16; adapters, routers, projectors and their optimizer state stay fp32.
# Leaf configs set `model.llm.pretrained`, never `model.llm`, so the dtype reaches every run.
model["gradient_checkpointing"] = True
model["encoders"]["image"]["dtype"] = "bfloat16"
