"""``torchrun --nproc_per_node 2`` (gloo, CPU): identical adapters on both ranks, equal to one
process with the same global batch."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from octavius.testing.quickstart import prepare_quickstart

from .tiny_setup import CONFIG, assets_root, load_tiny_config, python, tiny_env

SCRIPT = Path(__file__).with_name("dist_train_script.py")
# One task, so every sample has the same number of response tokens: the per-rank token means
# that DDP averages then equal the one-process mean over the global batch.
OVERRIDES = [
    "quickstart.synthetic.tasks=[classification]",
    "model.adapters.router.balance_loss_weight=0.0",
    "train_cfg.max_iters=3",
    "log_level=WARNING",
]


def _start(cmd, work_dir, env):
    log = open(f"{work_dir}.log", "wb")  # noqa: SIM115  (closed with the process)
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait(proc, work_dir):
    if proc.wait(timeout=170) != 0:
        pytest.fail(f"{work_dir} failed:\n{Path(f'{work_dir}.log').read_text()[-4000:]}")


def test_ddp_on_two_processes_matches_one_process(tmp_path, tmp_path_factory, monkeypatch):
    assets, data = assets_root(tmp_path_factory), tmp_path / "data"
    cfg = load_tiny_config(
        monkeypatch, assets, data, **{"quickstart.synthetic.tasks": ["classification"]}
    )
    prepare_quickstart(cfg)
    env = tiny_env(assets, data)
    runs = {
        "ddp": [python(), "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                str(SCRIPT), str(CONFIG), str(tmp_path / "ddp"), "pytorch",
                "train_dataloader.batch_size=1", *OVERRIDES],
        "single": [python(), str(SCRIPT), str(CONFIG), str(tmp_path / "single"), "none",
                   "train_dataloader.batch_size=2", *OVERRIDES],
        # Control: a different global batch must not match, or the comparison proves nothing.
        "control": [python(), str(SCRIPT), str(CONFIG), str(tmp_path / "control"), "none",
                    "train_dataloader.batch_size=1", *OVERRIDES],
    }  # fmt: skip
    procs = {name: _start(cmd, tmp_path / name, env) for name, cmd in runs.items()}
    for name, proc in procs.items():
        _wait(proc, tmp_path / name)

    rank0 = load_file(tmp_path / "ddp" / "rank0.safetensors")
    rank1 = load_file(tmp_path / "ddp" / "rank1.safetensors")
    single = load_file(tmp_path / "single" / "rank0.safetensors")
    control = load_file(tmp_path / "control" / "rank0.safetensors")
    assert set(rank0) == set(rank1) == set(single) and any("lora_B" in k for k in single)
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), f"ranks differ at {key}"

    def gap(a, b):
        return max((a[k] - b[k]).abs().max().item() for k in a)

    moved = max(single[k].abs().max().item() for k in single if "lora_B" in k)
    assert moved > 1e-3  # B starts at zero: training moved it
    assert gap(rank0, single) < 1e-5
    assert gap(control, single) > 1e-4
