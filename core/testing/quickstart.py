"""Assets a config asks to be prepared before it runs (the top-level ``quickstart`` key).

The embedded quickstart runs on a fresh clone without a model hub or a dataset download: its
config declares what to build, and ``tools/train.py`` / ``tools/test.py`` build it first
(idempotently: cached builds are reused)::

    quickstart = dict(
        tiny_assets=dict(root=".cache/quickstart/assets", point_bert=True),
        synthetic=dict(out_dir=".cache/quickstart/data", num_images=40, num_scenes=20),
        rois=dict(out_dir=".cache/quickstart/rois"),
        test_after_train=True,    # evaluate with the test split once training ends
    )

``gguf=dict(file="smollm2", out_dir=...)`` converts a GGUF checkpoint once into a Hugging Face
directory (:func:`octavius.weights.gguf.ensure_converted`). ``tiny_assets`` takes
:func:`octavius.testing.tiny_assets.build_tiny_assets` arguments,
``synthetic`` takes :func:`octavius.testing.synthetic.make_synthetic` arguments. ``rois`` writes
precomputed RoI files (the format of ``PrecomputedRoISource``, which
``tools/data/extract_rois.py`` writes from FCAF3D detections) from the synthetic scenes' instance
boxes, so the quickstart reads its RoIs the way the paper configs read FCAF3D's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mmengine.logging import print_log

from octavius.registry import FUNCTIONS

_KEYS = ("tiny_assets", "gguf", "synthetic", "rois", "test_after_train")
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
    from octavius.testing.synthetic import make_synthetic

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


def _rois(kwargs: Mapping[str, Any], data_dir: Path | None) -> Path:
    """Write ``<out_dir>/<scene_id>.npy`` RoIs ``(m, 7)`` from the scenes' boxes, score 1.

    ``scenes_dir`` (default: the synthetic set's ``scenes/``) holds ``<scene_id>_boxes.npy``.
    Files already holding the same boxes are left alone, so a process reading them (another
    rank of a distributed run) never sees one being rewritten.
    """
    import numpy as np

    kwargs = dict(kwargs)
    if "out_dir" not in kwargs:
        raise KeyError("quickstart.rois needs 'out_dir' (where the RoI files are written).")
    out = Path(kwargs.pop("out_dir")).expanduser()
    scenes = kwargs.pop("scenes_dir", None) or (data_dir / "scenes" if data_dir else None)
    if kwargs:
        raise KeyError(
            f"quickstart.rois has unknown entries {sorted(kwargs)}; known: out_dir, scenes_dir."
        )
    if scenes is None or not Path(scenes).is_dir():
        raise FileNotFoundError(
            f"quickstart.rois reads the scenes' boxes from {scenes!r}: give 'scenes_dir' or a "
            "'synthetic' section."
        )
    out.mkdir(parents=True, exist_ok=True)
    for boxes_file in sorted(Path(scenes).glob("*_boxes.npy")):
        boxes = np.load(boxes_file).astype(np.float32).reshape(-1, 6)
        rois = np.concatenate([boxes, np.ones((len(boxes), 1), np.float32)], axis=1)
        target = out / boxes_file.name.replace("_boxes.npy", ".npy")
        if target.is_file() and np.array_equal(np.load(target), rois):
            continue
        tmp = target.with_suffix(".tmp.npy")
        np.save(tmp, rois)
        tmp.replace(target)
    return out


@FUNCTIONS.register_module()
def prepare_quickstart(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Build the tiny models and the synthetic data a config's ``quickstart`` key asks for.

    Args:
        cfg: The loaded config.

    Returns:
        What was prepared: ``tiny_assets`` (a :class:`~octavius.testing.tiny_assets.TinyAssets`)
        and/or ``synthetic`` (the data directory) and ``rois`` (the RoI directory); empty
        without a ``quickstart`` key.

    Raises:
        KeyError, TypeError: On a malformed ``quickstart`` section (naming the entry).
    """
    section = _check(cfg.get("quickstart"))
    prepared: dict[str, Any] = {}
    if section.get("tiny_assets") is not None:
        from octavius.testing.tiny_assets import build_tiny_assets

        kwargs = dict(section["tiny_assets"])
        with _step(f"tiny LLM, tokenizer, CLIP tower and Point-BERT under {kwargs.get('root')}"):
            prepared["tiny_assets"] = build_tiny_assets(**kwargs)
    if section.get("gguf") is not None:
        # A real pretrained LLM from a GGUF file (e.g. file="smollm2"), converted once.
        from octavius.weights.gguf import ensure_converted

        kwargs = dict(section["gguf"])
        with _step(
            f"Hugging Face model converted from {kwargs.get('file')} in {kwargs.get('out_dir')}"
        ):
            prepared["gguf"] = ensure_converted(**kwargs)
    if section.get("synthetic") is not None:
        with _step(f"synthetic 2D + 3D data in {section['synthetic'].get('out_dir')}"):
            prepared["synthetic"] = _synthetic(section["synthetic"])
    if section.get("rois") is not None:
        with _step(f"precomputed RoIs in {section['rois'].get('out_dir')}"):
            prepared["rois"] = _rois(section["rois"], prepared.get("synthetic"))
    return prepared


@contextmanager
def _step(what: str) -> Iterator[None]:
    """Report a preparation step and its duration (cached builds take well under a second)."""
    print_log(f"quickstart: preparing the {what} ...", logger="current")
    start = time.perf_counter()
    yield
    print_log(f"quickstart: ready in {time.perf_counter() - start:.1f} s", logger="current")
