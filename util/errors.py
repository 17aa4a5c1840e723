"""User errors: one line on stderr and exit code 2, never a traceback."""
from __future__ import annotations

import argparse
import contextlib
import contextvars
import errno
import functools
import os
import sys
from collections.abc import Iterator
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


# whether messages should name command-line flags (--batch_size 4) or Python arguments (batch_size=4)
_PYTHON_API = contextvars.ContextVar("python_api", default=False)
# the Python spelling of flags that have no argument of the same name
_PYTHON_SPELLING = {"no_cache": "cache=False", "cache_dir": "cache_root"}


def option(name: str, value: object = None) -> str:
    """How the user spells an option in a message: '--name value' on the command line, 'name=value' in Python."""
    if _PYTHON_API.get():
        name = _PYTHON_SPELLING.get(name, name)
        return name if value is None or "=" in name else f"{name}={value!r}"
    return f"--{name}" + (f" {value}" if value is not None else "")


@contextlib.contextmanager
def python_api() -> Iterator[None]:
    """Inside this block a UserError becomes a ValueError, and messages name Python arguments (see option())."""
    token = _PYTHON_API.set(True)
    try:
        yield
    except UserError as exc:
        raise ValueError(str(exc)) from None
    finally:
        _PYTHON_API.reset(token)


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
    """Run an entry point; a UserError or a file-system error on a path becomes one line on stderr, exit code 2;
    Ctrl-C one line and exit code 130."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            prog = sys.argv[0].rsplit("/", 1)[-1] or "dlim"
            print(f"\n{prog}: interrupted (Ctrl-C)", file=sys.stderr)
            sys.exit(130)
        except UserError as exc:
            _exit_with(_one_line(exc))
        except OSError as exc:
            if exc.filename is None:  # not about a path the user chose: a bug, keep the traceback
                raise
            _exit_with(os_error_message(exc))
        finally:
            from .outputs import settle  # what the command claimed to write but did not is forgotten

            settle()

    return wrapper


def os_error_message(exc: OSError) -> str:
    """One line for a file-system error on a path: a full disk, a read-only folder, a missing path."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on device writing {exc.filename}: free some space, or write to another disk"
    if exc.errno == errno.EROFS:
        return f"cannot write {exc.filename}: the file system is read-only; write to another folder"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot use {exc.filename}: {exc.strerror}; check its permissions, or pick another folder"
    return f"cannot use {exc.filename}: {exc.strerror}; check the path, its permissions and free space"


def warn(message: str) -> None:
    """Print a one-line warning on stderr (once per torchrun job: processes other than rank 0 stay quiet)."""
    if os.environ.get("RANK", "0") == "0":
        print(f"warning: {message}", file=sys.stderr, flush=True)
