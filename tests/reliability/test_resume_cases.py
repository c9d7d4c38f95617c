"""--resume edge cases: nothing to resume, broken records, another config, another run's files."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.reliability.helpers import assert_user_error, run_tool


def _train(tiny, work, *extra, options=()):
    argv = [str(tiny["config"]), "--work-dir", str(work), "--no-progress", *extra]
    if options:
        argv += ["--cfg-options", *options]
    return run_tool("train", argv)


@pytest.fixture
def run_copy(trained, tmp_path):
    work = tmp_path / "w"
    shutil.copytree(trained, work)
    (work / "last_checkpoint").write_text(str(work / "iter_2"))
    return work


def test_resume_with_nothing_to_resume(tiny, tmp_path):
    work = tmp_path / "empty"
    assert_user_error(
        _train(tiny, work, "--resume"), "nothing to resume", str(work), "--resume auto"
    )


def test_dangling_last_checkpoint(tiny, run_copy):
    (run_copy / "last_checkpoint").write_text(str(run_copy / "iter_99"))
    assert_user_error(_train(tiny, run_copy, "--resume"), "last_checkpoint", "iter_99")


def test_garbage_last_checkpoint(tiny, run_copy):
    (run_copy / "last_checkpoint").write_text("\x00\x17garbage")
    assert_user_error(_train(tiny, run_copy, "--resume"), "last_checkpoint", "not a checkpoint")


@pytest.mark.parametrize(
    ("option", "key"),
    [
        ("model.adapters.experts.alpha=4.0", "model.adapters.experts.alpha"),
        ("model.adapters.router.top_k=1", "model.adapters.router.top_k"),
        ("optim_wrapper.optimizer.type=SGD", "optim_wrapper.optimizer.type"),
    ],
)
def test_resume_refuses_a_checkpoint_of_another_config(tiny, run_copy, option, key):
    result = _train(tiny, run_copy, "--resume", options=(option, "train_cfg.max_iters=2"))
    err = assert_user_error(result, key, "iter_2", "--allow-config-change")
    assert "->" in err


def test_allow_config_change_overrides_the_refusal(tiny, run_copy):
    result = _train(
        tiny, run_copy, "--resume", "--allow-config-change",
        options=("model.adapters.experts.alpha=4.0", "train_cfg.max_iters=2"),
    )  # fmt: skip
    assert result[0] == 0, result[2]


def test_resume_follows_last_checkpoint_over_another_runs_newer_checkpoint(tiny, run_copy):
    """Another run left iter_12 in the shared work dir before this run wrote iter_2."""
    other = run_copy / "iter_12"
    shutil.copytree(run_copy / "iter_2", other)
    old = 1_000_000_000
    for f in [other, *other.iterdir()]:
        os.utime(f, (old, old))
    code, out, err = _train(tiny, run_copy, "--resume", options=("train_cfg.max_iters=2",))
    assert code == 0, err
    assert f"Resuming from {run_copy / 'iter_2'}" in out + err
    assert "iter_12" not in (out + err).split("Resuming from")[1].splitlines()[0]
