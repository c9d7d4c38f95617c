"""``python -m octavius``: list registered components, print resolved configs, check data."""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table


def _first_doc_line(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def source_file(obj: object) -> str:
    """Where ``obj`` is defined: a path relative to the repository for built-ins (e.g.
    ``plugins/routers/token.py``), relative to its installation directory for plugins."""
    from pathlib import Path

    try:
        path = Path(inspect.getsourcefile(obj) or inspect.getfile(obj)).resolve()
    except TypeError:
        return "?"
    top = (getattr(obj, "__module__", "") or "").split(".")[0]
    roots = [Path(__file__).resolve().parent.parent]  # the repository (core/ and plugins/)
    if top in sys.modules and getattr(sys.modules[top], "__file__", None):
        roots.append(Path(sys.modules[top].__file__).resolve().parent.parent)
    for root in roots:
        if path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    return str(path)


def cmd_list(args: argparse.Namespace) -> int:
    """Print every registered component, its origin, source file and first docstring line."""
    from octavius import registry
    from octavius.plugin_manager import component_origin, plugin_failures

    registry.import_all_builtins()
    if args.registry:
        wanted = {args.registry: registry.find_registry(args.registry)}
        names = [p for p, r in registry.ALL_REGISTRIES.items() if r is wanted[args.registry]]
        selected = {names[0]: wanted[args.registry]}
    else:
        selected = dict(registry.ALL_REGISTRIES)
    console = Console(width=args.width, soft_wrap=False)
    for public, reg in selected.items():
        own = sorted(reg.module_dict.items())
        if not own and not args.registry:
            continue
        table = Table(title=f"{public} ({reg.name}, scope {reg.scope})", title_justify="left")
        table.add_column("name", style="bold")
        table.add_column("origin")
        table.add_column("source")
        table.add_column("description", overflow="fold")
        for name, obj in own:
            table.add_row(
                name, component_origin(public, name, obj), source_file(obj), _first_doc_line(obj)
            )
        console.print(table)
    for failure in plugin_failures():
        console.print(
            f"[red]plugin {failure.distribution} ({failure.entry_point}) failed to load:[/red] "
            f"{failure.error}"
        )
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    """Print the fully resolved config after inheritance and ``--cfg-options``."""
    from octavius.config import load_config

    cfg = load_config(args.config, args.cfg_options)
    print(cfg.pretty_text)
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    """Check every dataset of a config (counts, skipped samples, missing files, lengths)."""
    from octavius.config import load_config
    from octavius.data.data_check import check_config

    cfg = load_config(args.config, args.cfg_options)
    report = check_config(cfg, prepare=not args.no_prepare)
    print(report.render())
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m octavius``."""
    from mmengine.config import DictAction

    parser = argparse.ArgumentParser(prog="python -m octavius", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="registered components and where they come from")
    p_list.add_argument("registry", nargs="?", help="one registry, e.g. ROUTERS or router")
    p_list.add_argument("--width", type=int, default=160, help="table width in characters")
    p_list.set_defaults(func=cmd_list)
    p_cfg = sub.add_parser("config", help="print the resolved config")
    p_cfg.add_argument("config", help="config file")
    p_cfg.add_argument("--cfg-options", nargs="+", action=DictAction, help="key=value overrides")
    p_cfg.set_defaults(func=cmd_config)
    p_data = sub.add_parser("data", help="instruction data tools").add_subparsers(
        dest="data_command", required=True
    )
    p_check = p_data.add_parser("check", help="validate every dataset of a config, no training")
    p_check.add_argument("config", help="config file")
    p_check.add_argument("--cfg-options", nargs="+", action=DictAction, help="key=value overrides")
    p_check.add_argument(
        "--no-prepare", action="store_true", help="do not build the config's quickstart assets"
    )
    p_check.set_defaults(func=cmd_data_check)

    # `weights`: published weights in, GGUF conversion, self-contained model directories out.
    from octavius.weights.cli import add_weights_parser

    add_weights_parser(sub)
    _add_estimate(sub)
    return parser


# ---------------------------------------------------------------- estimate
def _add_estimate(sub: argparse._SubParsersAction) -> None:
    """``estimate CONFIG``: per-device training memory without loading weights."""
    from octavius.estimate.command import add_arguments, run

    p_est = sub.add_parser("estimate", help="per-device training memory of a config")
    add_arguments(p_est)
    p_est.set_defaults(func=run)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse arguments, run the sub-command, turn known errors into messages."""
    from octavius.config import ConfigKeyError, ConfigPlaceholderError
    from octavius.registry import UnknownComponentError

    args = build_parser().parse_args(argv)
    known = (UnknownComponentError, ConfigKeyError, ConfigPlaceholderError, FileNotFoundError)
    try:
        return int(args.func(args) or 0)
    except (*known, *getattr(args, "known_errors", ())) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
