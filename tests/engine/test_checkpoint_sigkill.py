"""A training process killed with SIGKILL and resumed ends with the same weights, bit for bit."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

SCRIPT = Path(__file__).with_name("toy_runner.py")
MAX_ITERS, INTERVAL = 40, 10


def run(work_dir: Path, *extra: str, sleep: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOY_ITER_SLEEP": str(sleep)}
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(work_dir), str(MAX_ITERS), str(INTERVAL), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out
    return out


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path):
    killed_dir = tmp_path / "killed"
    uninterrupted = run(tmp_path / "full")
    victim = run(killed_dir, sleep=0.05)
    marker = killed_dir / "last_checkpoint"
    deadline = time.monotonic() + 180
    while not marker.exists():
        assert victim.poll() is None, victim.communicate()[0]
        assert time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.01)
    time.sleep(0.3)  # let it train on past the checkpoint, possibly into the next save
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    assert not (killed_dir / "final.safetensors").exists()

    resumed_out = finish(run(killed_dir, "--resume"))
    finish(uninterrupted)
    skipped = re.search(r"Advance dataloader (\d+) steps", resumed_out)
    assert skipped, resumed_out  # it resumed in the middle, from a periodic checkpoint
    assert 0 < int(skipped.group(1)) < MAX_ITERS and int(skipped.group(1)) % INTERVAL == 0

    a = load_file(tmp_path / "full" / "final.safetensors")
    b = load_file(killed_dir / "final.safetensors")
    assert a.keys() == b.keys() == {"head.weight", "head.bias"}
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert Path(marker.read_text()).name == f"iter_{MAX_ITERS}"
