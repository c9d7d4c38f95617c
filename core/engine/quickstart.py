"""Assets a config asks to be prepared before it runs (the top-level ``quickstart`` key).

The embedded quickstart runs on a fresh clone without a model hub or a dataset download: its
config declares what to build, and ``tools/train.py`` / ``tools/test.py`` build it first
(idempotently: cached builds are reused)::

    quickstart = dict(
        tiny_assets=dict(root="work_dirs/quickstart/assets", point_bert=True),
        synthetic=dict(out_dir="work_dirs/quickstart/data", num_images=40, num_scenes=20),
        test_after_train=True,    # evaluate with the test split once training ends
    )

``tiny_assets`` takes :func:`octavius.models.tiny_assets.build_tiny_assets` arguments,
``synthetic`` takes :func:`octavius.data.synthetic.make_synthetic` arguments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_KEYS = ("tiny_assets", "synthetic", "test_after_train")
_STAMP = ".octavius_synthetic.json"


def _check(section: Any) -> dict[str, Any]:
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise TypeError(f"config key 'quickstart' must be a dict, got {type(section).__name__}.")
    unknown = sorted(set(section) - set(_KEYS))
    if unknown:
        raise KeyError(f"config key 'quickstart' has unknown entries {unknown}; known: {_KEYS}.")
    return dict(section)


def _synthetic(kwargs: Mapping[str, Any]) -> Path:
    from octavius.data.synthetic import make_synthetic

    kwargs = dict(kwargs)
    if "out_dir" not in kwargs:
        raise KeyError("quickstart.synthetic needs 'out_dir' (where the data set is written).")
    out = Path(kwargs.pop("out_dir")).expanduser()
    stamp = out / _STAMP
    wanted = json.dumps(kwargs, sort_keys=True, default=str)
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == wanted:
        return out
    make_synthetic(out, **kwargs)
    stamp.write_text(wanted, encoding="utf-8")
    return out


def prepare_quickstart(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Build the tiny models and the synthetic data a config's ``quickstart`` key asks for.

    Args:
        cfg: The loaded config.

    Returns:
        What was prepared: ``tiny_assets`` (a :class:`~octavius.models.tiny_assets.TinyAssets`)
        and/or ``synthetic`` (the data directory); empty without a ``quickstart`` key.

    Raises:
        KeyError, TypeError: On a malformed ``quickstart`` section (naming the entry).
    """
    section = _check(cfg.get("quickstart"))
    prepared: dict[str, Any] = {}
    if section.get("tiny_assets") is not None:
        from octavius.models.tiny_assets import build_tiny_assets

        prepared["tiny_assets"] = build_tiny_assets(**dict(section["tiny_assets"]))
    if section.get("synthetic") is not None:
        prepared["synthetic"] = _synthetic(section["synthetic"])
    return prepared


def wants_test_after_train(cfg: Mapping[str, Any]) -> bool:
    """Whether the config's ``quickstart`` section asks to evaluate once training ends."""
    return bool(_check(cfg.get("quickstart")).get("test_after_train", False))
