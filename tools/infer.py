"""Answer a questions file with a trained model; resumable, one JSON line per answer.

    python tools/infer.py CONFIG_OR_DIR [CKPT] --input questions.jsonl --output answers.jsonl

A question line: ``{"question_id": 1, "text": "...", "image": "img.png", "task": "vqa"}`` (see
:mod:`octavius.inference.answer_file`). Rerunning after an interruption skips the ids already in
the output.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from octavius.inference.answer_file import answer_questions, answered_ids, read_questions
from octavius.inference.cli_options import (
    add_generation_options,
    add_model_arguments,
    generation_settings,
)
from octavius.inference.loading import load_for_inference
from octavius.plugin_manager import load_plugins


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_model_arguments(parser)
    parser.add_argument("--input", type=Path, required=True, help="questions (JSONL)")
    parser.add_argument("--output", type=Path, required=True, help="answers (JSONL, appended)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--media-root", type=Path, help="root of relative image / point paths")
    parser.add_argument("--no-routing", action="store_true", help="do not write the routing")
    add_generation_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, int]:
    args = parse_args(argv)
    console = Console(stderr=True)
    try:
        questions = read_questions(args.input, args.media_root)
    except (OSError, ValueError) as err:
        sys.exit(f"infer: {err}")
    done = len(answered_ids(args.output) & {str(q["question_id"]) for q in questions})
    if done:
        console.print(f"Resuming: {done} of {len(questions)} questions already answered.")
    load_plugins()
    model = load_for_inference(args.source, args.checkpoint)
    columns = (
        TextColumn("answering"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("answering", total=len(questions) - done)
        summary = answer_questions(
            model,
            questions,
            args.output,
            batch_size=args.batch_size,
            model_id=str(args.checkpoint or args.source),
            return_routing=not args.no_routing,
            on_progress=lambda n, _: progress.update(task, completed=n),
            generation=generation_settings(args),
        )
    console.print(
        f"Answered {summary['answered']}, skipped {summary['skipped']} already answered; "
        f"wrote {args.output}"
    )
    return summary


if __name__ == "__main__":
    main()
