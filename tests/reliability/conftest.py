"""Shared set-up of the bad-input suite: tiny assets and data (built once), a trained run."""

from __future__ import annotations

import shutil

import pytest

from tests.engine.tiny_setup import CONFIG, assets_root
from tests.reliability.helpers import run_tool


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """``{"assets", "data", "config"}`` of the tiny engine config, prepared once."""
    from octavius.config import load_config
    from octavius.testing.quickstart import prepare_quickstart

    assets = assets_root(tmp_path_factory)
    data = tmp_path_factory.mktemp("reliability_data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OCTAVIUS_TEST_ASSETS", str(assets))
        mp.setenv("OCTAVIUS_TEST_DATA", str(data))
        prepare_quickstart(load_config(CONFIG))
    return {"assets": assets, "data": data, "config": CONFIG}


@pytest.fixture(autouse=True)
def tiny_env(tiny, monkeypatch):
    """Every test sees the tiny config's paths and no plugin selection from the outside."""
    monkeypatch.setenv("OCTAVIUS_TEST_ASSETS", str(tiny["assets"]))
    monkeypatch.setenv("OCTAVIUS_TEST_DATA", str(tiny["data"]))
    monkeypatch.delenv("OCTAVIUS_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("OCTAVIUS_PLUGINS", raising=False)


@pytest.fixture(scope="session")
def trained(tiny, tmp_path_factory):
    """A 2-iteration run of the tiny config (checkpoint iter_2); returns its work dir."""
    work = tmp_path_factory.mktemp("reliability_run") / "w"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OCTAVIUS_TEST_ASSETS", str(tiny["assets"]))
        mp.setenv("OCTAVIUS_TEST_DATA", str(tiny["data"]))
        rc, _, err = run_tool(
            "train",
            [str(CONFIG), "--work-dir", str(work), "--no-progress",
             "--cfg-options", "train_cfg.max_iters=2"],
        )  # fmt: skip
    assert rc == 0, err
    return work


@pytest.fixture
def checkpoint_copy(trained, tmp_path):
    """A private copy of the trained run's ``iter_2`` checkpoint, free to damage."""
    target = tmp_path / "iter_2"
    shutil.copytree(trained / "iter_2", target)
    return target
