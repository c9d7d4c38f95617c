"""``FullyShardStrategy`` (FSDP2) under ``torchrun --nproc_per_node 2`` on CPU (gloo).

The adapters match a DDP run with the same global batch, and a run killed with SIGKILL after a
sharded checkpoint resumes (``--resume``) to adapters equal to an uninterrupted run's, which
also evaluates (generation) after training.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from octavius.checkpoints.checkpoint import read_checkpoint
from octavius.checkpoints.sharded_state import read_dcp_metadata
from octavius.testing.quickstart import prepare_quickstart

from .tiny_setup import CONFIG, assets_root, load_tiny_config, python, tiny_env

SCRIPT = Path(__file__).with_name("dist_train_script.py")
# One task: every sample has as many response tokens, so DDP's per-rank means average exactly.
OVERRIDES = [
    "quickstart.synthetic.tasks=[classification]",
    "model.adapters.router.balance_loss_weight=0.0",
    "train_cfg.max_iters=4",
    "default_hooks.checkpoint.interval=2",
    "train_dataloader.batch_size=1",
    "log_level=WARNING",
]
FSDP = ["strategy.type=FullyShardStrategy"]


def _torchrun(work_dir: Path, env: dict[str, str], *extra: str) -> subprocess.Popen:
    log = open(f"{work_dir}.log", "ab")  # noqa: SIM115  (closed with the process)
    cmd = [python(), "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(SCRIPT), str(CONFIG), str(work_dir), "pytorch", *extra, *OVERRIDES]  # fmt: skip
    # Own process group: SIGKILL goes to torchrun and both workers at once, like `kill -9 -PGID`.
    return subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def _wait(proc: subprocess.Popen, work_dir: Path) -> None:
    if proc.wait(timeout=240) != 0:
        pytest.fail(f"{work_dir} failed:\n{Path(f'{work_dir}.log').read_text()[-4000:]}")


def test_fully_shard_matches_ddp_and_resumes_exactly_after_sigkill(
    tmp_path, tmp_path_factory, monkeypatch
):
    assets, data = assets_root(tmp_path_factory), tmp_path / "data"
    cfg = load_tiny_config(
        monkeypatch, assets, data, **{"quickstart.synthetic.tasks": ["classification"]}
    )
    prepare_quickstart(cfg)
    env = tiny_env(assets, data)
    ddp_dir, fsdp_dir, victim_dir = tmp_path / "ddp", tmp_path / "fsdp", tmp_path / "victim"
    procs = {
        ddp_dir: _torchrun(ddp_dir, env),
        # Also evaluates: generation must gather the root unit's weights.
        fsdp_dir: _torchrun(fsdp_dir, env, *FSDP, "quickstart.test_after_train=True"),
        victim_dir: _torchrun(victim_dir, env, *FSDP),
    }
    victim = procs.pop(victim_dir)
    while victim.poll() is None and not (victim_dir / "iter_2").is_dir():
        time.sleep(0.005)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(victim.pid, signal.SIGKILL)
    assert victim.wait(timeout=60) == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (victim_dir / "iter_4").exists()
    _wait(_torchrun(victim_dir, env, "--resume", *FSDP), victim_dir)
    for work_dir, proc in procs.items():
        _wait(proc, work_dir)

    # The sharded checkpoint: one DCP file per rank, an index that reads without unpickling code,
    # every file checksummed, one random state per rank.
    ckpt = read_checkpoint(victim_dir / "iter_2")
    sharded = sorted(p.name for p in (victim_dir / "iter_2" / "sharded").iterdir())
    assert sharded == [".metadata", "__0_0.distcp", "__1_0.distcp"]
    assert type(read_dcp_metadata(victim_dir / "iter_2" / "sharded")).__name__ == "Metadata"
    assert len(ckpt.rng["ranks"]) == 2 and ckpt.meta["iter"] == 2
    assert "Traceback" not in Path(f"{victim_dir}.log").read_text()

    ddp = load_file(ddp_dir / "rank0.safetensors")
    fsdp = load_file(fsdp_dir / "rank0.safetensors")
    assert set(fsdp) == set(ddp) and any("lora_B" in k for k in ddp)
    assert max(ddp[k].abs().max().item() for k in ddp if "lora_B" in k) > 1e-3  # training moved B
    for key in ddp:
        torch.testing.assert_close(fsdp[key], ddp[key], rtol=0, atol=1e-6, msg=key)
        assert torch.equal(load_file(fsdp_dir / "rank1.safetensors")[key], fsdp[key])

    assert (fsdp_dir / "metrics.json").is_file() and (fsdp_dir / "predictions.jsonl").is_file()
    uninterrupted = load_file(fsdp_dir / "iter_4" / "adapter.safetensors")
    resumed = load_file(victim_dir / "iter_4" / "adapter.safetensors")
    start = load_file(victim_dir / "iter_2" / "adapter.safetensors")
    assert set(resumed) == set(uninterrupted)
    for key, value in uninterrupted.items():
        assert torch.equal(resumed[key], value), key
        assert torch.equal(value, fsdp[key]), key  # the checkpoint holds the gathered weights
    assert any(not torch.equal(start[k], uninterrupted[k]) for k in start)  # trained after resume
