"""Exceptions shared by every part of Octavius, and how the command-line tools report them.

A user error (a bad config, data file, checkpoint or command-line value) is printed by
:func:`run_cli` as one paragraph that names the file, key or sample and what was expected, and
the tool exits with code 2. The traceback goes to the run's log file (the work directory's
mmengine log once the runner exists, else ``WORK_DIR/error.log``) and is printed only with
``--debug``. Any other exception is an internal error: the same short report, exit code 1.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


class MissingDependencyError(ImportError):
    """A feature needs an optional dependency that is not installed.

    The one exception type for every missing optional dependency (the ``[3d]`` extra's mmdet3d,
    mmcv ops and MinkowskiEngine; ``deepspeed``; …). Its message says what needs it and names
    the extra to install; ``extra`` and ``module`` are kept as attributes for programs.

    Args:
        message: what needs which module and why it failed.
        extra: the ``octavius`` extra that installs it (``3d``, ``deepspeed``, …), or ``None``
            when the package is installed on its own (the message then says how).
        module: the import name that failed, when known.
    """

    def __init__(self, message: str, *, extra: str | None, module: str | None = None) -> None:
        self.extra = extra
        install = f"pip install octavius[{extra}]"
        if extra and install not in message:
            message = f"{message} Install the extra with `{install}`."
        super().__init__(message, name=module)


class ConfigKeyError(KeyError):
    """A config key that no component or tool accepts (usually a misspelling)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigValueError(ValueError):
    """A config value of the wrong type or outside what its component accepts."""


class ConfigSyntaxError(SyntaxError):
    """A config file that cannot be parsed or executed; names the file and line."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


USER_ERROR_EXIT = 2
INTERNAL_ERROR_EXIT = 1
INTERRUPTED_EXIT = 130

_USER_ERROR_TYPES: tuple[type[BaseException], ...] = (
    ValueError,
    KeyError,
    TypeError,
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
    FileExistsError,
    SyntaxError,
    UnicodeError,
    FloatingPointError,
)


class _ErrorLog:
    """Where the traceback of a failed command goes when no run log exists yet."""

    work_dir: Path | None = None
    loggers_before: frozenset[str] = frozenset()


def set_error_log_dir(work_dir: str | Path | None) -> None:
    """Record the work directory of the command (its ``error.log`` receives tracebacks)."""
    _ErrorLog.work_dir = Path(work_dir) if work_dir else None


def is_user_error(err: BaseException) -> bool:
    """Whether ``err`` is a problem with the user's input (config, data, files, options)."""
    if isinstance(err, ImportError):  # a missing optional dependency names the extra to install
        return isinstance(err, MissingDependencyError)
    return isinstance(err, _USER_ERROR_TYPES)


def error_message(err: BaseException) -> str:
    """The text of ``err`` without the quotes ``KeyError`` adds around its argument."""
    if isinstance(err, KeyError) and len(err.args) == 1 and isinstance(err.args[0], str):
        text = err.args[0]
    else:
        text = str(err)
    if isinstance(err, SyntaxError) and err.filename and f"{err.filename}" not in text:
        text = f"{err.filename}:{err.lineno}: {err.msg}"
    return text.strip() or type(err).__name__


def _logger_names() -> set[str]:
    from mmengine.logging import MMLogger

    return set(MMLogger._instance_dict)


def _run_log_files() -> list[Path]:
    """Log files of the loggers this command created (a runner's ``<timestamp>.log``)."""
    from mmengine.logging import MMLogger

    files = []
    for name, logger in list(MMLogger._instance_dict.items()):
        if name in _ErrorLog.loggers_before:
            continue
        for handler in logger.handlers:
            if isinstance(handler, logging.FileHandler):
                files.append(Path(handler.baseFilename))
    return files


def write_traceback(err: BaseException) -> Path | None:
    """Append the traceback of ``err`` to the run's log file(s); return the file written."""
    text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    targets = _run_log_files()
    if not targets:
        base = _ErrorLog.work_dir or Path(tempfile.gettempdir())
        targets = [base / "error.log" if _ErrorLog.work_dir else base / "octavius-error.log"]
    written = None
    for target in targets:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "a", encoding="utf-8") as handle:
                handle.write(f"\n{stamp} - traceback of the error reported above:\n{text}")
            written = written or target
        except OSError:
            continue
    return written


def report_error(err: BaseException, log: Path | None, stream: Any = None) -> None:
    """Print ``err`` as one paragraph (and where its traceback is) to ``stream`` (stderr)."""
    stream = stream or sys.stderr
    user = is_user_error(err)
    head = "error" if user else f"internal error ({type(err).__name__})"
    where = f"the traceback is in {log}; " if log else ""
    print(f"{head}: {error_message(err)}", file=stream)
    print(f"({where}rerun with --debug to print it)", file=stream)


def run_cli(main: Callable[[Sequence[str] | None], Any], argv: Sequence[str] | None = None) -> int:
    """Run a tool's ``main(argv)`` and turn an exception into a short report and an exit code.

    Returns:
        0 on success, 2 for a user error, 1 for an internal error, 130 when interrupted.
        With ``--debug`` in ``argv`` the exception propagates with its traceback.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    set_error_log_dir(None)
    _ErrorLog.loggers_before = frozenset(_logger_names())
    try:
        main(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT
    except SystemExit:
        raise
    except Exception as err:
        if debug:
            raise
        report_error(err, write_traceback(err))
        return USER_ERROR_EXIT if is_user_error(err) else INTERNAL_ERROR_EXIT
    return 0
