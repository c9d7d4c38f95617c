"""Loading a model without filling the terminal: everything it prints goes to a log file.

Building a model from a config prints on its way: the preparation steps of a ``quickstart``
section (mmengine's logger), transformers' "Loading weights" progress bars, warnings. An
interactive tool wants one status line instead and the prompt right after it. Inside
:func:`quiet_loading`

- transformers' and huggingface_hub's progress bars are off and transformers logs only errors;
- the terminal handlers of mmengine's current logger and of the root logger are replaced by one
  handler writing to the log file;
- ``sys.stdout`` and ``sys.stderr`` (plain prints, tqdm bars, Python warnings) go to the log file.

Everything is restored on exit, also when loading fails (the error is then raised as usual and
its details are in the log). A rich console meant for the terminal must be bound to the real
stream before entering (``Console(file=sys.stdout)``), since ``sys.stdout`` is replaced inside.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["quiet_loading"]

_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"


def _terminal_handlers(logger: logging.Logger) -> list[logging.Handler]:
    return [
        h
        for h in logger.handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]


@contextlib.contextmanager
def _quiet_hugging_face() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    hub_bars: bool | None = None
    try:
        from huggingface_hub.utils import (
            are_progress_bars_disabled,
            disable_progress_bars,
            enable_progress_bars,
        )

        hub_bars = not are_progress_bars_disabled()
        disable_progress_bars()
    except ImportError:  # an old huggingface_hub: transformers' switch covers its bars
        pass
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
        if hub_bars:
            enable_progress_bars()


@contextlib.contextmanager
def quiet_loading(log_file: str | os.PathLike) -> Iterator[Path]:
    """Send what loading prints to ``log_file`` (appended); yields its path.

    Args:
        log_file: the log file; its directory is created.
    """
    from mmengine.logging import MMLogger

    path = Path(log_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created now, while sys.stdout is the terminal, so that its own handler is bound to it.
    loggers = [MMLogger.get_current_instance(), logging.getLogger()]
    with path.open("a", encoding="utf-8") as log:
        to_file = logging.StreamHandler(log)
        to_file.setFormatter(logging.Formatter(_FORMAT))
        removed: list[tuple[logging.Logger, list[logging.Handler]]] = []
        for logger in loggers:
            handlers = _terminal_handlers(logger)
            for handler in handlers:
                logger.removeHandler(handler)
            logger.addHandler(to_file)
            removed.append((logger, handlers))
        try:
            with (
                _quiet_hugging_face(),
                contextlib.redirect_stdout(log),
                contextlib.redirect_stderr(log),
            ):
                yield path
        finally:
            sys.stdout.flush()
            for logger, handlers in removed:
                logger.removeHandler(to_file)
                for handler in handlers:
                    logger.addHandler(handler)
