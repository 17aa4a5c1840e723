"""Checkpoint files: naming, reading with clear errors, and the random-generator states they carry.

Files are read weights-only (util.weights): a checkpoint that needs arbitrary unpickling is refused.
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from util.errors import UserError
from util.weights import safe_load

CHECKPOINT_FORMAT = "dlim-checkpoint-v2"  # v2: numpy's random state as tensors (v1 held a numpy array)
READABLE_FORMATS = ("dlim-checkpoint-v1", CHECKPOINT_FORMAT)


def checkpoint_label(opt: argparse.Namespace) -> str:
    """The checkpoint chosen by --load_iter (iter_<N>) or else --epoch (latest, 5, ...)."""
    return f"iter_{opt.load_iter}" if opt.load_iter > 0 else str(opt.epoch)


def checkpoint_path(opt: argparse.Namespace, label: str | None = None) -> Path:
    """<checkpoints_dir>/<name>/<label>_checkpoint.pth."""
    return Path(opt.checkpoints_dir) / opt.name / f"{label or checkpoint_label(opt)}_checkpoint.pth"


def read_checkpoint(path: Path) -> Any:
    """A checkpoint or weights file, read safely (memory-mapped when the file allows), with one-line errors for
    files that are damaged, not PyTorch files, or need arbitrary code to load."""
    try:
        return safe_load(path, mmap=True)
    except UserError:
        raise
    except Exception:  # files from torch < 1.6 cannot be memory-mapped: read them whole
        pass
    try:
        return safe_load(path)
    except UserError:
        raise
    except Exception as exc:  # corrupt, truncated or not a torch file at all
        raise UserError(f"cannot read checkpoint {path} ({type(exc).__name__}): the file is damaged or not a "
                        f"PyTorch checkpoint; use another --epoch or retrain") from None


def saved_options(opt: argparse.Namespace) -> dict[str, Any] | None:
    """The training options inside the checkpoint chosen by opt (None when it is not a DLIM checkpoint)."""
    path = checkpoint_path(opt)
    if not path.exists():
        return None
    state = read_checkpoint(path)
    return state.get("options") if isinstance(state, dict) and state.get("format") in READABLE_FORMATS else None


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
    """Restore what rng_state() returned (CUDA states only onto the same number of devices)."""
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


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
