"""Fixtures of the weights tests: tiny assets and a tiny Octavius-layout model config."""

from __future__ import annotations

from pathlib import Path

import pytest

NUM_EXPERTS = 6


@pytest.fixture(scope="session")
def tiny_assets(tmp_path_factory):
    from octavius.testing.tiny_assets import build_tiny_assets

    return build_tiny_assets(tmp_path_factory.getbasetemp() / "weights_tiny_assets")


def model_config(assets, projector: str = "LinearProjector", **extra) -> dict:
    """A MultimodalLLM with the release's layout: LoRA-MoE on q/k/v/o, one top-2 gate."""
    model = dict(
        type="MultimodalLLM",
        llm=str(assets.llm),
        encoders=dict(image=dict(type="CLIPImageEncoder", pretrained=str(assets.clip))),
        projector=projector,
        adapters=dict(
            name="attention",
            targets=r".*\.self_attn\.(q_proj|k_proj|v_proj|o_proj)",
            experts=dict(type="LoRAExperts", num_experts=NUM_EXPERTS, rank=4, alpha=8.0),
            router=dict(type="InstanceRouter", top_k=2),
            sharing="global",
        ),
        **extra,
    )
    return dict(model=model, default_scope="octavius")


@pytest.fixture()
def tiny_model(tiny_assets):
    from octavius.loading import load_model

    return load_model(model_config(tiny_assets), eval_mode=True)


def write(path: Path, state: dict) -> Path:
    """Save a state dict the way the published checkpoints are saved (torch.save)."""
    import torch

    torch.save(state, path)
    return path
