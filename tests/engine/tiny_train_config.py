# A minimal end-to-end config for the runner tests: a tiny LLaMA + tiny CLIP, 3 LoRA experts
# behind a global instance gate, and a small synthetic 2D data set. Paths come from the
# environment so each test can use its own directories; the `quickstart` section builds the
# assets and the data on first use.
assets = "{{$OCTAVIUS_TEST_ASSETS:work_dirs/tiny_engine/assets}}"
data_root = "{{$OCTAVIUS_TEST_DATA:work_dirs/tiny_engine/data}}"
config_variables = ["assets", "data_root", "dataset_common"]

quickstart = dict(
    tiny_assets=dict(root=assets),
    synthetic=dict(
        out_dir=data_root,
        num_images=12,
        num_scenes=0,
        tasks=["classification", "vqa_open"],
        test_fraction=0.34,
        progress=False,
    ),
)

model = dict(
    type="MultimodalLLM",
    llm=assets + "/llama",
    encoders=dict(image=dict(type="CLIPImageEncoder", pretrained=assets + "/clip")),
    projector=dict(type="LinearProjector"),
    adapters=dict(
        preset="octavius",
        experts=dict(num_experts=3, rank=4, alpha=8.0, dropout=0.0),
        router=dict(type="InstanceRouter", top_k=2, balance_loss_weight=0.01),
    ),
    generation=dict(max_new_tokens=6),
)

dataset_common = dict(
    type="InstructionDataset",
    data_root=data_root,
    image_root="images",
    tokenizer=assets + "/llama",
    template="VicunaV1",
    modality_tokens=dict(image=16),
    max_length=512,
)
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type="DefaultSampler", shuffle=True),
    collate_fn=dict(type="octavius.instruction_collate"),
    dataset=dict(**dataset_common, ann_file="annotations/2d_train.json"),
)
test_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type="DefaultSampler", shuffle=False),
    collate_fn=dict(type="octavius.instruction_collate"),
    dataset=dict(**dataset_common, ann_file="annotations/2d_test.json", test_mode=True),
)
test_evaluator = [dict(type="ClassificationAccuracy"), dict(type="VQAAccuracy")]
test_cfg = dict(type="TestLoop")

train_cfg = dict(type="IterBasedTrainLoop", max_iters=8)
optim_wrapper = dict(type="OptimWrapper", optimizer=dict(type="AdamW", lr=1e-3, weight_decay=0.0))
param_scheduler = [
    dict(type="LinearLR", start_factor=0.1, by_epoch=False, begin=0, end=2),
    dict(type="CosineAnnealingLR", eta_min=1e-5, by_epoch=False, begin=2, end=8),
]
default_hooks = dict(
    checkpoint=dict(type="SafeCheckpointHook", interval=2, by_epoch=False),
    logger=dict(type="LoggerHook", interval=1),
)
randomness = dict(seed=0)
default_scope = "octavius"
runner_type = "OctaviusRunner"
log_level = "INFO"
log_processor = dict(by_epoch=False)
