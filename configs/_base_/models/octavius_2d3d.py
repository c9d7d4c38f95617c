"""Octavius, image + point-cloud modalities: both encoders, 6 LoRA experts, top-2 instance gate.

The 2D model (``octavius_2d.py``) plus Object-As-Scene; 6 experts as in the official 2D+3D
release.
"""

from mmengine.config import read_base

with read_base():
    from .object_as_scene import *
    from .octavius_2d import *

model.encoders.point_cloud = _object_as_scene
model.adapters.experts.num_experts = 6
# f^proj for images (eq. 4); f^proj' for scenes (eq. 7) with the release's LayerNorm (llama_proj_3d).
model.projector = dict(
    image=dict(type="LinearProjector"), point_cloud=dict(type="LinearProjector", norm=True)
)
