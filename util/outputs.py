"""The one output guard: every command that writes files the user names asks it first (test.py, export.py,
evaluate.py, the dataset tools, the download scripts, benchmark.py), and it refuses, before anything is written:

- a write onto a file the command reads, or into a folder it reads images from (they would be read back, or
  replace inputs);
- a write onto a PyTorch checkpoint or weights file (unless the command itself made that file);
- a write over a file that the same command did not make (unless --overwrite);
- results of another source (another checkpoint, other weights, another seed) mixed into a folder that holds this
  command's results (unless --overwrite, which then removes the other source's files).

What it allows is recorded in the manifest `.dlim-outputs.json` of the output folder (file path within it ->
command and source): that is how a later run knows which files it made. Files are then written atomically by
util.fileio.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UserError
from .fileio import atomic_write_text, read_json_object
from .locks import FolderLock

MANIFEST = ".dlim-outputs.json"
_PICKLE_PROTOCOLS = range(2, 6)  # torch.save's legacy format is a pickle stream: 0x80, protocol


@dataclass
class OutputGuard:
    """The rules above for one command: `tool` names it in the manifest and in messages, `source` says what its
    files are made from ('' when they accumulate, as a table's rows), `reads` are the files and folders it reads,
    `flag` how the user names the output, `recognise` tells a file of this tool written before manifests existed;
    `inputs` are files it reads beside its outputs (a checkpoint and its options), never written over."""

    tool: str
    flag: str
    source: str = ""
    reads: tuple[Path, ...] = ()
    inputs: tuple[Path, ...] = ()
    overwrite: bool = False
    recognise: Callable[[Path], bool] | None = None

    def claim(self, paths: Iterable[str | os.PathLike], root: str | os.PathLike | None = None,
              for_this_process: bool = True) -> None:
        """Check every target, then record them as this command's in the manifest of `root` (the output folder
        the user named; default: each file's own folder); a UserError naming the first refused one. Records of
        files this process has not written when it exits are dropped again, unless another process writes them
        (for_this_process=False: a shell script that claims through `python -m util.outputs`)."""
        targets = [Path(os.path.abspath(p)) for p in paths]
        if root is not None and Path(root).exists() and not Path(root).is_dir():
            raise UserError(f"{self.flag} {root} is a file, not a folder: pass a folder")
        groups: dict[Path, list[Path]] = {}
        for path in targets:
            groups.setdefault(Path(os.path.abspath(root)) if root else path.parent, []).append(path)
        for files in groups.values():
            for folder in {f.parent for f in files}:
                self._check_inputs(folder, files)
        for folder, files in groups.items():
            created = _first_missing(folder)
            with _manifest_lock(folder):
                self._claim_in(folder, files)
            if for_this_process:  # when the command ends, claims it did not write (it failed, was refused) go
                _PENDING.append((folder, files, created))

    def claim_folder(self, folder: str | os.PathLike, names: Iterable[str]) -> None:
        """claim() for files `names` (paths relative to `folder`) of the output folder `folder`."""
        self.claim((Path(folder) / name for name in names), root=folder)

    # ---- the rules ---------------------------------------------------------------------------------------------

    def _check_inputs(self, folder: Path, files: list[Path]) -> None:
        real_folder = folder.resolve()
        for read in self.inputs:
            if any(f.resolve() == Path(read).resolve() for f in files):
                raise UserError(f"{self.flag} would write over {read}, which {self.tool} reads (its input): pick "
                                f"another {self.flag}")
        for read in self.reads:
            read = Path(read).resolve()
            if any(f.resolve() == read for f in files):
                raise UserError(f"{self.flag} would write over {read}, which {self.tool} reads (its input): pick "
                                f"another {self.flag}")
            # a folder is read with its subfolders; a file's folder holds the files beside it, not below
            inside = real_folder == read or read in real_folder.parents if read.is_dir() else \
                real_folder == read.parent
            if inside:
                where = read if read.is_dir() else read.parent
                raise UserError(f"{self.flag} puts files into {real_folder}, where {self.tool} reads its inputs "
                                f"({read}): they would be mixed with them or read back; pick a {self.flag} outside "
                                f"{where}")

    def _claim_in(self, folder: Path, files: list[Path]) -> None:
        manifest = read_manifest(folder)
        entries = manifest.setdefault("files", {})
        names = {path: path.relative_to(folder).as_posix() for path in files}
        for path, name in names.items():
            self._check_target(path, entries.get(name))
        others = self._other_sources(folder, entries)
        if others:
            if not self.overwrite:
                source = entries[others[0]]["source"]
                raise UserError(f"{self.flag} {folder} holds {len(others)} file(s) that {self.tool} made from "
                                f"{source}, not {self.source}: pass another {self.flag} to keep them apart, or "
                                f"--overwrite to replace them")
            for name in others:
                if not (folder / name).is_symlink():  # a link's target is not this tool's to delete
                    (folder / name).unlink(missing_ok=True)
                del entries[name]
            print(f"removed {len(others)} file(s) of {folder} made from another source (--overwrite)", flush=True)
        for name in names.values():
            entries[name] = {"tool": self.tool, "source": self.source}
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError, PermissionError) as exc:  # a file on the way, no permission
            raise UserError(f"cannot write to {folder} ({self.flag}): {exc.strerror}; pick a writable folder") from None
        atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")

    def _check_target(self, path: Path, entry: dict[str, Any] | None) -> None:
        if path.is_dir():
            raise UserError(f"{self.flag} {path} is a folder: pass the path of a file")
        if not path.exists() and not path.is_symlink():
            return
        ours = entry is not None and entry.get("tool") == self.tool
        if path.is_symlink():
            raise UserError(f"{self.flag} {path} is a symbolic link: writing there would change the file it points "
                            f"to; pick another {self.flag}")
        if not ours and is_pytorch_file(path):
            raise UserError(f"{self.flag} would write over {path}, a PyTorch checkpoint or weights file, which "
                            f"{self.tool} never replaces: pick another {self.flag}")
        if not ours and not self.overwrite and not (self.recognise and self.recognise(path)):
            raise UserError(f"{self.flag} would write over {path}, which {self.tool} did not write: pick another "
                            f"{self.flag}, or pass --overwrite to replace it")

    def _other_sources(self, folder: Path, entries: dict[str, dict[str, Any]]) -> list[str]:
        """This tool's files in the folder made from another source (that still exist)."""
        if not self.source:
            return []
        return sorted(name for name, e in entries.items() if e.get("tool") == self.tool and e.get("source")
                      and e["source"] != self.source and (folder / name).exists())


def _manifest_lock(folder: Path) -> contextlib.AbstractContextManager:
    """One manifest update at a time: a folder that exists may be claimed by another run at the same time."""
    if not folder.is_dir():
        return contextlib.nullcontext()
    return FolderLock(folder / f".{MANIFEST}.lock").acquire(str(folder), "", wait=True)


# this process's claims: (folder, files, the outermost folder the claim made, if any)
_PENDING: list[tuple[Path, list[Path], Path | None]] = []


def _first_missing(folder: Path) -> Path | None:
    """The outermost of `folder` and its parents that does not exist yet (None when the folder exists)."""
    if folder.exists():
        return None
    while not folder.parent.exists():
        folder = folder.parent
    return folder


def settle() -> None:
    """Forget this process's claims of files it did not write; entry points call it as they end (main_guard),
    and so does the interpreter's exit."""
    while _PENDING:
        _forget_unwritten(*_PENDING.pop())


atexit.register(settle)


def _forget_unwritten(folder: Path, files: list[Path], created: Path | None) -> None:
    """Drop the manifest's entries of `files` that were never written; the manifest goes when it records nothing,
    and so do the empty folders the claim created (up to `created`). Nothing is left of a command that wrote
    nothing."""
    if not (folder / MANIFEST).is_file() or all(f.exists() for f in files):
        return
    try:
        with _manifest_lock(folder):
            manifest = read_manifest(folder)
            entries = manifest.get("files", {})
            for path in files:
                if not path.exists():
                    entries.pop(path.relative_to(folder).as_posix(), None)
            if entries:
                atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
            else:
                (folder / MANIFEST).unlink()
        while created is not None and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            if folder == created:
                break
            folder = folder.parent
    except (OSError, UserError):
        pass  # the command is ending: a record left behind only makes the next run ask for --overwrite


def read_manifest(folder: Path) -> dict[str, Any]:
    """The folder's manifest ({} when it has none; a damaged one is a UserError, so that nothing is guessed)."""
    fix = "delete it, and pass --overwrite once"
    manifest = read_json_object(folder / MANIFEST, f"the record of which files of {folder} DLIM wrote", fix) or {}
    entries = manifest.get("files", {})
    if not (isinstance(entries, dict) and all(_is_entry(name, entry) for name, entry in entries.items())):
        raise UserError(f"{folder / MANIFEST} is not a DLIM record of files: {fix}")
    return manifest


def _is_entry(name: Any, entry: Any) -> bool:
    """A record's entry: a path inside its folder (relative, no '..') -> {'tool': str, 'source': str}."""
    path = Path(name) if isinstance(name, str) else None
    return (path is not None and name != "" and not path.is_absolute() and ".." not in path.parts
            and isinstance(entry, dict) and isinstance(entry.get("tool"), str)
            and isinstance(entry.get("source"), str))


def is_pytorch_file(path: Path) -> bool:
    """Whether the file is what torch.save writes (a zip with a data.pkl, or a legacy pickle stream): a checkpoint
    or weights file. TorchScript archives (which also hold code/) are not."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    if len(head) >= 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS:
        return True
    if head != b"PK\x03\x04":
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.endswith("/data.pkl") for n in names) and not any("/code/" in n for n in names)



def main(argv: list[str] | None = None) -> int:
    """`python -m util.outputs --tool T --flag F [--source S] [--overwrite] PATH...`: the guard for shell scripts
    (the download scripts), a one-line error and exit code 2 when it refuses."""
    import argparse

    from .errors import main_guard

    parser = argparse.ArgumentParser(prog="python -m util.outputs")
    parser.add_argument("--tool", required=True)
    parser.add_argument("--flag", required=True)
    parser.add_argument("--source", default="")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args(argv)
    guard = OutputGuard(tool=args.tool, flag=args.flag, source=args.source, overwrite=args.overwrite)
    return main_guard(lambda: guard.claim(args.paths, for_this_process=False) or 0)()


if __name__ == "__main__":
    raise SystemExit(main())
