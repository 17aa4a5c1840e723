"""Atomic file writes: a crash, Ctrl-C or a full disk never leaves a half-written checkpoint, page, table or image.

A file is written to a hidden temporary file in its folder (`.<name>.<random>.tmp`) and then renamed over the
target in one step. Errors name the target, not the temporary file; the finished file gets the permissions of a
normally created one (the umask's), not the temporary file's 0600. A process killed while writing leaves its
temporary file behind: `remove_stale_temp_files` clears them when the next run takes over the folder.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # what tempfile.mkstemp makes of our prefix and suffix


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() gives a new file


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces `path` in one step.

    An OSError while writing (a full disk, a read-only folder) is raised again with the target's name.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        yield Path(tmp)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write text to path atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """torch.save to path atomically (temp file in the same folder, then os.replace). A write that fails (a full
    disk) is raised as the OSError it was, which torch's zip writer would turn into 'unexpected pos'."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        file = _KeepsWriteError(f)
        try:
            torch.save(obj, file)
        except RuntimeError:
            if file.error is None:
                raise
            raise file.error from None


class _KeepsWriteError:
    """A file object that remembers the first OSError of its writes."""

    def __init__(self, file: Any):
        self.file, self.error = file, None

    def write(self, data: Any) -> int:
        try:
            return self.file.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)


@contextmanager
def staged_folder(out: str | os.PathLike) -> Iterator[Path]:
    """Yield a hidden staging folder beside `out`; when the block succeeds its files move into `out` (replacing
    files of the same name), and when it fails nothing of them reaches `out`. Either way the staging folder goes."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield staging
        out.mkdir(exist_ok=True)
        for file in sorted(staging.iterdir()):
            os.replace(file, out / file.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Temporary files of atomic_path left in `folder` by a process that was killed while writing."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _TEMP_NAME.match(p.name) and p.is_file())


def remove_stale_temp_files(*folders: str | os.PathLike) -> list[Path]:
    """Delete what stale_temp_files finds in each folder, saying so; only call it while holding the folder's
    lock (another process's temporary file is not stale). Returns the deleted files."""
    removed = []
    for folder in folders:
        for file in stale_temp_files(folder):
            try:
                file.unlink()
            except FileNotFoundError:
                continue
            removed.append(file)
    if removed:
        print(f"removed {len(removed)} unfinished temporary file(s) of an interrupted run, e.g. {removed[0]}",
              flush=True)
    return removed


def check_writable(folder: str | os.PathLike, what: str) -> None:
    """Fail now, with an error naming `what` (a flag or path the user gave), if no file can be created in folder
    (creating the folder if needed): better than after an hour of computing."""
    from .errors import UserError

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise UserError(f"cannot write to {folder} ({what}): {exc.strerror}; pick a writable folder") from None


def read_json_object(path: str | os.PathLike, holds: str, fix: str) -> dict[str, Any] | None:
    """The JSON object in a file DLIM reads back (None when there is no file); a UserError naming the file, what it
    `holds` and the `fix` when it is not one."""
    import json

    from .errors import UserError

    path = Path(path)
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path} ({type(exc).__name__}): it holds {holds}; {fix}") from None
    if not isinstance(value, dict):
        raise UserError(f"{path} is not a JSON object: it holds {holds}; {fix}")
    return value
