"""Auto-resume follows last_checkpoint, or a newer checkpoint written after it (a killed run)."""

from __future__ import annotations

import os

from octavius.checkpoints.checkpoint import WEIGHTS_FILE
from octavius.checkpoints.runner_state import find_latest_checkpoint


def _checkpoint(work_dir, name):
    path = work_dir / name
    path.mkdir()
    (path / WEIGHTS_FILE).write_bytes(b"")
    return path


def test_no_checkpoint(tmp_path):
    assert find_latest_checkpoint(tmp_path) is None
    assert find_latest_checkpoint(tmp_path / "missing") is None


def test_last_checkpoint_file_is_used_when_current(tmp_path):
    _checkpoint(tmp_path, "iter_2")
    newest = _checkpoint(tmp_path, "iter_4")
    (tmp_path / "last_checkpoint").write_text(str(newest))
    assert find_latest_checkpoint(tmp_path) == str(newest)


def test_killed_before_last_checkpoint_was_updated(tmp_path):
    older = _checkpoint(tmp_path, "iter_2")
    record = tmp_path / "last_checkpoint"
    record.write_text(str(older))
    os.utime(record, ns=(1, 1))  # the record predates the checkpoint the killed run wrote next
    newest = _checkpoint(tmp_path, "iter_10")
    assert find_latest_checkpoint(tmp_path) == str(newest)


def test_killed_before_the_first_last_checkpoint(tmp_path):
    newest = _checkpoint(tmp_path, "iter_3")
    _checkpoint(tmp_path, "iter_1")
    (tmp_path / ".tmp-iter_5.abc").mkdir()  # an unfinished write is never a candidate
    (tmp_path / "iter_7").mkdir()  # nor a directory without weights
    assert find_latest_checkpoint(tmp_path) == str(newest)
