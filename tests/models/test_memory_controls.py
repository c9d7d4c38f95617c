"""Memory controls: bf16 frozen weights with fp32 adapters, and gradient checkpointing.

The reference is the fp32 run of the same model: checkpointing recomputes the same numbers, so
its loss curve must match fp32 to float rounding; bf16 frozen weights (8 mantissa bits, relative
rounding 2⁻⁸ ≈ 0.4 %) may move the loss by a few tenths of a percent per step — the tolerance
stated below is 2 % of the loss at every step.
"""

from __future__ import annotations

import pytest
import torch

from octavius.estimate.measure import make_batch
from octavius.models.multimodal_llm import MultimodalLLM

STEPS = 6
BF16_TOLERANCE = 0.02  # relative, per step


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    from octavius.testing.tiny_assets import build_tiny_assets

    return build_tiny_assets(tmp_path_factory.mktemp("memory_controls"))


def _model(assets, dtype: str | None, checkpointing: bool) -> MultimodalLLM:
    torch.manual_seed(0)
    llm = str(assets.llm) if dtype is None else dict(pretrained=str(assets.llm), dtype=dtype)
    image = dict(type="CLIPImageEncoder", pretrained=str(assets.clip))
    if dtype is not None:
        image["dtype"] = dtype
    return MultimodalLLM(
        llm=llm,
        encoders=dict(image=image),
        adapters=dict(
            preset="octavius",
            experts=dict(num_experts=3, rank=4, alpha=8.0, dropout=0.0),
            router=dict(type="InstanceRouter", top_k=2),
        ),
        gradient_checkpointing=checkpointing,
    ).train()


def _curve(model: MultimodalLLM) -> list[float]:
    batch = make_batch(model, micro_batch=2, seq_len=48, seed=1)
    samples = [{"task_type": "vqa", "task_definition": "answer"}] * 2
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=3e-3)
    losses = []
    for _ in range(STEPS):
        loss = sum(v for k, v in model.loss(batch, samples).items() if k.startswith("loss"))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    return losses


def test_bf16_keeps_adapters_and_projectors_in_fp32(assets):
    model = _model(assets, "bfloat16", checkpointing=True)
    trainable = {p.dtype for p in model.parameters() if p.requires_grad}
    frozen = {p.dtype for p in model.parameters() if not p.requires_grad}
    assert trainable == {torch.float32}
    assert frozen == {torch.bfloat16}
    assert any(getattr(m, "gradient_checkpointing", False) for m in model.llm.modules())


def test_checkpointing_and_bf16_follow_the_fp32_loss_curve(assets):
    reference = _curve(_model(assets, None, checkpointing=False))
    assert reference[-1] < reference[0]  # the adapters learn
    checkpointed = _curve(_model(assets, None, checkpointing=True))
    assert checkpointed == pytest.approx(reference, rel=1e-5)
    bf16 = _curve(_model(assets, "bfloat16", checkpointing=True))
    assert bf16 == pytest.approx(reference, rel=BF16_TOLERANCE)
