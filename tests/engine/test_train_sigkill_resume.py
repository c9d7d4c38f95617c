"""A training run killed with SIGKILL right after a checkpoint resumes to bit-identical adapters."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
import torch
from safetensors.torch import load_file

from octavius.testing.quickstart import prepare_quickstart

from .tiny_setup import CONFIG, TRAIN, assets_root, load_tiny_config, python, tiny_env

OPTIONS = [
    "--no-progress",
    "--cfg-options",
    "log_level=WARNING",
    "default_hooks.checkpoint.interval=2",
]


def _train(work_dir, env, *extra, **popen):
    log = open(work_dir.with_suffix(".log"), "ab")  # noqa: SIM115  (closed with the process)
    cmd = [python(), str(TRAIN), str(CONFIG), "--work-dir", str(work_dir), *extra, *OPTIONS]
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, **popen)


def _finish(proc, work_dir, timeout=120):
    code = proc.wait(timeout=timeout)
    if code != 0:
        pytest.fail(
            f"training exited with {code}:\n{work_dir.with_suffix('.log').read_text()[-3000:]}"
        )


def test_sigkill_after_a_checkpoint_then_resume_is_bit_exact(
    tmp_path, tmp_path_factory, monkeypatch
):
    assets, data = assets_root(tmp_path_factory), tmp_path / "data"
    prepare_quickstart(load_tiny_config(monkeypatch, assets, data))  # once, before both runs
    env = tiny_env(assets, data)
    reference_dir, victim_dir = tmp_path / "reference", tmp_path / "victim"

    reference = _train(reference_dir, env)
    victim = _train(victim_dir, env)
    first = victim_dir / "iter_2"
    while victim.poll() is None and not first.is_dir():
        time.sleep(0.002)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(timeout=60) == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (victim_dir / "iter_8").exists()
    last = victim_dir / "last_checkpoint"
    if last.is_file():  # the usual case: resume finds the newest checkpoint by itself
        resume_from, resume_args = last.read_text().strip(), ["--resume"]
    else:  # killed between the checkpoint and its `last_checkpoint` record
        resume_from = str(first)
        resume_args = ["--resume", resume_from]
    resumed_at = int(resume_from.rpartition("iter_")[2])

    _finish(_train(victim_dir, env, *resume_args), victim_dir)
    _finish(reference, reference_dir)
    assert "Traceback" not in victim_dir.with_suffix(".log").read_text()
    logs = sorted(victim_dir.glob("*/vis_data/scalars.json"))
    steps = [json.loads(line)["step"] for line in logs[-1].read_text().splitlines()]
    assert steps == list(range(resumed_at + 1, 9))  # continued, not restarted

    expected = load_file(reference_dir / "iter_8" / "adapter.safetensors")
    resumed = load_file(victim_dir / "iter_8" / "adapter.safetensors")
    assert set(resumed) == set(expected) and any("lora_B" in k for k in expected)
    for key, value in expected.items():
        assert torch.equal(resumed[key], value), key
    start = load_file(f"{resume_from}/adapter.safetensors")
    assert any(not torch.equal(start[k], expected[k]) for k in expected)  # trained after resuming
