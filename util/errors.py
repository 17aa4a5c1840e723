"""User errors: one line on stderr and exit code 2, never a traceback."""
from __future__ import annotations

import functools
import sys
from typing import Callable, TypeVar

T = TypeVar("T")
EXIT_USER_ERROR = 2


class UserError(Exception):
    """A problem with the user's input (a path, a flag, a file) that the user can fix."""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if "Original Traceback" in text:  # re-raised from a DataLoader worker: keep the original message only
        text = text.splitlines()[-1].split("UserError: ", 1)[-1]
    return " ".join(text.split())


def main_guard(func: Callable[..., T]) -> Callable[..., T]:
    """Run an entry point; print a UserError as one line on stderr and exit with code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            prog = sys.argv[0].rsplit("/", 1)[-1] or "dlim"
            print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)

    return wrapper


def warn(message: str) -> None:
    """Print a one-line warning on stderr."""
    print(f"warning: {message}", file=sys.stderr, flush=True)
