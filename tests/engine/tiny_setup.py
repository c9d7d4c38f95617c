"""Shared set-up of the runner tests: the tiny config, its assets and data, subprocess env."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("tiny_train_config.py")
TRAIN = REPO / "tools" / "train.py"
TEST = REPO / "tools" / "test.py"


def assets_root(tmp_path_factory) -> Path:
    """One tiny-asset directory per test session (built on first use, then cached)."""
    from octavius.testing.tiny_assets import build_tiny_assets

    root = tmp_path_factory.getbasetemp() / "octavius_tiny_assets"
    build_tiny_assets(root)
    return root


def tiny_env(assets: Path, data: Path) -> dict[str, str]:
    """Environment of a subprocess running the tiny config (1 thread: bit-exact reruns)."""
    env = dict(os.environ)
    env.update(
        OCTAVIUS_TEST_ASSETS=str(assets),
        OCTAVIUS_TEST_DATA=str(data),
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def load_tiny_config(monkeypatch, assets: Path, data: Path, **options):
    """The tiny config with its paths set and ``--cfg-options``-style overrides applied."""
    from octavius.config import load_config

    monkeypatch.setenv("OCTAVIUS_TEST_ASSETS", str(assets))
    monkeypatch.setenv("OCTAVIUS_TEST_DATA", str(data))
    return load_config(CONFIG, options or None)


def python() -> str:
    return sys.executable


def randomize_adapters(model: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> None:
    """Give every LoRA B (zero at initialisation) random values, so adapters change outputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("lora_B") or ".lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=g) * scale)
