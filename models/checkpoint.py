"""Checkpoint files: naming, reading with clear errors, and the random-generator states they carry."""
from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from util.errors import UserError

CHECKPOINT_FORMAT = "dlim-checkpoint-v1"


def checkpoint_label(opt: argparse.Namespace) -> str:
    """The checkpoint chosen by --load_iter (iter_<N>) or else --epoch (latest, 5, ...)."""
    return f"iter_{opt.load_iter}" if opt.load_iter > 0 else str(opt.epoch)


def checkpoint_path(opt: argparse.Namespace, label: str | None = None) -> Path:
    """<checkpoints_dir>/<name>/<label>_checkpoint.pth."""
    return Path(opt.checkpoints_dir) / opt.name / f"{label or checkpoint_label(opt)}_checkpoint.pth"


def read_checkpoint(path: Path) -> Any:
    """torch.load on the CPU (memory-mapped when the file allows), with a clear error for unreadable files."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception:  # files from torch < 1.6 cannot be memory-mapped: read them whole
        pass
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # corrupt, truncated or not a torch file at all
        raise UserError(f"cannot read checkpoint {path} ({type(exc).__name__}): the file is damaged or not a "
                        f"PyTorch checkpoint; use another --epoch or retrain") from None


def saved_options(opt: argparse.Namespace) -> dict[str, Any] | None:
    """The training options inside the checkpoint chosen by opt (None when it is not a DLIM checkpoint)."""
    path = checkpoint_path(opt)
    if not path.exists():
        return None
    state = read_checkpoint(path)
    return state.get("options") if isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT else None


def rng_state(cuda_devices: list[int]) -> dict[str, Any]:
    """The state of every random generator in use, for exact resumption."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if cuda_devices:
        state["cuda"] = [torch.cuda.get_rng_state(d) for d in cuda_devices]
    return state


def set_rng_state(state: dict[str, Any], cuda_devices: list[int]) -> None:
    """Restore what rng_state() returned (CUDA states only onto the same number of devices)."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if cuda_devices and len(state.get("cuda", [])) == len(cuda_devices):
        for device, cuda_state in zip(cuda_devices, state["cuda"]):
            torch.cuda.set_rng_state(cuda_state, device)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
