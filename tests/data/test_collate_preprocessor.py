"""Collation and the data preprocessor: right padding to train, left padding to generate."""

from __future__ import annotations

import pytest
import torch

from octavius.data import IGNORE_INDEX, InstructionDataPreprocessor, instruction_collate
from octavius.registry import FUNCTIONS, MODELS


def _sample(n: int, first: int, task_id: int) -> dict:
    ids = torch.arange(first, first + n)
    labels = torch.full((n,), IGNORE_INDEX)
    labels[-2:] = ids[-2:]
    return {
        "input_ids": ids,
        "labels": labels,
        "question_mask": torch.arange(n) == 1,
        "images": [],
        "point_clouds": [],
        "task_id": task_id,
        "data_sample": {"sample_id": f"s{n}"},
    }


def test_collate_groups_without_padding():
    assert FUNCTIONS.get("instruction_collate") is instruction_collate  # how a Runner finds it
    out = instruction_collate([_sample(3, 10, 0), _sample(5, 20, 1)])
    assert [len(x) for x in out["inputs"]["input_ids"]] == [3, 5]
    assert out["inputs"]["task_ids"] == [0, 1]
    assert [d["sample_id"] for d in out["data_samples"]] == ["s3", "s5"]
    with pytest.raises(KeyError, match="EncodeConversation"):
        instruction_collate([{"labels": torch.zeros(1)}])


@pytest.mark.parametrize("training", [True, False])
def test_padding_side_follows_the_mode(training):
    pre = MODELS.build(dict(type="InstructionDataPreprocessor", pad_token_id=2))
    out = pre(instruction_collate([_sample(3, 10, 0), _sample(5, 20, 1)]), training)
    inputs = out["inputs"]
    assert inputs["padding_side"] == ("right" if training else "left")
    pad = [3, 4] if training else [0, 1]
    assert inputs["input_ids"][0, pad].tolist() == [2, 2]
    assert inputs["attention_mask"][0].tolist() == (
        [1, 1, 1, 0, 0] if training else [0, 0, 1, 1, 1]
    )
    assert (inputs["labels"][0, pad] == IGNORE_INDEX).all() and not inputs["question_mask"][
        0, pad
    ].any()
    real = inputs["attention_mask"][0].bool()
    assert inputs["input_ids"][0, real].tolist() == [10, 11, 12]
    assert inputs["labels"][0, real].tolist() == [IGNORE_INDEX, 11, 12]
    assert inputs["question_mask"][0, real].tolist() == [False, True, False]
    assert inputs["input_ids"][1].tolist() == list(range(20, 25))
    assert inputs["task_ids"].tolist() == [0, 1]


def test_preprocessor_errors():
    with pytest.raises(ValueError, match="pad_token_id is not set"):
        InstructionDataPreprocessor()([_sample(3, 1, 0)], True)
    with pytest.raises(ValueError, match="test_padding_side"):
        InstructionDataPreprocessor(pad_token_id=0, test_padding_side="middle")
    broken = _sample(3, 1, 0)
    broken["labels"] = broken["labels"][:2]
    with pytest.raises(ValueError, match="lengths 3/2/3"):
        InstructionDataPreprocessor(pad_token_id=0)([broken], True)


def test_runner_builds_the_dataloader(synthetic, tokenizer_path):
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    DefaultScope.get_instance("octavius_data_test", scope_name="octavius")
    dataset = dict(
        type="InstructionDataset",
        data_root=str(synthetic.root),
        ann_file="annotations/2d_train.json",
        image_root="images",
        tokenizer=tokenizer_path,
    )
    loader = Runner.build_dataloader(
        dict(
            batch_size=3,
            num_workers=0,
            sampler=dict(type="DefaultSampler", shuffle=False),
            # mmengine's Runner looks collate functions up in its root registry: name the scope.
            collate_fn=dict(type="octavius.instruction_collate"),
            dataset=dataset,
        )
    )
    batch = next(iter(loader))
    assert len(batch["inputs"]["input_ids"]) == 3 and len(batch["data_samples"]) == 3
    padded = InstructionDataPreprocessor(pad_token_id=0)(batch, True)
    assert padded["inputs"]["input_ids"].shape[0] == 3
