"""Shared fixtures: isolated mmengine global state, few CPU threads, fixed seeds."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(int(os.environ.get("OCTAVIUS_TEST_THREADS", "1")))


def _manager_classes() -> list[type]:
    from mmengine.logging import MessageHub, MMLogger
    from mmengine.registry import DefaultScope
    from mmengine.visualization import Visualizer

    return [DefaultScope, MessageHub, MMLogger, Visualizer]


@pytest.fixture(autouse=True)
def reset_mmengine_state():
    """Give each test a clean mmengine global state (scopes, loggers, message hubs, visualizers).

    mmengine keeps these in class-level instance dictionaries; a Runner built in one test would
    otherwise leak its default scope and logger into the next.
    """
    saved = {cls: dict(cls._instance_dict) for cls in _manager_classes()}
    yield
    for cls, instances in saved.items():
        cls._instance_dict.clear()
        cls._instance_dict.update(instances)


@pytest.fixture(autouse=True)
def seed_everything():
    """Fixed seeds so numerical tests are reproducible."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
