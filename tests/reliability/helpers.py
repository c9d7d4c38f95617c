"""Calling the tools in-process the way a user calls them, and checking what they print."""

from __future__ import annotations

import contextlib
import io
import runpy
from collections.abc import Sequence
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@cache
def _cli(tool: str):
    return runpy.run_path(str(REPO / "tools" / f"{tool}.py"))["cli"]


def run_tool(tool: str, argv: Sequence[str]) -> tuple[int, str, str]:
    """Run ``tools/<tool>.py`` with ``argv`` in this process; ``(exit code, stdout, stderr)``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = _cli(tool)(list(argv))
        except SystemExit as exit_:  # argparse errors
            code = exit_.code if isinstance(exit_.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def assert_user_error(result: tuple[int, str, str], *names: str) -> str:
    """Exit code 2, every one of ``names`` in the message, and no traceback; returns stderr."""
    code, out, err = result
    assert code == 2, f"exit code {code}; stderr:\n{err}\nstdout:\n{out[-2000:]}"
    assert "Traceback" not in err and "Traceback" not in out, err
    for name in names:
        assert str(name) in err, f"{name!r} not in the message:\n{err}"
    return err
