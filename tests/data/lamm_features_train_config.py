# Training on LAMM's precomputed 3D object features: a tiny LLaMA with 3 LoRA experts behind an
# instance gate, and the release-style Object-As-Scene (cross- then self-attention over 768-d
# object features, f_PE on box corners, a LayerNorm projector) that reads the features directly.
# The Point-BERT below only fixes the fusion width (proj_dim = 768, LAMM's feature width): it is
# never run on these samples. Paths come from the environment.
assets = "{{$OCTAVIUS_TEST_ASSETS:work_dirs/tiny_lamm/assets}}"
data_root = "{{$OCTAVIUS_TEST_DATA:work_dirs/tiny_lamm/data}}"
config_variables = ["assets", "data_root"]

model = dict(
    type="MultimodalLLM",
    llm=assets + "/llama",
    encoders=dict(
        point_cloud=dict(
            type="ObjectAsSceneEncoder",
            point_encoder=dict(
                type="PointBERT", in_channels=6, trans_dim=16, depth=1, num_heads=2,
                group_size=8, num_group=8, encoder_dims=16, num_points=64, proj_dim=768,
            ),
            num_rois=16,
            points_per_roi=64,
            num_queries=4,
            num_layers=1,
            num_heads=2,
            fusion_block="cross_self",
            dropout=0.1,
            pe_hidden=256,
            pe_activation="relu",
            box_encoding="corners",
        )
    ),
    projector=dict(type="LinearProjector", norm=True),
    adapters=dict(
        preset="octavius",
        experts=dict(num_experts=3, rank=4, alpha=8.0, dropout=0.0),
        router=dict(type="InstanceRouter", top_k=2),
    ),
    generation=dict(max_new_tokens=6),
)  # fmt: skip

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type="DefaultSampler", shuffle=True),
    collate_fn=dict(type="octavius.instruction_collate"),
    dataset=dict(
        type="InstructionDataset",
        ann_file="meta_file/scan2inst_train.json",
        data_root=data_root,
        feature_root="3D_Instruct",
        add_missing_placeholder=True,
        tokenizer=assets + "/llama",
        template="VicunaV1",
        modality_tokens=dict(point_cloud=4),
        max_length=256,
    ),
)

train_cfg = dict(type="IterBasedTrainLoop", max_iters=3)
optim_wrapper = dict(type="OptimWrapper", optimizer=dict(type="AdamW", lr=1e-2, weight_decay=0.0))
default_hooks = dict(
    checkpoint=dict(type="SafeCheckpointHook", interval=1, by_epoch=False),
    logger=dict(type="LoggerHook", interval=1),
)
randomness = dict(seed=0)
default_scope = "octavius"
runner_type = "OctaviusRunner"
log_level = "INFO"
log_processor = dict(by_epoch=False, window_size=1)
