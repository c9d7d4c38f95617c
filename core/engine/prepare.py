"""Assets a config asks to be prepared before anything is built (the top-level ``quickstart`` key).

The embedded quickstart runs on a fresh clone without a model hub or a dataset download: its
config declares the tiny models and the synthetic data to build (see
:mod:`octavius.testing.quickstart` for the section's format). The engine does not know how they
are built: it looks the preparer up by name in ``FUNCTIONS`` (``prepare_quickstart``, provided by
the test-and-demo package), so the runtime never imports fixtures and a plugin may provide its
own preparer under the same name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PREPARER = "prepare_quickstart"


def prepare_assets(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Build what the config's ``quickstart`` section asks for (idempotent; cached builds reused).

    Returns:
        What the preparer reports it prepared; empty without a ``quickstart`` section.
    """
    if not cfg.get("quickstart"):
        return {}
    from octavius.registry import FUNCTIONS

    return FUNCTIONS.get(PREPARER)(cfg)


def wants_test_after_train(cfg: Mapping[str, Any]) -> bool:
    """Whether the config's ``quickstart`` section asks to evaluate once training ends."""
    section = cfg.get("quickstart") or {}
    if not isinstance(section, Mapping):
        raise TypeError(f"config key 'quickstart' must be a dict, got {type(section).__name__}.")
    return bool(section.get("test_after_train", False))
