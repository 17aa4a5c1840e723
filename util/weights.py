"""Reading PyTorch files without running code from them.

torch.load(weights_only=True) rebuilds tensors, numbers, strings, lists and dicts (and here numpy arrays, which
older checkpoints and torch-fidelity's caches hold), never arbitrary pickled objects, whose loading can run code
planted in the file. Every checkpoint, weights file and cache DLIM reads goes through this module.
"""
from __future__ import annotations

import pickle
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import UserError


def _numpy_globals() -> list:
    """What pickled numpy arrays need from numpy: building arrays of a dtype, nothing that runs other code."""
    multiarray = getattr(np, "_core", None) or np.core  # numpy 2 moved it
    return [np.ndarray, np.dtype, multiarray.multiarray._reconstruct,
            *{type(np.dtype(t)) for t in (np.uint8, np.uint32, np.int64, np.float32, np.float64, np.bool_)}]


def _refuse_hub_load(repo_or_dir: Any, *args: Any, **kwargs: Any) -> Any:
    raise UserError(f"refusing torch.hub.load({repo_or_dir!r}): it runs the code of a repository (downloaded, or "
                    f"cached under $TORCH_HOME/hub), which DLIM never does; use another feature extractor")


def _weights_only_state_dict_from_url(url: str, *args: Any, **kwargs: Any) -> Any:
    kwargs["weights_only"] = True
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.hub.load_state_dict_from_url(url, *args, **kwargs)
    except pickle.UnpicklingError as exc:
        raise UserError(refusal(f"the weights of {url} (downloaded or cached under $TORCH_HOME/hub/checkpoints)",
                                exc)) from None


class _WeightsOnlyHub:
    """torch.hub as load_weights_only_in() shows it: state dicts read weights only, repositories' code never run."""

    load = staticmethod(_refuse_hub_load)
    load_state_dict_from_url = staticmethod(_weights_only_state_dict_from_url)

    def __getattr__(self, name: str) -> Any:
        return getattr(torch.hub, name)


class _WeightsOnlyTorch:
    """torch as a library module sees it after load_weights_only_in(): everything as torch has it, except that
    load reads weights only (numpy arrays allowed) whatever its caller asks, and so does torch.hub."""

    hub = _WeightsOnlyHub()

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)

    @staticmethod
    def load(f: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs["weights_only"] = True
        try:
            with torch.serialization.safe_globals(_numpy_globals()):
                return torch.load(f, *args, **kwargs)
        except pickle.UnpicklingError as exc:
            if "GLOBAL" not in str(exc) and not (isinstance(f, (str, Path)) and _is_plain_pickle(f)):
                raise
            raise UserError(refusal(f, exc)) from None


def load_weights_only_in(*modules: types.ModuleType) -> None:
    """Make the torch.load, torch.hub and load_state_dict_from_url calls of these library modules read weights only
    (and never run a repository's code), for good: libraries that load their caches and weights with
    weights_only=False (torch-fidelity 0.3-0.4, torchvision's weight download) would otherwise run code planted in
    those files, whoever calls them (DLIM or a user's own script)."""
    for module in modules:
        if getattr(module, "torch", None) is torch:
            module.torch = _WeightsOnlyTorch()
        if hasattr(module, "load_state_dict_from_url"):
            module.load_state_dict_from_url = _weights_only_state_dict_from_url


def safe_load(path: str | Path, **kwargs: Any) -> Any:
    """torch.load(weights_only=True) on the CPU, numpy arrays allowed; a file that needs more raises a UserError
    saying why it is refused (other failures, such as a damaged file, raise as torch.load does)."""
    try:
        with torch.serialization.safe_globals(_numpy_globals()), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")  # a plain pickle: refused below
            return torch.load(path, map_location="cpu", weights_only=True, **kwargs)
    except pickle.UnpicklingError as exc:
        if "GLOBAL" not in str(exc) and not _is_plain_pickle(path):
            raise  # not a pickle of objects at all: a damaged or foreign file
        raise UserError(refusal(path, exc)) from None


def _is_plain_pickle(path: str | Path) -> bool:
    """Whether the file is a pickle stream of its own (not torch's zip format): protocol 2 to 5 opens with PROTO."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError:
        return False
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def refusal(path: str | Path, exc: Exception) -> str:
    """Why a file that weights-only loading rejects is not loaded, in one line."""
    what = next((line.strip() for line in str(exc).splitlines() if "GLOBAL" in line), "")
    detail = f" ({what[:160]})" if what else ""
    return (f"refusing to load {path}: it holds pickled Python objects, not only weights{detail}, and loading them "
            f"could run code planted in the file; DLIM loads tensors, numbers and strings only: use a checkpoint "
            f"written by train.py or a plain state dict of tensors")
