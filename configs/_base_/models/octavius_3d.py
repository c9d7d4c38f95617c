"""Octavius, point-cloud modality: Object-As-Scene → linear projector → Vicuna + LoRA-MoE.

As the 2D model (``octavius_2d.py``) with the point-cloud encoder instead of CLIP, and 3 experts
(the 3D setting of the official release).
"""

from mmengine.config import read_base

with read_base():
    from ..adapters.octavius import *
    from .object_as_scene import *

llm_path = "checkpoints/vicuna-13b-v0"

model = dict(
    type="MultimodalLLM",
    llm=dict(pretrained="{{llm_path}}", dtype="bfloat16"),  # frozen: bf16 (see below)
    encoders=dict(point_cloud=_object_as_scene),
    # f^proj' of eq. 7; the release follows it with a LayerNorm (llama_proj_3d)
    projector=dict(type="LinearProjector", norm=True),
    adapters=adapters,
    # As the release (max_tgt_len: 400 for every task, ChEF octavius_*.yaml); answers end at its
    # "###" separator (LAMMTemplate).
    generation=dict(max_new_tokens=400, stop_strings=["###"]),
)
model["adapters"]["experts"]["num_experts"] = 3  # the 3D setting of the release

# Memory controls (docs/training.md, "Memory"): decoder layers recomputed in backward, the frozen
# LLM (and Point-BERT, object_as_scene.py) in bf16; adapters, gate, fusion and projector in fp32.
# Leaf configs set `model.llm.pretrained`, never `model.llm`, so the dtype reaches every run.
model["gradient_checkpointing"] = True
