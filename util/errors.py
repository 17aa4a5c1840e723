"""User errors: one line on stderr and exit code 2, never a traceback."""
from __future__ import annotations

import argparse
import functools
import os
import sys
from typing import Callable, TypeVar

T = TypeVar("T")
EXIT_USER_ERROR = 2


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2) instead of usage + message."""

    def error(self, message: str) -> None:
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """--help shows each default, unless it is None or False (nothing to show) or the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


class UserError(Exception):
    """A problem with the user's input (a path, a flag, a file) that the user can fix."""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if "Original Traceback" in text:  # re-raised from a DataLoader worker: keep the original message only
        text = text.splitlines()[-1].split("UserError: ", 1)[-1]
    return " ".join(text.split())


def _exit_with(message: str) -> None:
    prog = sys.argv[0].rsplit("/", 1)[-1] or "dlim"
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)


def main_guard(func: Callable[..., T]) -> Callable[..., T]:
    """Run an entry point; a UserError or a file-system error on a path becomes one line on stderr, exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            _exit_with(_one_line(exc))
        except OSError as exc:
            if exc.filename is None:  # not about a path the user chose: a bug, keep the traceback
                raise
            _exit_with(f"cannot use {exc.filename}: {exc.strerror}; check the path, its permissions and free space")

    return wrapper


def warn(message: str) -> None:
    """Print a one-line warning on stderr (once per torchrun job: processes other than rank 0 stay quiet)."""
    if os.environ.get("RANK", "0") == "0":
        print(f"warning: {message}", file=sys.stderr, flush=True)
