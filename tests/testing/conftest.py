"""Fixtures of the test-material tests: a small synthetic set, built once."""

from __future__ import annotations

import pytest

from tests.data.data_testing import synthetic_set


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    return synthetic_set(tmp_path_factory.mktemp("synthetic"))
