"""Object-As-Scene point-cloud encoder (Octavius §3.2.2, eq. 5–7), used by the 3D models.

Step 1: RoIs detected offline by FCAF3D (``tools/data/extract_rois.py`` writes one
``<scene_id>.npy`` per scene under ``roi_root``); samples about a given instance (captioning,
classification) use that instance's ground-truth box instead. Step 2: a frozen ULIP-style
Point-BERT encodes the points of each RoI. Step 3: learnable queries fuse the RoI features
with a box positional embedding.

As the official release (OpenGVLab/LAMM ``src/config/Octavius/*.yaml``, ``resampler3d.py``,
``octavius.py``): 16 queries, one layer of cross-attention then self-attention among the queries
(post-norm, dropout 0.1) — the paper's "two stacked transformer layers" — and
``f_PE = Linear(6, 256) → ReLU → Linear(256, 768)`` on the boxes' min/max corners. The other
reading (32 queries, two cross-attention layers with FFN, no self-attention) is
``fusion_block="cross", num_queries=32, num_layers=2``.
"""

point_bert_path = "checkpoints/point_bert_ulip2.pt"  # ULIP-2 Point-BERT (xyz + rgb)
roi_root = "data/octavius/scan2inst/fcaf3d_rois"

_object_as_scene = dict(
    type="ObjectAsSceneEncoder",
    # ULIP's Point-BERT: 8192 points, 512 groups of 32, 12 blocks of width 384, 768-d feature.
    # Frozen, in bf16 (memory controls); the fusion below trains in fp32.
    point_encoder=dict(
        type="PointBERT",
        in_channels=6,
        checkpoint="{{point_bert_path}}",
        frozen=True,
        dtype="bfloat16",
    ),
    roi_source=dict(type="PrecomputedRoISource", root="{{roi_root}}"),
    num_rois=64,
    points_per_roi=1024,  # the paper does not say; 1024 keeps 64 RoIs per scene affordable
    num_queries=16,  # num_query_rsp_3d
    num_layers=1,  # num_layers_rsp_3d: one cross- plus one self-attention block
    num_heads=8,  # num_heads_rsp_3d
    fusion_block="cross_self",
    dropout=0.1,
    pe_hidden=256,
    pe_activation="relu",
    box_encoding="corners",
)
