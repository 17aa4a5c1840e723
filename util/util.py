"""Tensor <-> image conversion, atomic image saving, the run's device."""
from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

from .fileio import atomic_path


def run_device(gpu_ids: list[int]) -> torch.device:
    """The device a run computes on: the first of --gpu_ids, else the CPU."""
    return torch.device(f"cuda:{gpu_ids[0]}") if gpu_ids else torch.device("cpu")


def tensor2im(image: torch.Tensor, keep_gray: bool = False) -> np.ndarray:
    """First image of a [-1, 1] batch (or a single CHW image) as an HxWx3 uint8 array; gray is tiled to RGB, or
    with keep_gray an HxW array (saved as a 1-channel image)."""
    if image.dim() == 4:
        image = image[0]
    array = image.detach().float().cpu().clamp(-1, 1).numpy()
    if array.shape[0] == 1 and keep_gray:
        return np.round((array[0] + 1.0) / 2.0 * 255.0).astype(np.uint8)
    if array.shape[0] == 1:
        array = np.tile(array, (3, 1, 1))
    array = (np.transpose(array[:3], (1, 2, 0)) + 1.0) / 2.0 * 255.0
    return np.round(array).astype(np.uint8)


def save_image(array: np.ndarray, path: str | os.PathLike, aspect_ratio: float = 1.0) -> None:
    """Save an HxWx3 (or HxW gray) uint8 array atomically; aspect_ratio > 1 widens, < 1 heightens (bicubic)."""
    img = Image.fromarray(array)
    h, w = array.shape[:2]
    if aspect_ratio > 1.0:
        img = img.resize((int(w * aspect_ratio), h), Image.BICUBIC)
    elif aspect_ratio < 1.0:
        img = img.resize((w, int(h / aspect_ratio)), Image.BICUBIC)
    fmt = Image.registered_extensions().get(os.path.splitext(str(path))[1].lower(), "PNG")
    with atomic_path(path) as tmp:
        img.save(tmp, format=fmt)


def options_to_dict(opt) -> dict:
    """Options as JSON-friendly values (inf becomes the string 'inf')."""
    return {k: "inf" if isinstance(v, float) and v == float("inf") else v for k, v in vars(opt).items()
            if not k.startswith("_")}
