"""FCAF3D RoIs through mmdet3d (the [3d] extra), its CPU fixes, and precomputed RoI files.

Tests marked ``needs_3d`` run wherever mmdet3d is installed (CI installs it with
.ci/install_3d.sh) and are skipped only where it is not. The detector is built once per module;
one 5k-point scene costs a few seconds on a CPU.
"""

from __future__ import annotations

import collections
import collections.abc
import importlib.util
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from octavius.models.base_roi_source import BaseRoISource, build_roi_source
from octavius.models.nms3d import aligned_bev_iou, nms_aligned_3d, nms_aligned_bev
from octavius.models.roi_extraction import extract_rois, load_scene_points, scene_files
from octavius.plugins.encoders.fcaf3d_roi_source import select_rois
from octavius.plugins.encoders.precomputed_roi_source import PrecomputedRoISource

needs_3d = pytest.mark.skipif(
    importlib.util.find_spec("mmdet3d") is None,
    reason="the optional [3d] extra (mmdet3d) is not installed; install it with .ci/install_3d.sh",
)


def synthetic_scene(num_points: int, seed: int = 0, scene_id: str = "scene") -> dict:
    """Points in a 4 m × 4 m × 2 m room, colours in [0, 1] as the data pipeline loads them."""
    generator = torch.Generator().manual_seed(seed)
    xyz = torch.rand(num_points, 3, generator=generator) * torch.tensor([4.0, 4.0, 2.0])
    rgb = torch.rand(num_points, 3, generator=generator)
    return dict(
        points=torch.cat([xyz, rgb], 1), boxes=None, scene_id=scene_id, use_instance_boxes=False
    )


def random_boxes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    centres = torch.rand(n, 3, generator=generator) * 3
    sizes = 0.3 + torch.rand(n, 3, generator=generator) * 1.5
    return torch.cat([centres, sizes], 1), torch.rand(n, generator=generator)


def brute_force_iou(a: list[float], b: list[float], dims: int) -> float:
    """IoU of two axis-aligned boxes over their first ``dims`` axes (2 = bird's-eye view)."""
    inter = 1.0
    for axis in range(dims):
        low = max(a[axis] - a[axis + 3] / 2, b[axis] - b[axis + 3] / 2)
        high = min(a[axis] + a[axis + 3] / 2, b[axis] + b[axis + 3] / 2)
        inter *= max(high - low, 0.0)
    size_a, size_b = math.prod(a[3 : 3 + dims]), math.prod(b[3 : 3 + dims])
    return inter / max(size_a + size_b - inter, 1e-8)


def brute_force_nms(boxes: torch.Tensor, scores: torch.Tensor, thr: float, iou) -> list[int]:
    order = sorted(range(len(boxes)), key=lambda i: -float(scores[i]))
    keep: list[int] = []
    for i in order:
        if all(iou(boxes[i].tolist(), boxes[j].tolist()) <= thr for j in keep):
            keep.append(i)
    return keep


# --- without the extra -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("thr", [0.1, 0.3, 0.5])
def test_cpu_nms_equals_brute_force(seed, thr):
    boxes, scores = random_boxes(120, seed)
    bev = nms_aligned_bev(boxes, scores, thr).tolist()
    full = nms_aligned_3d(boxes, scores, thr).tolist()
    assert bev == brute_force_nms(boxes, scores, thr, lambda a, b: brute_force_iou(a, b, 2))
    assert full == brute_force_nms(boxes, scores, thr, lambda a, b: brute_force_iou(a, b, 3))
    assert 1 < len(bev) < len(boxes) and 1 < len(full) < len(boxes)
    # BEV IoU ignores height, so it suppresses at least as much as the 3D IoU
    assert len(bev) <= len(full)


def test_cpu_nms_edge_cases():
    empty = torch.zeros(0, 6)
    assert nms_aligned_bev(empty, torch.zeros(0), 0.5).tolist() == []
    # stacked boxes: same footprint, different floors: one box in BEV, two in 3D
    stacked = torch.tensor([[0, 0, 0.5, 1, 1, 1], [0, 0, 2.5, 1, 1, 1.0]])
    scores = torch.tensor([0.4, 0.9])
    assert nms_aligned_bev(stacked, scores, 0.5).tolist() == [1]
    assert nms_aligned_3d(stacked, scores, 0.5).tolist() == [1, 0]
    with pytest.raises(ValueError, match=r"boxes \(n, >=6\)"):
        nms_aligned_bev(torch.zeros(3, 4), torch.zeros(3), 0.5)


def test_select_rois_thresholds_sorts_dedups_and_cuts():
    boxes = torch.tensor(
        [
            [0, 0, 0, 1, 1, 1],
            [0.05, 0, 0, 1, 1, 1],  # duplicate of the first (another class)
            [3, 3, 3, 1, 1, 1],
            [6, 6, 6, 1, 1, 1],
            [9, 9, 9, 1, 1, 1],
        ],
        dtype=torch.float32,
    )
    scores = torch.tensor([0.5, 0.6, 0.05, 0.9, 0.3])
    kept, kept_scores = select_rois(boxes, scores, 0.1, 3, 0.5)
    assert kept_scores.tolist() == pytest.approx([0.9, 0.6, 0.3])
    torch.testing.assert_close(kept, boxes[[3, 1, 4]])
    kept, _ = select_rois(boxes, scores, 0.0, None, None)
    assert len(kept) == 5


def test_registration_does_not_import_mmdet3d():
    code = (
        "import sys\n"
        "from octavius.registry import ROI_SOURCES\n"
        "ROI_SOURCES.import_from_location()\n"
        "assert 'FCAF3DRoISource' in ROI_SOURCES.module_dict\n"
        "heavy = {'mmdet3d', 'mmdet', 'mmcv', 'MinkowskiEngine'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"


def test_missing_extra_error_names_extra_and_precompute_route(monkeypatch):
    monkeypatch.setitem(sys.modules, "mmdet3d", None)  # `import mmdet3d` now fails
    with pytest.raises(ImportError) as error:
        build_roi_source(dict(type="FCAF3DRoISource"))
    message = str(error.value)
    for part in (
        "FCAF3DRoISource",
        "pip install octavius[3d]",
        ".ci/install_3d.sh",
        "tools/data/extract_rois.py",
        "PrecomputedRoISource",
    ):
        assert part in message


class ScoredStub(BaseRoISource):
    """Boxes placed from the scene's first points, scores unsorted, so extraction must sort."""

    def scored_rois(self, item):
        points = torch.as_tensor(item["points"])
        count = int(points[0, 3]) % 4  # 0 boxes for some scenes
        boxes = torch.cat([points[:count, :3], torch.full((count, 3), 0.5)], 1)
        return boxes, torch.linspace(0.2, 0.8, count)

    def get_rois(self, item):
        return self.scored_rois(item)[0]


def write_scenes(root, counts):
    root.mkdir()
    for i, count in enumerate(counts):
        points = np.random.default_rng(i).random((50, 6)).astype(np.float32)
        points[0, 3] = count
        np.save(root / f"scene{i}.npy", points)
    return scene_files(root)


def test_extracted_files_read_back_identically(tmp_path):
    scenes = write_scenes(tmp_path / "points", [3, 0, 2])
    report = extract_rois(ScoredStub(), scenes, tmp_path / "rois", progress=False)
    assert report.written == ["scene0", "scene1", "scene2"] and report.num_boxes == 5
    reader = PrecomputedRoISource(root=tmp_path / "rois")
    for scene_id, path in scenes:
        item = dict(points=load_scene_points(path), scene_id=scene_id)
        expected_boxes, expected_scores = ScoredStub().scored_rois(item)
        order = expected_scores.argsort(descending=True)
        assert torch.equal(reader(item), expected_boxes[order])
        stored = np.load(tmp_path / "rois" / f"{scene_id}.npy")
        assert stored.dtype == np.float32 and stored.shape == (len(expected_boxes), 7)
        np.testing.assert_array_equal(stored[:, 6], expected_scores.numpy())
    again = extract_rois(ScoredStub(), scenes, tmp_path / "rois", progress=False)
    assert again.written == [] and again.skipped == ["scene0", "scene1", "scene2"]
    redone = extract_rois(ScoredStub(), scenes, tmp_path / "rois", overwrite=True, progress=False)
    assert redone.written == ["scene0", "scene1", "scene2"]


def test_extraction_errors_name_the_file(tmp_path):
    (tmp_path / "points").mkdir()
    np.save(tmp_path / "points" / "bad.npy", np.zeros(5))
    with pytest.raises(ValueError, match=r"bad\.npy.*shape \(5,\)"):
        extract_rois(ScoredStub(), scene_files(tmp_path / "points"), tmp_path / "r", progress=False)
    with pytest.raises(FileNotFoundError, match="No point-cloud file"):
        scene_files(tmp_path / "points", "*.ply")


# --- with the extra ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def source():
    """FCAF3D with random weights: no score threshold (random scores are about 0.005)."""
    torch.set_num_threads(1)
    return build_roi_source(dict(type="FCAF3DRoISource", score_thr=0.0, top_m=20))


@pytest.fixture(scope="module")
def scene_5k():
    return synthetic_scene(5000)


@pytest.fixture(scope="module")
def detections_5k(source, scene_5k):
    return source.scored_rois(scene_5k)


@needs_3d
def test_fcaf3d_rois_on_5k_point_scene(detections_5k, scene_5k):
    boxes, scores = detections_5k
    assert boxes.dtype == torch.float32 and boxes.shape == (20, 6)
    assert torch.isfinite(boxes).all() and (boxes[:, 3:] > 0).all()
    assert (scores[:-1] >= scores[1:]).all() and (scores > 0).all()
    iou = torch.tensor([[brute_force_iou(a.tolist(), b.tolist(), 3) for b in boxes] for a in boxes])
    assert (iou.triu(diagonal=1) <= 0.5).all()  # class-agnostic duplicates removed
    # gravity centres: FCAF3D's boxes surround its voxel locations, which fill the 2 m high
    # room; bottom centres would sit about half a box height (~1 m) lower
    z = scene_5k["points"][:, 2]
    assert z.min() + 0.5 < boxes[:, 2].mean() < z.max() - 0.5


@needs_3d
def test_depth_boxes_convert_from_bottom_to_gravity_centre():
    from mmdet3d.structures import DepthInstance3DBoxes

    from octavius.models.mmdet3d_detector import depth_boxes_to_rois

    gravity = torch.tensor([[1.0, 2.0, 3.0, 2.0, 4.0, 6.0, 0.0]])
    boxes = DepthInstance3DBoxes(gravity, origin=(0.5, 0.5, 0.5))
    assert boxes.tensor[0, 2] == 0.0  # mmdet3d stores the bottom centre
    torch.testing.assert_close(depth_boxes_to_rois(boxes), gravity[:, :6])
    turned = DepthInstance3DBoxes(gravity + torch.tensor([0, 0, 0, 0, 0, 0, math.pi / 2]))
    # a quarter turn swaps the footprint; the enclosing box keeps the bottom/gravity convention
    expected = torch.tensor([[1.0, 2.0, 6.0, 4.0, 2.0, 6.0]])
    torch.testing.assert_close(depth_boxes_to_rois(turned), expected)
    assert depth_boxes_to_rois(DepthInstance3DBoxes(torch.zeros(0, 7))).shape == (0, 6)


@needs_3d
def test_fcaf3d_extraction_reads_back_identically(source, tmp_path):
    scene = synthetic_scene(800, seed=3, scene_id="small")
    (tmp_path / "points").mkdir()
    np.save(tmp_path / "points" / "small.npy", scene["points"].numpy())
    extract_rois(source, scene_files(tmp_path / "points"), tmp_path / "rois", progress=False)
    read = PrecomputedRoISource(root=tmp_path / "rois")(scene)
    stored = np.load(tmp_path / "rois" / "small.npy")
    assert len(read) > 0 and torch.equal(read, torch.from_numpy(stored[:, :6]))
    # A second detection agrees; sparse convolutions may sum in another order across threads.
    expected_boxes, expected_scores = source.scored_rois(scene)
    torch.testing.assert_close(read, expected_boxes, atol=1e-5, rtol=0)
    np.testing.assert_allclose(stored[:, 6], expected_scores.numpy(), atol=1e-5, rtol=0)


@needs_3d
def test_rotated_cpu_nms_equals_polygon_brute_force():
    from shapely import affinity
    from shapely.geometry import box as rectangle

    from octavius.models._mmdet3d_compat import import_mmdet3d, nms3d_cpu

    import_mmdet3d()
    boxes, scores = random_boxes(80, seed=5)
    yaw = torch.rand(80, generator=torch.Generator().manual_seed(6)) * math.pi
    boxes7 = torch.cat([boxes, yaw[:, None]], 1)

    def polygon(b):
        shape = rectangle(b[0] - b[3] / 2, b[1] - b[4] / 2, b[0] + b[3] / 2, b[1] + b[4] / 2)
        return affinity.rotate(shape, b[6], origin=(b[0], b[1]), use_radians=True)

    def bev_iou(a, b):
        pa, pb = polygon(a), polygon(b)
        inter = pa.intersection(pb).area
        return inter / (pa.area + pb.area - inter)

    for thr in (0.2, 0.5):
        kept = nms3d_cpu(boxes7, scores, thr).tolist()
        assert kept == brute_force_nms(boxes7, scores, thr, bev_iou)
        assert 1 < len(kept) < len(boxes7)


@needs_3d
def test_bev_iou_agrees_with_mmcv_rotated_iou():
    from octavius.models._mmdet3d_compat import import_mmdet3d

    import_mmdet3d()
    from mmcv.ops import box_iou_rotated

    boxes, _ = random_boxes(40, seed=7)
    bev = boxes[:, [0, 1, 3, 4]]
    reference = box_iou_rotated(
        torch.cat([bev, torch.zeros(40, 1)], 1), torch.cat([bev, torch.zeros(40, 1)], 1)
    )
    torch.testing.assert_close(aligned_bev_iou(boxes, boxes), reference, atol=1e-5, rtol=1e-4)


@needs_3d
def test_fixes_are_applied_once_and_route_cpu_nms():
    from mmdet.models.losses.focal_loss import FocalLoss

    from octavius.models import _mmdet3d_compat as compat

    compat.import_mmdet3d()
    head = sys.modules["mmdet3d.models.dense_heads.fcaf3d_head"]
    patched = (head.nms3d_normal, head.nms3d, FocalLoss.forward)
    compat.import_mmdet3d()
    assert (head.nms3d_normal, head.nms3d, FocalLoss.forward) == patched
    boxes, scores = random_boxes(30, seed=8)
    padded = torch.cat([boxes, torch.zeros(30, 1)], 1)  # the head pads a zero yaw
    assert (
        head.nms3d_normal(padded, scores, 0.3).tolist()
        == nms_aligned_bev(boxes, scores, 0.3).tolist()
    )
    assert collections.Sequence is collections.abc.Sequence  # type: ignore[attr-defined]


@needs_3d
def test_cpu_focal_loss_treats_minus_one_as_background():
    from mmdet.models.losses.focal_loss import FocalLoss, py_sigmoid_focal_loss

    from octavius.models._mmdet3d_compat import import_mmdet3d

    import_mmdet3d()
    pred = torch.randn(6, 4)
    target = torch.tensor([0, -1, 3, -1, 2, 1])
    one_hot = torch.zeros(6, 4)
    one_hot[[0, 2, 4, 5], [0, 3, 2, 1]] = 1
    loss = FocalLoss()(pred, target, avg_factor=4)
    torch.testing.assert_close(loss, py_sigmoid_focal_loss(pred, one_hot, avg_factor=4))


@needs_3d
def test_scope_is_restored():
    from mmengine.registry import DefaultScope

    from octavius.models._mmdet3d_compat import mmdet3d_scope

    DefaultScope.get_instance("octavius-test", scope_name="octavius")
    with mmdet3d_scope():
        assert DefaultScope.get_current_instance().scope_name == "mmdet3d"
    assert DefaultScope.get_current_instance().scope_name == "octavius"


@needs_3d
def test_checkpoint_round_trip_without_unpickling_code(source, tmp_path):
    from safetensors.torch import save_file

    from octavius.models.mmdet3d_detector import load_detector_weights

    detector = source.detector
    own = detector.state_dict()
    state = type(own)((k, v.clone()) for k, v in own.items())
    state._metadata = own._metadata  # marks the current layout for mmdet3d's loader
    weight = detector.bbox_head.conv_cls.kernel
    try:
        # mmengine layout with numpy metadata, and the pre-1.0 key prefix `head.`
        old_layout = {k.replace("bbox_head.", "head.", 1): v for k, v in state.items()}
        torch.save({"meta": {"epoch": np.int64(12)}, "state_dict": old_layout}, tmp_path / "a.pth")
        weight.data.zero_()
        load_detector_weights(detector, tmp_path / "a.pth")
        assert torch.equal(weight, state["bbox_head.conv_cls.kernel"])

        save_file(state, str(tmp_path / "b.safetensors"))
        weight.data.zero_()
        load_detector_weights(detector, tmp_path / "b.safetensors")
        assert torch.equal(weight, state["bbox_head.conv_cls.kernel"])

        torch.save({"state_dict": state, "hook": ScoredStub()}, tmp_path / "c.pth")
        with pytest.raises(ValueError, match="weights_only=True"):
            load_detector_weights(detector, tmp_path / "c.pth")
        save_file({"backbone.x": torch.zeros(1)}, str(tmp_path / "d.safetensors"))
        with pytest.raises(ValueError, match="does not match"):
            load_detector_weights(detector, tmp_path / "d.safetensors")
    finally:
        detector.load_state_dict(state)


@needs_3d
def test_point_checks_and_subsampling(source, monkeypatch):
    scene = synthetic_scene(300)
    scene["points"][:, 3:] *= 255  # raw 0–255 colours
    with pytest.raises(ValueError, match="color_scale"):
        source.prepare_points(scene)
    monkeypatch.setattr(source, "color_scale", 255.0)
    monkeypatch.setattr(source, "max_points", 100)
    first, second = source.prepare_points(scene), source.prepare_points(scene)
    assert first.shape == (100, 6) and torch.equal(first, second)
    assert first[:, 3:].min() >= 0 and first[:, 3:].max() <= 1
    kept = (scene["points"][:, None, :3] == first[None, :, :3]).all(-1).any(0)
    assert kept.all()  # a subset of the scene's points
    with pytest.raises(ValueError, match=r"\(N, 6\)"):
        source.prepare_points(dict(points=torch.zeros(10, 3), scene_id="xyz_only"))


@needs_3d
def test_config_resolution():
    from octavius.models.mmdet3d_detector import resolve_detector_config

    path = resolve_detector_config("fcaf3d_2xb8_scannet-3d-18class.py")
    assert path.is_file() and path.parent.name == "fcaf3d"
    with pytest.raises(FileNotFoundError, match="fcaf3d/fcaf3d_2xb8_scannet"):
        resolve_detector_config("no_such_detector.py")
