"""Random generators: seeding them, and their states for an exact resume (as tensors, numbers and tuples, which
weights-only loading reads back)."""
from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state(cuda_devices: list[int]) -> dict[str, Any]:
    """The state of every random generator in use, for exact resumption."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    numpy_state = {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                   "has_gauss": int(has_gauss), "cached_gaussian": float(gauss)}
    state = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}
    if cuda_devices:
        state["cuda"] = [torch.cuda.get_rng_state(d) for d in cuda_devices]
    return state


def set_rng_state(state: dict[str, Any], cuda_devices: list[int]) -> None:
    """Restore what rng_state() returned (CUDA states only onto the same number of devices); older checkpoints
    hold numpy's state as numpy's own tuple."""
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    if isinstance(numpy_state, dict):
        numpy_state = (numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                       numpy_state["has_gauss"], numpy_state["cached_gaussian"])
    np.random.set_state(numpy_state)
    random.setstate(state["python"])
    if cuda_devices and len(state.get("cuda", [])) == len(cuda_devices):
        for device, cuda_state in zip(cuda_devices, state["cuda"]):
            torch.cuda.set_rng_state(cuda_state, device)


@contextlib.contextmanager
def preserved_rng(cuda_devices: list[int]) -> Iterator[None]:
    """A block whose random draws leave the run's random streams as they were (an exact resume is unaffected)."""
    saved = rng_state(cuda_devices)
    try:
        yield
    finally:
        set_rng_state(saved, cuda_devices)
