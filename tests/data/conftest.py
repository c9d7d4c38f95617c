"""Fixtures of the data tests: tiny tokenizer/LLM and a small synthetic set, built once."""

from __future__ import annotations

import pytest

from tests.data.data_testing import synthetic_set, tiny_assets


@pytest.fixture(scope="session")
def assets(tmp_path_factory):
    return tiny_assets(tmp_path_factory.mktemp("tiny_assets"))


@pytest.fixture(scope="session")
def tokenizer_path(assets):
    return str(assets.llm)


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    return synthetic_set(tmp_path_factory.mktemp("synthetic"))
