"""Config loading: overrides, default scope, and misspelled top-level keys."""

from __future__ import annotations

import warnings

import pytest

from octavius.config import ConfigKeyError, UnknownConfigKeyWarning, load_config


def _write(path, text):
    path.write_text(text)
    return path


def test_misspelled_top_level_key_is_an_error_naming_the_file(tmp_path):
    cfg = _write(tmp_path / "bad.py", "train_dataloder = dict(batch_size=2)\n")
    with pytest.raises(ConfigKeyError) as info:
        load_config(cfg)
    assert "train_dataloder" in str(info.value)
    assert "train_dataloader" in str(info.value)
    assert "bad.py" in str(info.value)


def test_unknown_variable_is_reported_not_ignored(tmp_path):
    cfg = _write(tmp_path / "vars.py", "llm_path = '/models/vicuna'\nmodel = dict(type='X')\n")
    with pytest.warns(UnknownConfigKeyWarning, match="llm_path"):
        load_config(cfg)


def test_declared_variables_and_overrides(tmp_path):
    cfg = _write(
        tmp_path / "ok.py",
        "config_variables = ['llm_path']\nllm_path = 'a'\ntrain_cfg = dict(max_iters=3)\n",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownConfigKeyWarning)
        loaded = load_config(cfg, {"train_cfg.max_iters": 7})
    assert loaded.train_cfg.max_iters == 7
    assert loaded.default_scope == "octavius"


def test_missing_config_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.py"):
        load_config(tmp_path / "nope.py")


def test_names_imported_by_a_pure_python_config_are_not_reported(tmp_path):
    (tmp_path / "base.py").write_text("train_cfg = dict(max_iters=2)\n")
    cfg = _write(
        tmp_path / "leaf.py",
        "from mmengine.config import read_base\n\nwith read_base():\n    from .base import *\n",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownConfigKeyWarning)
        loaded = load_config(cfg)
    assert loaded.train_cfg.max_iters == 2
