"""Gather the metrics.json of several runs into one Markdown table (rows runs, columns metrics + Avg).

python tools/analysis/make_table.py RUN_DIR_OR_METRICS_JSON ... [--names A B ...]
    [--columns KEY_OR_REGEX ...] [--scale 100] [--digits 2] [--no-average] [--out table.md]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from octavius.analysis.tables import metrics_table


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "runs", nargs="+", help="run directories or metrics.json files, in row order"
    )
    parser.add_argument("--names", nargs="+", help="row names (default: the run directory names)")
    parser.add_argument(
        "--columns", nargs="+", help="metric keys or regular expressions, in column order"
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every value (100 for %%)"
    )
    parser.add_argument("--digits", type=int, default=2)
    parser.add_argument("--no-average", action="store_true", help="no Avg column")
    parser.add_argument("--out", type=Path, help="write the table here (printed anyway)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> str:
    args = parse_args(argv)
    table = metrics_table(
        args.runs,
        names=args.names,
        columns=args.columns,
        scale=args.scale,
        digits=args.digits,
        average=not args.no_average,
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table, encoding="utf-8")
    print(table, end="")
    return table


if __name__ == "__main__":
    main()
