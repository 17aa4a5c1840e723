"""Exclusive use of a folder by one process: two train.py runs of one experiment, or two test.py runs writing one
results folder, must not interleave their files.

The lock is the operating system's (fcntl.flock on a small file), so a process that dies, even by kill -9, never
leaves a stale lock: the kernel releases it. The lock file records who holds it (pid, host, start time, command)
for the message the next process gets. Where fcntl is missing (Windows), locking is skipped.
"""
from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import time
from pathlib import Path
from typing import Any

from .errors import UserError

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None


def holder_info() -> dict[str, Any]:
    """Who this process is, for the message another process gets while it holds a lock."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])}


def describe_holder(info: dict[str, Any]) -> str:
    """'pid 123 on host, started 2026-01-01 10:00:00' from holder_info() (what is known of it)."""
    if not info:
        return "another process"
    return f"pid {info.get('pid', '?')} on {info.get('host', '?')}, started {info.get('started', '?')}"


class FolderLock:
    """Hold `<folder>/<name>` exclusively; `acquire` raises a UserError naming the holder when another has it."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.fd: int | None = None

    def _try_lock(self, wait: bool) -> bool:
        """Lock the file at self.path; retries when the holder deleted it in between (then it is a new file)."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return False
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return True
            os.close(fd)  # the file we locked was unlinked by its holder on release: lock the new one

    def acquire(self, what: str, fix: str, wait: bool = False) -> FolderLock:
        """Take the lock, or fail with '<what> is in use by <holder>: <fix>'; with wait, wait for it instead.
        A folder that cannot be written is an OSError naming the folder, not the lock file."""
        if fcntl is None:
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self._try_lock(wait):
                raise UserError(f"{what} is in use by {describe_holder(read_holder(self.path))}: {fix}")
            os.ftruncate(self.fd, 0)
            os.write(self.fd, (json.dumps(holder_info()) + "\n").encode())
        except OSError as exc:
            self.release()
            raise OSError(exc.errno, exc.strerror, str(self.path.parent)) from None
        return self

    def release(self, remove: bool = True) -> None:
        """Give the lock up and delete its file (nothing is left in the folder); remove=False keeps the file as
        a mark that the holder did not finish (test.py's results folders)."""
        if self.fd is None:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self.fd)  # closing releases the flock
        self.fd = None

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_holder(path: str | os.PathLike) -> dict[str, Any]:
    """The holder_info() written into a lock file ({} when unreadable or empty)."""
    try:
        info = json.loads(Path(path).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def is_locked(path: str | os.PathLike) -> bool:
    """Whether some process holds the lock on `path` now (False when the file is missing or unlocked)."""
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
