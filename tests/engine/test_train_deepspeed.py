"""DeepSpeed ZeRO-2/3 (mmengine's ``DeepSpeedStrategy``) on 2 GPUs: adapters as with DDP.

DeepSpeed needs an accelerator: on CPU its ops (FusedAdam) are compiled on first use and its CPU
back end targets oneCCL, so this test runs only where two GPUs and ``deepspeed`` are present
(docs/training.md records what happens on CPU).
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from octavius.testing.quickstart import prepare_quickstart

from .tiny_setup import CONFIG, assets_root, load_tiny_config, python, tiny_env

pytestmark = pytest.mark.skipif(
    torch.cuda.device_count() < 2 or importlib.util.find_spec("deepspeed") is None,
    reason="DeepSpeed ZeRO needs 2 GPUs and `pip install octavius[deepspeed]`",
)
SCRIPT = Path(__file__).with_name("dist_train_script.py")
OVERRIDES = [
    "quickstart.synthetic.tasks=[classification]",
    "model.adapters.router.balance_loss_weight=0.0",
    "train_cfg.max_iters=3",
    "train_dataloader.batch_size=1",
    "log_level=WARNING",
]


def _run(work_dir: Path, env: dict[str, str], *extra: str) -> None:
    cmd = [python(), "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(SCRIPT), str(CONFIG), str(work_dir), "pytorch", *extra, *OVERRIDES]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.fail(f"{work_dir} failed:\n{(done.stdout + done.stderr)[-4000:]}")


@pytest.mark.parametrize("stage", [2, 3])
def test_zero_matches_ddp(stage, tmp_path, tmp_path_factory, monkeypatch):
    assets, data = assets_root(tmp_path_factory), tmp_path / "data"
    cfg = load_tiny_config(
        monkeypatch, assets, data, **{"quickstart.synthetic.tasks": ["classification"]}
    )
    prepare_quickstart(cfg)
    env = tiny_env(assets, data)
    _run(tmp_path / "ddp", env)
    _run(
        tmp_path / "zero",
        env,
        "strategy.type=DeepSpeedStrategy",
        f"strategy.zero_optimization.stage={stage}",
        "optim_wrapper.type=DeepSpeedOptimWrapper",
        "default_hooks.checkpoint.type=CheckpointHook",
    )
    ddp = load_file(tmp_path / "ddp" / "rank0.safetensors")
    zero = load_file(tmp_path / "zero" / "rank0.safetensors")
    assert set(zero) == set(ddp)
    for key in ddp:
        torch.testing.assert_close(zero[key], ddp[key], rtol=1e-4, atol=1e-5, msg=key)
