"""Test helper, not part of DLIM: with this folder on PYTHONPATH and DLIM_TEST_FULL_DISK=<folder> in the
environment, every file opened for writing under <folder> fails on write as on a full disk (ENOSPC), so that the
tests can drive the command-line tools into a full disk without filling one; with DLIM_TEST_FULL_DISK_AFTER=<n>
too, each such file fails once n bytes have been written to it (a disk that fills in the middle of a file).
With DLIM_TEST_OOM_AT_BACKWARD=<n>,
the n-th backward pass raises CUDA's out-of-memory error, as a GPU that is too small would."""
from __future__ import annotations

import builtins
import errno
import io
import os

_FULL = os.environ.get("DLIM_TEST_FULL_DISK")
_ROOM = int(os.environ.get("DLIM_TEST_FULL_DISK_AFTER", "0"))


class _FullDiskFile:
    """A file whose writes fail with ENOSPC (after _ROOM bytes); everything else is the real file's."""

    def __init__(self, file):
        self._file = file
        self._written = 0

    def write(self, data):
        if self._written + len(data) > _ROOM:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._written += len(data)
        return self._file.write(data)

    def writelines(self, lines):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fileno(self):  # so that writers such as PIL's encoders go through write()
        raise io.UnsupportedOperation("fileno")

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()

    def __iter__(self):
        return iter(self._file)


def _patched(real_open):
    def open_(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        writing = any(flag in mode for flag in "wax+")
        if writing and isinstance(file, (str, bytes, os.PathLike)):
            path = os.path.abspath(os.fsdecode(os.fspath(file)))
            if path.startswith(os.path.abspath(_FULL) + os.sep):
                return _FullDiskFile(handle)
        return handle
    return open_


if _FULL:
    builtins.open = io.open = _patched(io.open)


_OOM_AT = int(os.environ.get("DLIM_TEST_OOM_AT_BACKWARD", "0"))

if _OOM_AT:
    import torch

    _real_backward, _calls = torch.Tensor.backward, [0]

    def _backward(self, *args, **kwargs):
        _calls[0] += 1
        if _calls[0] == _OOM_AT:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (test fault)")
        return _real_backward(self, *args, **kwargs)

    torch.Tensor.backward = _backward
