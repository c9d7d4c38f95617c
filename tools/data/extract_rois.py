"""Write precomputed RoI files with FCAF3D, for ``PrecomputedRoISource``.

Runs an mmdet3d detector (FCAF3D by default; needs the ``[3d]`` extra) over every point-cloud file
``<points_dir>/<scene_id>.npy`` (N×6, xyz + rgb) and writes ``<out_dir>/<scene_id>.npy``, a float32
``(m, 7)`` array of ``cx, cy, cz, dx, dy, dz, score`` rows, best first. Colours are expected in
[0, 1], as the data pipeline loads them (``--color-scale 255`` for 0-255 files). Files already
present are skipped unless ``--overwrite``, so an interrupted run resumes. Then, anywhere (no extra
needed)::

    roi_source = dict(type='PrecomputedRoISource', root='<out_dir>')

Example::

    python tools/data/extract_rois.py data/scannet/points data/scannet/rois \\
        --checkpoint fcaf3d_scannet.safetensors --top-m 50
"""

from __future__ import annotations

import argparse

from octavius.models.base_roi_source import build_roi_source
from octavius.models.roi_extraction import extract_rois, scene_files


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("points_dir", help="directory of <scene_id>.npy point clouds (N×6)")
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
        default=1.0,
        help="rgb is divided by this to reach [0, 1] (255 for 0-255 colours)",
    )
    parser.add_argument("--device", default="cpu", help="device of the detector")
    parser.add_argument("--pattern", default="*.npy", help="point-cloud file glob in points_dir")
    parser.add_argument("--overwrite", action="store_true", help="recompute existing files")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    scenes = scene_files(args.points_dir, args.pattern)
    if args.checkpoint is None:
        print("No --checkpoint: FCAF3D runs with random weights, its boxes are meaningless.")
    source = build_roi_source(
        dict(
            type="FCAF3DRoISource",
            config=args.config,
            checkpoint=args.checkpoint,
            score_thr=args.score_thr,
            top_m=args.top_m,
            color_scale=args.color_scale,
            device=args.device,
        )
    )
    report = extract_rois(source, scenes, args.out_dir, overwrite=args.overwrite)
    print(
        f"Wrote {len(report.written)} RoI files ({report.num_boxes} boxes) to {args.out_dir};"
        f" skipped {len(report.skipped)} existing."
    )


if __name__ == "__main__":
    main()
