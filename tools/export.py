"""Export a trained model: merged Hugging Face model, or LoRA adapters in peft's format.

Examples::

    # merge experts 0 and 2 (weights 0.5/0.5) into the LLM and save a standalone HF model
    python tools/export.py merged CONFIG CKPT out/hf --experts 0 2 --weights 0.5 0.5
    # merge the routing the instance gate picks for a prompt (and its task)
    python tools/export.py merged CONFIG CKPT out/hf --prompt "How many objects are there?" --task vqa
    # single-LoRA adapters → peft (routed layers: pass the expert set)
    python tools/export.py peft CONFIG CKPT out/peft
    # a peft LoRA adapter → an Octavius checkpoint (prints the adapter rules for the config)
    python tools/export.py import-peft CONFIG ADAPTER_DIR out/iter_0

OUT_DIR must not be (inside) a directory the export reads (the base LLM, an encoder, the
checkpoint), and must be empty unless ``--overwrite`` is given.

See docs/training.md.
"""

from __future__ import annotations

import argparse
import pprint
import sys
from collections.abc import Sequence

from octavius.config import DictAction, load_config
from octavius.engine.export_entry import export_merged, export_peft, import_peft
from octavius.errors import run_cli
from octavius.plugin_manager import load_plugins


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Export Octavius models and adapters.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("merged", "merge a routing into the LLM and save a Hugging Face model directory"),
        ("peft", "save the LoRA adapters in peft's format"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("config")
        p.add_argument("checkpoint")
        p.add_argument("out_dir")
        p.add_argument("--experts", type=int, nargs="+", help="expert set to merge/export")
        p.add_argument("--weights", type=float, nargs="+", help="weights of the expert set")
        if name == "merged":
            p.add_argument("--prompt", help="merge the routing the model picks for this prompt")
            p.add_argument("--task", help="task type of the prompt (e.g. vqa, detection)")
        p.add_argument("--cfg-options", nargs="+", action=DictAction)
        p.add_argument("--overwrite", action="store_true", help="replace a non-empty OUT_DIR")
        p.add_argument("--debug", action="store_true", help="print the traceback of an error")
    p = sub.add_parser("import-peft", help="turn a peft LoRA adapter into an Octavius checkpoint")
    p.add_argument("config")
    p.add_argument("adapter_dir")
    p.add_argument("out_dir")
    p.add_argument("--base-checkpoint", help="weights of the other trainable parts (projectors)")
    p.add_argument("--cfg-options", nargs="+", action=DictAction)
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty OUT_DIR")
    p.add_argument("--debug", action="store_true", help="print the traceback of an error")
    args = parser.parse_args(argv)
    if args.command != "import-peft" and args.weights and not args.experts:
        parser.error("--weights needs --experts")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    load_plugins()
    cfg = load_config(args.config, args.cfg_options)
    if args.command == "merged":
        out = export_merged(
            cfg, args.checkpoint, args.out_dir, experts=args.experts, weights=args.weights,
            prompt=args.prompt, task=args.task, overwrite=args.overwrite,
        )  # fmt: skip
        print(f"Saved the merged model to {out}")
    elif args.command == "peft":
        out = export_peft(
            cfg, args.checkpoint, args.out_dir, experts=args.experts, weights=args.weights,
            overwrite=args.overwrite,
        )  # fmt: skip
        print(f"Saved the peft adapter to {out}")
    else:
        out, rules = import_peft(
            cfg, args.adapter_dir, args.out_dir, args.base_checkpoint, overwrite=args.overwrite
        )
        print(f"Saved the checkpoint to {out}; load it with model.adapters set to:")
        pprint.pprint(rules, sort_dicts=False)


def cli(argv: Sequence[str] | None = None) -> int:
    """``main`` with errors reported as one paragraph; returns the exit code (2: user error)."""
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(cli())
