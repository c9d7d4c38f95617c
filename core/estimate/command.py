"""The ``estimate`` sub-command of ``python -m octavius``."""

from __future__ import annotations

import argparse
import json
import sys

from octavius.estimate.strategies import STRATEGIES

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m octavius estimate``."""
    from mmengine.config import DictAction

    parser.add_argument("config", help="config file")
    parser.add_argument("--gpus", type=int, default=1, help="data-parallel devices")
    parser.add_argument("--strategy", choices=STRATEGIES, default="ddp")
    parser.add_argument("--dtype", help="dtype of the frozen LLM and encoders, e.g. bf16")
    parser.add_argument("--seq-len", type=int, help="tokens per sample (default: max_length)")
    parser.add_argument("--micro-batch", type=int, help="samples per device and step")
    parser.add_argument(
        "--gradient-checkpointing",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="recompute decoder layers in backward (default: the config's)",
    )
    parser.add_argument(
        "--device-gb",
        type=float,
        nargs="+",
        default=[],
        help="device memory sizes (GiB) to find the largest micro-batch for",
    )
    parser.add_argument(
        "--reserve-gb",
        type=float,
        default=None,
        help="memory the runtime keeps besides tensors (default: 1 with --device-gb, else 0)",
    )
    parser.add_argument("--llm-config", help="config.json of the LLM instead of model.llm's")
    parser.add_argument(
        "--encoder-config",
        nargs="+",
        action=DictAction,
        help="MODALITY=config.json of an encoder instead of its checkpoint directory's",
    )
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, help="key=value overrides")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")


def run(args: argparse.Namespace) -> int:
    """Load the config, estimate, print."""
    from octavius.config import load_config
    from octavius.estimate.components import EstimateConfigError
    from octavius.estimate.estimator import EstimateOptions, estimate_memory
    from octavius.estimate.report import estimate_as_dict, format_estimate

    cfg = load_config(args.config, args.cfg_options)
    reserve = args.reserve_gb if args.reserve_gb is not None else (1.0 if args.device_gb else 0.0)
    options = EstimateOptions(
        gpus=args.gpus,
        strategy=args.strategy,
        dtype=args.dtype,
        seq_len=args.seq_len,
        micro_batch=args.micro_batch,
        gradient_checkpointing=args.gradient_checkpointing,
        device_gb=tuple(args.device_gb),
        reserve_gb=reserve,
        llm_config=args.llm_config,
        encoder_configs=dict(args.encoder_config or {}),
    )
    try:
        estimate = estimate_memory(cfg, options)
    except EstimateConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(estimate_as_dict(estimate), indent=2))
    else:
        print(format_estimate(estimate, title=f"memory estimate for {args.config}"))
    return 0
