"""Chat with a trained model in the terminal; answers stream as they are generated.

    python tools/chat.py CONFIG_OR_DIR [CKPT] [--image PATH] [--temperature 0.7]

Commands: /image PATH, /points PATH, /reset, /routing, /quit.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rich.console import Console

from octavius.inference.chat_session import ChatSession
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
    parser.add_argument("--image", help="attach this image from the start")
    parser.add_argument("--points", help="attach this point cloud (.npy) from the start")
    parser.add_argument("--task", default="conversation", help="task type of the conversation")
    add_generation_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    console = Console()
    load_plugins()
    with console.status("loading the model"):
        model = load_for_inference(args.source, args.checkpoint)
    session = ChatSession(model, console, generation_settings(args), task=args.task)
    if args.image:
        session.command(f"/image {args.image}")
    if args.points:
        session.command(f"/points {args.points}")
    session.run()


if __name__ == "__main__":
    main()
