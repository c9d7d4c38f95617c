"""Fixtures of the inference tests: a tiny multimodal model with an instance-routed LoRA-MoE."""

from __future__ import annotations

import pytest
import torch

from octavius.models.multimodal_llm import MultimodalLLM
from tests.data.data_testing import tiny_assets

#: Octavius's instance gate, top-2 of 4 small experts.
MOE = dict(preset="octavius", experts=dict(num_experts=4, rank=4, alpha=8.0, dropout=0.0))


def randomise_lora_b(model: MultimodalLLM, std: float = 0.3) -> None:
    """Give the experts non-zero B so that routing changes the answers."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("lora_B"):
                param.normal_(0.0, std)


def build(assets, adapters=MOE, seed: int = 0, **kwargs) -> MultimodalLLM:
    torch.manual_seed(seed)
    model = MultimodalLLM(
        llm=str(assets.llm),
        encoders=dict(image=dict(type="CLIPImageEncoder", pretrained=str(assets.clip))),
        projector=dict(type="MLPProjector"),
        adapters=adapters,
        **kwargs,
    )
    randomise_lora_b(model)
    return model.eval()


@pytest.fixture(scope="session")
def assets(tmp_path_factory):
    return tiny_assets(tmp_path_factory.mktemp("inference_assets"))


@pytest.fixture(scope="module")
def model(assets):
    return build(assets)
