"""How the tools report errors: one paragraph and exit 2; --debug shows the traceback; the
traceback is kept in the run's log. One case runs the real script end to end (the others call
the scripts' ``cli`` in-process, which is what ``python tools/X.py`` runs)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from octavius.errors import ConfigKeyError, run_cli
from tests.engine.tiny_setup import REPO
from tests.reliability.helpers import assert_user_error, run_tool


def test_debug_raises_with_the_traceback(tiny, tmp_path):
    argv = [str(tiny["config"]), "--work-dir", str(tmp_path / "w"), "--debug",
            "--cfg-options", "model.adapters.router.top_kk=2"]  # fmt: skip
    with pytest.raises(ConfigKeyError, match="top_kk"):
        run_tool("train", argv)


def test_traceback_goes_to_the_work_dir_log(tiny, tmp_path):
    work = tmp_path / "w"
    argv = [str(tiny["config"]), "--work-dir", str(work), "--cfg-options", "train_cfg.max_iters=0"]
    err = assert_user_error(run_tool("train", argv), "train_cfg.max_iters", str(work / "error.log"))
    assert err.count("\n") <= 3  # one paragraph and the pointer to the traceback
    assert "Traceback (most recent call last)" in (work / "error.log").read_text()


def test_an_internal_error_exits_1_without_traceback(capsys):
    def broken(argv):
        raise RuntimeError("something inside broke")

    assert run_cli(broken, []) == 1
    err = capsys.readouterr().err
    assert "internal error (RuntimeError): something inside broke" in err and "Traceback" not in err


def test_user_error_after_the_runner_exists_logs_into_its_log_file(tiny, checkpoint_copy, tmp_path):
    (checkpoint_copy / "state.json").write_text("[]")
    work = tmp_path / "eval"
    argv = [str(tiny["config"]), str(checkpoint_copy), "--work-dir", str(work), "--no-progress"]
    err = assert_user_error(run_tool("test", argv), "state.json")
    logs = list(work.glob("*/*.log"))
    assert logs and any("Traceback (most recent call last)" in p.read_text() for p in logs), err


def _script(tool, *argv, env_extra=None, cwd=None):
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, str(REPO / "tools" / f"{tool}.py"), *argv],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=120,
    )  # fmt: skip


def test_script_train_bad_config_end_to_end(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("model = dict(\n")
    proc = _script("train", str(bad), "--work-dir", str(tmp_path / "w"))
    assert proc.returncode == 2 and f"{bad}:1" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
