"""Write precomputed RoI files with FCAF3D, for ``PrecomputedRoISource``.

Runs an mmdet3d detector (FCAF3D by default; needs the ``[3d]`` extra) over every scene of
``points_dir`` and writes ``<out_dir>/<scene_id>.npy``, a float32 ``(m, 7)`` array of
``cx, cy, cz, dx, dy, dz, score`` rows, best first. Scenes are either point-cloud files
``<scene_id>.npy`` (N×6, xyz + rgb; colours expected in [0, 1] as the data pipeline loads them,
``--color-scale 255`` for 0-255 files) or, found automatically, mmdet3d's ScanNet preparation
(``<scene_id>_vert.npy``, ``_ins_label.npy``, ``_sem_label.npy``, ``_aligned_bbox.npy``,
``_axis_align_matrix.npy``, as ``tools/data/scannet_to_mmdet3d.py`` writes them): those are read
in the axis-aligned frame with their 0-255 colours scaled to [0, 1], exactly as training reads
them, and every scene is checked first (a label file whose length differs from the vertex
count stops the run, naming both files). Files already
present are skipped unless ``--overwrite``, so an interrupted run resumes. Then, anywhere (no extra
needed)::

    roi_source = dict(type='PrecomputedRoISource', root='<out_dir>')

Example::

    python tools/data/extract_rois.py data/scannet/points data/scannet/rois \\
        --checkpoint fcaf3d_scannet.safetensors --top-m 50
    python tools/data/extract_rois.py data/scannet/scannet_instance_data data/scannet/rois \\
        --checkpoint fcaf3d_scannet.safetensors
"""

from __future__ import annotations

import argparse

from octavius.data.errors import DataError
from octavius.models.base_roi_source import build_roi_source
from octavius.models.roi_extraction import SCENE_LAYOUTS, extract_rois, scene_files, scene_layout


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "points_dir",
        help="directory of <scene_id>.npy point clouds (N×6) or of mmdet3d ScanNet scenes",
    )
    parser.add_argument("out_dir", help="directory for the RoI files (PrecomputedRoISource root)")
    parser.add_argument(
        "--config",
        default="fcaf3d/fcaf3d_2xb8_scannet-3d-18class.py",
        help="mmdet3d config: a file or a path inside mmdet3d's shipped configs",
    )
    parser.add_argument(
        "--checkpoint", default=None, help="detector weights (.pth or .safetensors)"
    )
    parser.add_argument("--score-thr", type=float, default=0.01, help="minimum detection score")
    parser.add_argument("--top-m", type=int, default=50, help="maximum RoIs per scene")
    parser.add_argument(
        "--color-scale",
        type=float,
        default=None,
        help="rgb of .npy files is divided by this to reach [0, 1] (255 for 0-255 colours;"
        " default 1); mmdet3d ScanNet scenes are scaled already",
    )
    parser.add_argument(
        "--layout",
        choices=SCENE_LAYOUTS,
        default="auto",
        help="scene layout: <scene_id>.npy files, mmdet3d ScanNet files, or auto (ScanNet when"
        " there is a *_vert.npy file)",
    )
    parser.add_argument("--device", default="cpu", help="device of the detector")
    parser.add_argument(
        "--pattern", default="*.npy", help="point-cloud file glob in points_dir (.npy layout)"
    )
    parser.add_argument("--overwrite", action="store_true", help="recompute existing files")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    layout = scene_layout(args.points_dir) if args.layout == "auto" else args.layout
    if layout == "scannet" and args.color_scale not in (None, 1.0):
        raise SystemExit(
            f"--color-scale {args.color_scale:g} does not apply to {args.points_dir}: its mmdet3d"
            " ScanNet scenes (*_vert.npy) are read with their 0-255 colours scaled to [0, 1]."
        )
    try:
        scenes = scene_files(args.points_dir, args.pattern, layout)
    except (FileNotFoundError, DataError) as error:
        raise SystemExit(f"extract_rois: {error}") from None
    if args.checkpoint is None:
        print("No --checkpoint: FCAF3D runs with random weights, its boxes are meaningless.")
    source = build_roi_source(
        dict(
            type="FCAF3DRoISource",
            config=args.config,
            checkpoint=args.checkpoint,
            score_thr=args.score_thr,
            top_m=args.top_m,
            color_scale=args.color_scale or 1.0,
            device=args.device,
        )
    )
    report = extract_rois(source, scenes, args.out_dir, overwrite=args.overwrite)
    print(
        f"{layout} layout: wrote {len(report.written)} RoI files ({report.num_boxes} boxes) to {args.out_dir};"
        f" skipped {len(report.skipped)} existing."
    )


if __name__ == "__main__":
    main()
