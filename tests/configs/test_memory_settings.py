"""Every paper config trains with the memory controls it states (``stated_settings.PAPER_MEMORY``).

At the config level: the LLM is ``dict(pretrained=..., dtype='bfloat16')`` (a leaf config that
set ``model.llm`` to a path would drop the dtype: none does), every frozen CLIP / Point-BERT
encoder has ``dtype='bfloat16'``, ``gradient_checkpointing`` is on, and the micro-batch and
accumulation are the ones the papers / releases state (``stated_settings.BATCHING``). Built with
tiny stand-ins that keep those dtypes, one config per paper has only bf16 frozen weights and
fp32 trainable ones, checkpointing on, and takes a finite training step.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from mmengine.registry import init_default_scope

from octavius.registry import DATASETS, MODELS
from tests.configs.stated_settings import BATCHING, PAPER_MEMORY
from tests.configs.test_configs import CONFIG_ROOT, Tiny, _batch, _load, _walk, miniaturise

PAPER_CONFIGS = sorted(
    p
    for p in CONFIG_ROOT.rglob("*.py")
    if p.relative_to(CONFIG_ROOT).parts[0] in ("octavius", "llava_mole", "mixlora")
    or (p.parent == CONFIG_ROOT and p.name.startswith("octavius_"))
)
ONE_PER_PAPER = [
    "octavius_2d3d.py",
    "llava_mole/llava_mole_e3_mix111.py",
    "mixlora/mixlora_e16_r4.py",
]


def _id(path: Path) -> str:
    return str(path.relative_to(CONFIG_ROOT))


def test_the_paper_configs_are_found():
    assert len(PAPER_CONFIGS) > 60
    assert {_id(p) for p in PAPER_CONFIGS} >= set(ONE_PER_PAPER)


@pytest.mark.parametrize("path", PAPER_CONFIGS, ids=_id)
def test_paper_config_states_the_memory_controls(path: Path):
    cfg = _load(path)
    model = cfg.model
    dtype = PAPER_MEMORY["frozen_dtype"]
    assert isinstance(model.llm, dict) and model.llm.get("dtype") == dtype, model.llm
    assert model.get("gradient_checkpointing") is PAPER_MEMORY["gradient_checkpointing"]
    frozen_encoders = [
        node
        for node in _walk(model.to_dict())
        if node.get("type") in ("CLIPImageEncoder", "PointBERT") and node.get("frozen", True)
    ]
    assert frozen_encoders and all(node.get("dtype") == dtype for node in frozen_encoders)
    name = path.stem
    micro, accumulation = next(v for prefix, v in BATCHING if name.startswith(prefix))
    assert cfg.train_dataloader.batch_size == micro
    assert cfg.optim_wrapper.get("accumulative_counts", 1) == accumulation


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    return Tiny(tmp_path_factory.mktemp("memory_tiny"))


def _keep_dtypes(original: dict, small: dict, tiny: Tiny) -> None:
    """Put the paper config's dtypes back on the tiny stand-ins (``miniaturise`` drops them)."""
    small["llm"] = dict(original["llm"], pretrained=str(tiny.assets.llm))
    for before, after in zip(_walk(original), _walk(small)):
        if before.get("type") in ("CLIPImageEncoder", "PointBERT") and after.get(
            "type"
        ) == before.get("type"):
            after["dtype"] = before.get("dtype")


@pytest.mark.parametrize("name", ONE_PER_PAPER)
def test_paper_model_has_bf16_frozen_and_fp32_trainable_weights(name: str, tiny: Tiny):
    cfg = _load(CONFIG_ROOT / name)
    small = miniaturise(cfg, tiny)
    _keep_dtypes(copy.deepcopy(cfg.model.to_dict()), small.model, tiny)
    init_default_scope("octavius")
    model = MODELS.build(small.model).train()
    trainable = {p.dtype for p in model.parameters() if p.requires_grad}
    # Frozen weights of the LLM and the encoders; a frozen stage-1 projector (MixLoRA) is fp32.
    frozen = {
        n: p.dtype
        for n, p in model.named_parameters()
        if not p.requires_grad and n.startswith(("llm.", "encoders."))
    }
    assert trainable == {torch.float32}
    assert set(frozen.values()) == {torch.bfloat16}, {
        n for n, d in frozen.items() if d != torch.bfloat16
    }
    assert getattr(model.llm, "is_gradient_checkpointing", False)
    dataset = DATASETS.build(small.train_dataloader.dataset)
    data = model.data_preprocessor(_batch(dataset, count=2), training=True)
    losses = model(**data, mode="loss")
    loss = sum(v for k, v in losses.items() if k.startswith("loss"))
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(g.dtype == torch.float32 for g in grads)
