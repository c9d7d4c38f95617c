"""Object-As-Scene point-cloud encoder (Octavius §3.2.2, eq. 5–7), used by the 3D models.

Step 1: RoIs detected offline by FCAF3D (``tools/data/extract_rois.py`` writes one
``<scene_id>.npy`` per scene under ``roi_root``); samples about a given instance (captioning,
classification) use that instance's ground-truth box instead. Step 2: a frozen ULIP-style
Point-BERT encodes the points of each RoI. Step 3: learnable queries fuse the RoI features
through two cross-attention layers with a box positional embedding.
"""

point_bert_path = "checkpoints/point_bert_ulip2.pt"  # ULIP-2 Point-BERT (xyz + rgb)
roi_root = "data/octavius/scan2inst/fcaf3d_rois"

_object_as_scene = dict(
    type="ObjectAsSceneEncoder",
    # ULIP's Point-BERT: 8192 points, 512 groups of 32, 12 blocks of width 384, 768-d feature.
    point_encoder=dict(
        type="PointBERT", in_channels=6, checkpoint="{{point_bert_path}}", frozen=True
    ),
    roi_source=dict(type="PrecomputedRoISource", root="{{roi_root}}"),
    num_rois=64,
    points_per_roi=1024,  # the paper does not say; 1024 keeps 64 RoIs per scene affordable
    num_queries=32,  # tokens per scene; not stated in the paper
    num_layers=2,  # "two stacked transformer layers" (step 3)
    num_heads=8,
)
