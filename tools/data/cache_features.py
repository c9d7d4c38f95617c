"""Encode every image and scene of a config's training data once with its frozen encoders.

Writes a feature cache (safetensors shards and ``index.json``, see
:mod:`octavius.features.feature_store`): the CLIP tower's patch tokens per image, and per scene
Object-As-Scene's RoIs with their Point-BERT features (its query fusion trains, so it keeps
running in every step). Entries are keyed by the files' content and stored under the encoder's
fingerprint (frozen weights + settings); re-running encodes only what changed. Then train with
the cache::

    python tools/data/cache_features.py configs/quickstart/octavius_2d3d_tiny.py
    python tools/train.py configs/quickstart/octavius_2d3d_tiny.py \\
        --cfg-options feature_cache=work_dirs/octavius_2d3d_tiny/feature_cache

See docs/training.md, "Feature cache".
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from octavius.config import DictAction, load_config
from octavius.errors import run_cli
from octavius.features import build_feature_cache
from octavius.plugin_manager import load_plugins


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="config file")
    parser.add_argument(
        "--out",
        help="cache directory (default: the config's feature_cache, else"
        " work_dirs/<config name>/feature_cache)",
    )
    parser.add_argument("--batch-size", type=int, default=16, help="items per encoder call")
    parser.add_argument("--shard-size", type=int, default=256, help="entries per shard file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--cfg-options", nargs="+", action=DictAction, help="override config entries"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    load_plugins()
    cfg = load_config(args.config, args.cfg_options)
    out = (
        args.out
        or cfg.get("feature_cache")
        or Path("work_dirs") / Path(args.config).stem / "feature_cache"
    )
    report = build_feature_cache(
        cfg,
        out,
        batch_size=args.batch_size,
        shard_size=args.shard_size,
        progress=not args.no_progress,
    )
    for modality, count in report["encoded"].items():
        rebuilt = " (encoder changed: rebuilt)" if modality in report["rebuilt"] else ""
        print(f"{modality}: encoded {count}, kept {report['reused'][modality]}{rebuilt}")
    print(
        f"Feature cache: {report['dir']}\nTrain with: --cfg-options feature_cache={report['dir']}"
    )


def cli(argv: Sequence[str] | None = None) -> int:
    """``main`` with errors reported as one paragraph; returns the exit code (2: user error)."""
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(cli())
