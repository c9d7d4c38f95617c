"""Generate the synthetic 2D + 3D instruction set (see octavius.testing.synthetic).

Example::

    python tools/data/make_synthetic.py data/synthetic --num-images 200 --num-scenes 100 --difficulty medium
"""

from __future__ import annotations

import argparse

from octavius.testing.synthetic import make_synthetic
from octavius.testing.synthetic_2d import DIFFICULTY, SYNTHETIC_TASKS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Generate a deterministic synthetic 2D+3D instruction set."
    )
    parser.add_argument("out_dir", help="output directory")
    parser.add_argument(
        "--num-images", type=int, default=40, help="images (each gives one sample per task)"
    )
    parser.add_argument(
        "--num-scenes", type=int, default=20, help="point-cloud scenes (one sample per task each)"
    )
    parser.add_argument("--difficulty", choices=sorted(DIFFICULTY), default="easy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=64, help="canvas side in pixels")
    parser.add_argument("--test-fraction", type=float, default=0.25)
    parser.add_argument(
        "--tasks", nargs="+", choices=SYNTHETIC_TASKS, default=list(SYNTHETIC_TASKS)
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = make_synthetic(
        args.out_dir,
        num_images=args.num_images,
        num_scenes=args.num_scenes,
        difficulty=args.difficulty,
        seed=args.seed,
        image_size=args.image_size,
        test_fraction=args.test_fraction,
        tasks=args.tasks,
        progress=not args.no_progress,
    )
    for split, counts in result.counts.items():
        print(f"{split}: {sum(counts.values())} samples -> {result.annotations[split]}")
    print(f"README: {result.root / 'README.md'}")


if __name__ == "__main__":
    main()
