"""Shared pieces of the instruction datasets and their loaders (imported by the dataset configs).

Every dataset tokenizes with the LLM's tokenizer (``llm_path``: keep it equal to the model's) and
the Vicuna v1 conversation template with per-task system prompts. Batches are grouped by
``instruction_collate`` and padded by the model's data preprocessor (right to train, left to
generate).
"""

llm_path = "checkpoints/vicuna-13b-v0"

_instruction = dict(
    type="InstructionDataset",
    tokenizer="{{llm_path}}",
    template=dict(type="VicunaV1"),
    max_length=2048,  # Vicuna v0's context
    # Tokens per placeholder, for the length check: CLIP ViT-L/14 at 224 px gives 16 × 16
    # patches; Object-As-Scene gives its queries.
    modality_tokens=dict(image=256, point_cloud=16),
)
_train_loader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=True),
    collate_fn=dict(type="octavius.instruction_collate"),
)
_test_loader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type="DefaultSampler", shuffle=False),
    collate_fn=dict(type="octavius.instruction_collate"),
)
