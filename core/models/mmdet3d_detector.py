"""Build, load and run an mmdet3d indoor detector (FCAF3D) for RoI extraction.

Everything that touches mmdet3d is imported inside the functions, through
:func:`octavius.models._mmdet3d_compat.import_mmdet3d`, so this module imports without the
``[3d]`` extra.

Box convention: mmdet3d's ``DepthInstance3DBoxes`` store the *bottom* centre of each box
(``tensor[:, 2]`` is the floor of the box), while RoIs in Octavius are
``[cx, cy, cz, dx, dy, dz]`` with the *gravity* (geometric) centre.
:func:`depth_boxes_to_rois` converts; boxes with a yaw become their enclosing axis-aligned box.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from octavius.models._mmdet3d_compat import import_mmdet3d, mmdet3d_scope, quiet_minkowski

__all__ = [
    "DEFAULT_FCAF3D_CONFIG",
    "build_detector",
    "depth_boxes_to_rois",
    "detect",
    "load_detector_weights",
    "resolve_detector_config",
]

DEFAULT_FCAF3D_CONFIG = "fcaf3d/fcaf3d_2xb8_scannet-3d-18class.py"

# Globals found in checkpoints written by mmengine's CheckpointHook besides tensors: numpy arrays,
# scalars and dtypes in the metadata and the message hub's history buffers. Plain data, safe to
# rebuild (numpy's dtype classes are added by _checkpoint_globals).
_CHECKPOINT_GLOBALS = (
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("mmengine.logging.history_buffer", "HistoryBuffer"),
)


def shipped_configs_dir() -> Path:
    """The directory of configs shipped inside the installed mmdet3d wheel (``.mim/configs``)."""
    mmdet3d = import_mmdet3d("Reading mmdet3d's shipped configs")
    return Path(mmdet3d.__file__).parent / ".mim" / "configs"


def resolve_detector_config(config: str | os.PathLike) -> Path:
    """Find a detector config: an existing file, or a path inside mmdet3d's shipped configs.

    Args:
        config: e.g. ``"fcaf3d/fcaf3d_2xb8_scannet-3d-18class.py"`` or a file path.

    Raises:
        FileNotFoundError: naming both places looked at.
    """
    path = Path(config).expanduser()
    if path.is_file():
        return path
    shipped = shipped_configs_dir()
    for candidate in (shipped / path, *sorted(shipped.glob(f"*/{path.name}"))):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"Detector config {str(config)!r} is neither a file nor a config shipped with mmdet3d"
        f" (looked in {shipped}); use e.g. {DEFAULT_FCAF3D_CONFIG!r}."
    )


def build_detector(
    config: str | os.PathLike = DEFAULT_FCAF3D_CONFIG,
    checkpoint: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    test_cfg: dict[str, Any] | None = None,
    seed: int = 0,
) -> nn.Module:
    """Build an mmdet3d detector from its config, in eval mode, without gradients.

    Args:
        config: see :func:`resolve_detector_config`.
        checkpoint: weights (``.pth`` or ``.safetensors``); ``None`` keeps the detector's own
            random initialisation (``init_weights()``), which serves tests only.
        device: where the detector runs.
        test_cfg: entries overriding the head's ``test_cfg`` (``score_thr``, ``iou_thr``,
            ``nms_pre``).
        seed: seed of the random initialisation, so a config always gives the same random
            detector (the global random state is left untouched).
    """
    import_mmdet3d("Building an mmdet3d detector")
    from mmdet3d.registry import MODELS
    from mmengine.config import Config

    cfg = Config.fromfile(str(resolve_detector_config(config)))
    model_cfg = cfg.model
    model_cfg.test_cfg = {**(model_cfg.get("test_cfg") or {}), **(test_cfg or {})}
    with mmdet3d_scope(), quiet_minkowski(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        detector = MODELS.build(model_cfg)
        if checkpoint is None:
            _quiet_init_weights(detector)
    if checkpoint is not None:
        load_detector_weights(detector, checkpoint)
    detector.requires_grad_(False)
    return detector.to(device).eval()


def _quiet_init_weights(detector: nn.Module) -> None:
    from mmengine.logging import MMLogger

    # init_weights() reports every parameter at INFO level; that is noise here.
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel("WARNING")
    try:
        detector.init_weights()
    finally:
        logger.setLevel(level)


def _checkpoint_globals() -> list[Any]:
    import numpy as np

    found = [getattr(np.dtypes, name) for name in getattr(np.dtypes, "__all__", [])]
    for module_name, name in _CHECKPOINT_GLOBALS:
        try:
            found.append(getattr(importlib.import_module(module_name), name))
        except (ImportError, AttributeError):
            continue  # numpy 1 vs 2 module names, mmengine without the class
    return found


def _read_checkpoint(path: Path) -> dict[str, Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        with torch.serialization.safe_globals(_checkpoint_globals()):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(
            f"Checkpoint {path} cannot be loaded with torch.load(weights_only=True) ({error})."
            " Convert a checkpoint you trust to safetensors once, e.g. `safetensors.torch."
            "save_file(torch.load(path, weights_only=False)['state_dict'], 'fcaf3d.safetensors')`,"
            " and pass that file."
        ) from error
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(isinstance(v, Tensor) for v in loaded.values()):
        raise ValueError(
            f"Checkpoint {path} holds no state dict (expected tensors, or a dict with a"
            " 'state_dict' entry of tensors)."
        )
    return loaded


def load_detector_weights(detector: nn.Module, checkpoint: str | os.PathLike) -> None:
    """Load detector weights without unpickling code.

    Accepts ``.safetensors`` files and ``.pth`` files readable by
    ``torch.load(weights_only=True)`` (mmengine checkpoints included: their ``state_dict`` entry
    is used, numpy metadata and history buffers are allowed). Keys of the pre-1.0 layout
    (``head.``) are renamed to ``bbox_head.``; a ``module.`` prefix from distributed training is
    dropped.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: when it cannot be read safely or does not match the detector.
    """
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"Detector checkpoint {path} does not exist.")
    state = {}
    for key, value in _read_checkpoint(path).items():
        key = key.removeprefix("module.")
        if key.startswith("head."):
            key = "bbox_" + key
        state[key] = value
    own = detector.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or mismatched:
        raise ValueError(
            f"Checkpoint {path} does not match the detector config: {len(missing)} missing keys"
            f" {missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}, {len(mismatched)}"
            f" with another shape {mismatched[:3]}. Use the config the checkpoint was trained with."
        )
    # The detector's own metadata marks the state as current-layout, so mmdet3d's loader does not
    # rename keys a second time (its old-layout rename would turn bbox_head. into bbox_bbox_head.).
    state_dict = type(own)(state)
    state_dict._metadata = own._metadata  # type: ignore[attr-defined]
    detector.load_state_dict(state_dict, strict=True)


def depth_boxes_to_rois(boxes: Any) -> Tensor:
    """Convert mmdet3d ``DepthInstance3DBoxes`` to RoIs ``(n, 6)`` ``[cx, cy, cz, dx, dy, dz]``.

    mmdet3d stores the bottom centre; RoIs use the gravity centre. Boxes with a non-zero yaw are
    replaced by their enclosing axis-aligned box (RoIs are axis-aligned).
    """
    if len(boxes) == 0:
        return boxes.tensor.new_zeros((0, 6))
    if boxes.with_yaw and bool((boxes.yaw != 0).any()):
        corners = boxes.corners  # (n, 8, 3)
        low, high = corners.amin(dim=1), corners.amax(dim=1)
        return torch.cat([(low + high) / 2, high - low], dim=1)
    return torch.cat([boxes.gravity_center, boxes.dims], dim=1)


@torch.no_grad()
def detect(detector: nn.Module, points: Tensor) -> tuple[Tensor, Tensor]:
    """Run the detector on one scene.

    Args:
        detector: from :func:`build_detector`.
        points: ``(N, c)`` points as the detector's pipeline delivers them (FCAF3D on ScanNet:
            ``xyz`` and ``rgb`` in [0, 1]), on the detector's device.

    Returns:
        ``(n, 6)`` RoIs (gravity centre, see :func:`depth_boxes_to_rois`) and ``(n,)`` scores,
        after the head's per-class NMS and score threshold, in the head's order.
    """
    from mmdet3d.structures import DepthInstance3DBoxes, Det3DDataSample

    sample = Det3DDataSample(metainfo=dict(box_type_3d=DepthInstance3DBoxes))
    with mmdet3d_scope(), quiet_minkowski():
        result = detector.predict(dict(points=[points]), [sample])[0].pred_instances_3d
    return depth_boxes_to_rois(result.bboxes_3d), result.scores_3d
