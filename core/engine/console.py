"""A quiet terminal for training and evaluation: what matters on screen, everything in the log.

mmengine's logger prints to the terminal everything it writes to the log file: the system
environment, the whole config, the hook table, deprecation notices of its own file client, a
warning per metric without a prefix and one each time an iteration-based loop restarts its data
loader. Its lines also break a tqdm progress bar into fragments. :func:`quiet_console` replaces the
logger's terminal handler by :class:`ConsoleHandler`, which

- writes through ``tqdm.write``, so a line appears above the progress bar instead of inside it;
- lets through warnings and errors (minus the known noise, :data:`NOISE`), the periodic log lines
  of ``LoggerHook`` (``Iter(train) [ 10/100] …``) and records logged with :data:`CONSOLE`
  (``logger.info(msg, extra=CONSOLE)``).

The log file in the work directory keeps every record.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from torch import nn
from tqdm.auto import tqdm

#: ``extra`` of a log record that is meant for the terminal too.
CONSOLE = {"octavius_console": True}
#: Messages that are logged to the file but never shown on the terminal.
NOISE = (
    '"FileClient" will be deprecated',
    '"HardDiskBackend" is the alias of "LocalBackend"',
    "The prefix is not set in metric class",
    "Reach the end of the dataloader",
)
_PERIODIC = re.compile(r"^(Epoch|Iter)\((train|val|test)\)")


class ConsoleFilter(logging.Filter):
    """Decide which records reach the terminal (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(noise in message for noise in NOISE):
            return False
        if record.levelno >= logging.WARNING or getattr(record, "octavius_console", False):
            return True
        return bool(_PERIODIC.match(message))


class ConsoleHandler(logging.StreamHandler):
    """A stream handler that writes through ``tqdm.write`` (progress bars stay whole)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
            self.flush()
        except Exception:  # logging must never raise into training
            self.handleError(record)


def quiet_console(logger: logging.Logger) -> logging.Logger:
    """Replace the terminal handlers of ``logger`` (stdout/stderr) by a :class:`ConsoleHandler`.

    The replaced handler's level, formatter and filters are kept; file handlers are untouched.
    """
    for handler in list(logger.handlers):
        if isinstance(handler, (ConsoleHandler, logging.FileHandler)):
            continue
        if not isinstance(handler, logging.StreamHandler):
            continue
        stream = handler.stream
        console = ConsoleHandler(stream=stream)
        console.setLevel(handler.level)
        console.setFormatter(handler.formatter)
        for existing in handler.filters:
            console.addFilter(existing)
        console.addFilter(ConsoleFilter())
        logger.removeHandler(handler)
        logger.addHandler(console)
    return logger


def console_info(logger: Any, message: str) -> None:
    """Log ``message`` at INFO level on the terminal and in the log file."""
    logger.info(message, extra=CONSOLE)


def describe_run(runner: Any) -> str:
    """A few lines on what was built: model, trainable parameters, data, length, where logs go."""
    from octavius.checkpoints.checkpoint import unwrap_model

    model = unwrap_model(runner.model)
    params = list(model.parameters()) if isinstance(model, nn.Module) else []
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    cfg = runner.cfg
    model_cfg = cfg.get("model") or {}
    parts = [f"{type(model).__name__}"]
    if isinstance(model_cfg, dict) and model_cfg.get("llm"):
        llm = model_cfg["llm"]
        if isinstance(llm, dict):  # dict(pretrained=..., dtype=...)
            dtype = f" ({llm['dtype']})" if llm.get("dtype") else ""
            llm = f"{llm.get('pretrained')}{dtype}"
        parts.append(f"LLM {llm}")
    encoders = model_cfg.get("encoders") if isinstance(model_cfg, dict) else None
    if isinstance(encoders, dict):
        kinds = ", ".join(f"{name}={enc.get('type', '?')}" for name, enc in encoders.items() if enc)
        parts.append(f"encoders {kinds}")
    lines = ["model: " + "; ".join(parts)]
    if total:
        lines.append(f"parameters: {trainable:,} trainable of {total:,}")
    train_cfg = cfg.get("train_cfg") or {}
    length = train_cfg.get("max_iters") or train_cfg.get("max_epochs")
    unit = "iterations" if "max_iters" in train_cfg else "epochs"
    if length:
        lines.append(f"training: {length} {unit}")
    log_file = next(
        (h.baseFilename for h in runner.logger.handlers if isinstance(h, logging.FileHandler)),
        None,
    )
    lines.append(f"work dir: {runner.work_dir}" + (f" (full log: {log_file})" if log_file else ""))
    return "\n".join(lines)
