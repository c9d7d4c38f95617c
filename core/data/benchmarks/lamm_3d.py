"""LAMM's 3D benchmark files (``3D_Benchmark/meta_file/*.json``) as instruction samples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from octavius.data.benchmarks.lamm_2d import LAMM2DBenchmark
from octavius.evaluation.box_parsing import corners_to_center_size
from octavius.registry import DATASETS

__all__ = ["LAMM3DBenchmark"]

_BOX_FORMATS = ("center_size", "corners")


@DATASETS.register_module()
class LAMM3DBenchmark(LAMM2DBenchmark):
    """LAMM's 3D benchmark JSON: ScanNet detection, ScanRefer grounding, ScanQA multiple choice.

    Items carry ``pcl`` (the point cloud, relative to ``point_root``; LAMM's leading ``./`` is
    dropped) or ``scene_id``, ``query``, and ``object`` — a list of ``{"label", "bbox"}``
    (``Detection_ScanNet.json``) or one box (``VG_ScanRefer.json``: a grounding sample, scored by
    :class:`~octavius.evaluation.DetectionMetric` without a class) — or ``gt_choice``/``gt_choices``
    (``VQA_ScanQA_multiplechoice.json``).

    Boxes inside the project are LAMM's ``[cx, cy, cz, length, width, height]`` (centre and size,
    ``lamm_sysmsg.DETECTION3D_INS``), which the benchmark files use. A file whose boxes are
    corners ``[x1, y1, z1, x2, y2, z2]`` is converted here, once, with ``box_format="corners"``.

    Args:
        box_format: ``"center_size"`` (LAMM's files) or ``"corners"``.
        **kwargs: :class:`LAMM2DBenchmark` / ``InstructionDataset`` arguments.
    """

    modality = "point_cloud"

    def __init__(self, *args: Any, box_format: str = "center_size", **kwargs: Any) -> None:
        if box_format not in _BOX_FORMATS:
            raise ValueError(
                f"LAMM3DBenchmark: box_format must be one of {_BOX_FORMATS}, got {box_format!r}"
            )
        self.box_format = box_format
        super().__init__(*args, **kwargs)

    def item_media(self, item: dict[str, Any]) -> dict[str, Any]:
        """The item's point cloud (``pcl``) or scene."""
        if item.get("pcl"):
            path = str(item["pcl"])
            return {"pcl": path[2:] if path.startswith("./") else path}
        return {"scene_id": item["scene_id"]}

    def objects(self, raw: Any) -> list[dict[str, Any]]:
        """Reference objects as ``[{"label", "bbox": [cx, cy, cz, dx, dy, dz]}]``."""
        if isinstance(raw, Sequence) and raw and not isinstance(raw[0], dict):
            raw = [{"label": None, "bbox": raw}]  # a grounding item: one unnamed box
        items = raw if isinstance(raw, list) else [raw]
        out = []
        for o in items:
            box = [float(v) for v in o["bbox"]]
            if self.box_format == "corners":
                box = list(corners_to_center_size(box))
            out.append({"label": o.get("label"), "bbox": box})
        return out
