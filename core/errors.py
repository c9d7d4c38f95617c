"""Exceptions shared by every part of Octavius."""

from __future__ import annotations


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
