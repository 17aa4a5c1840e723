"""The C allocator's settings for CPU runs (--allocator reuse): keep freed memory for the next step.

glibc's malloc maps blocks above a threshold (32 MiB at most) afresh from the kernel and unmaps them when freed, and
gives back the free memory at the top of its heap once it passes a trim threshold. A training step allocates and
frees the same large tensors every time (the bf16 copies of 54 M weights, their gradients, the activations), so
each step touches pages that the kernel must fault in and zero anew: 7,800 page faults and 70 ms of system time per
batch-1 unet_256 step on this project's CPU. With mmap off and a 2 GiB trim threshold, freed blocks stay in the
heap and the next step reuses them (after a few steps that lay the heap out). The peak memory is the same (freed
memory is reused, not added); the process keeps its peak until it ends, as PyTorch's CUDA caching allocator does.
"""
from __future__ import annotations

import ctypes
import platform

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # mallopt's parameter numbers in glibc's malloc.h
TRIM_THRESHOLD = (1 << 31) - 1  # keep up to 2 GiB of free memory at the top of the heap


def reuse_supported() -> bool:
    """Whether this process's C library is glibc (whose malloc takes these settings)."""
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def keep_freed_memory() -> bool:
    """Serve every block from glibc's heap and keep freed memory there, for this process; False where the C
    library does not take these settings."""
    if not reuse_supported():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
