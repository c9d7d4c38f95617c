"""Convert raw ScanNet scans (``.ply`` meshes + annotations) into mmdet3d's ScanNet files.

    python tools/data/scannet_to_mmdet3d.py data/scannet/scans data/scannet/scannet_instance_data \
        --label-map data/scannet/meta_data/scannetv2-labels.combined.tsv [--scans scene0000_00 ...]

Writes ``<scan>_vert.npy``, ``_sem_label.npy``, ``_ins_label.npy``, ``_aligned_bbox.npy``,
``_unaligned_bbox.npy`` and ``_axis_align_matrix.npy`` per scan, as mmdet3d's
``data/scannet/batch_load_scannet_data.py`` does (``--test`` for scans without annotations: the
vertices only). Existing outputs are skipped. The files load with ``InstructionDataset``'s
``point_root`` pointing at the output directory (docs/data_formats.md).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from octavius.data.errors import DataError
from octavius.data.scannet_export import export_scan


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "scans_dir", type=Path, help="directory of raw scans (<scan>/<scan>_vh_clean_2.ply, ...)"
    )
    parser.add_argument("out_dir", type=Path, help="where the .npy files go")
    parser.add_argument(
        "--label-map", type=Path, required=True, help="scannetv2-labels.combined.tsv"
    )
    parser.add_argument(
        "--scans", nargs="+", help="scan names (default: every directory in scans_dir)"
    )
    parser.add_argument("--test", action="store_true", help="test scans: write the vertices only")
    parser.add_argument(
        "--max-num-point", type=int, default=None, help="subsample to this many vertices"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.scans or sorted(p.name for p in args.scans_dir.iterdir() if p.is_dir())
    failed = 0
    for name in names:
        if (args.out_dir / f"{name}_vert.npy").is_file():
            print(f"{name}: already converted, skipped")
            continue
        try:
            written = export_scan(
                args.scans_dir / name, args.out_dir, args.label_map, args.test, args.max_num_point
            )
        except DataError as err:
            print(f"{name}: {err}", file=sys.stderr)
            failed += 1
            continue
        print(f"{name}: {len(written)} files")
    print(f"converted {len(names) - failed} of {len(names)} scan(s) into {args.out_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
