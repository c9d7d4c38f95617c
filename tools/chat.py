"""Chat with a trained model in the terminal; answers stream as they are generated.

    python tools/chat.py CONFIG_OR_DIR [CKPT] [--image PATH] [--temperature 0.7]

CONFIG_OR_DIR is a config file or a directory written by ``MultimodalLLM.save_pretrained``.
While the model loads, one status line shows; what loading prints (quickstart preparation,
weight-loading bars, warnings) goes to the log file (``--log``).

Commands: /image PATH, /points PATH, /reset, /routing, /quit.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from octavius.inference.chat_session import ChatSession
from octavius.inference.cli_options import (
    add_generation_options,
    add_model_arguments,
    generation_settings,
)
from octavius.inference.loading import load_for_inference
from octavius.inference.quiet_loading import quiet_loading
from octavius.plugin_manager import load_plugins

LOG_FILE = Path("work_dirs") / "chat" / "loading.log"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_model_arguments(parser)
    parser.add_argument("--image", help="attach this image from the start")
    parser.add_argument("--points", help="attach this point cloud (.npy) from the start")
    parser.add_argument("--task", default="conversation", help="task type of the conversation")
    parser.add_argument(
        "--log", type=Path, default=LOG_FILE, help=f"what loading prints (default {LOG_FILE})"
    )
    add_generation_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    # Bound to the terminal now: sys.stdout goes to the log while the model loads.
    console = Console(file=sys.stdout)
    start = time.perf_counter()
    with console.status("Loading model…"):
        try:
            with quiet_loading(args.log):
                load_plugins()
                model = load_for_inference(args.source, args.checkpoint)
        except Exception:
            console.print(f"[red]Loading the model failed[/] (details in {args.log}).")
            raise
    console.print(
        f"[dim]Model loaded in {time.perf_counter() - start:.1f} s (loading log: {args.log})[/]"
    )
    session = ChatSession(model, console, generation_settings(args), task=args.task)
    if args.image:
        session.command(f"/image {args.image}")
    if args.points:
        session.command(f"/points {args.points}")
    session.run()


if __name__ == "__main__":
    main()
