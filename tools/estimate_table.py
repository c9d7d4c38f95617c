"""Tables of the memory estimate for docs/training.md.

    python tools/estimate_table.py paper [--out FILE]    # paper configs, published sizes, 24/40/80 GiB
    python tools/estimate_table.py check [--work-dir D]  # estimate vs measured CPU peak, 3 models

See :mod:`octavius.estimate.paper_table` and :mod:`octavius.estimate.check`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("mode", choices=("paper", "check"))
    parser.add_argument("--out", help="write the Markdown table here too")
    parser.add_argument(
        "--work-dir", help="where the check builds its models (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    if args.mode == "paper":
        from octavius.estimate.paper_table import paper_rows, paper_table_markdown

        table = paper_table_markdown(paper_rows(Path(__file__).resolve().parents[1]))
    else:
        from octavius.estimate.check import check_markdown, run_checks

        with tempfile.TemporaryDirectory(prefix="octavius-estimate-") as tmp:
            table = check_markdown(run_checks(args.work_dir or tmp))
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
