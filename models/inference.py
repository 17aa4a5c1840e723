"""A trained generator as a function from label maps to photos, with test.py's preprocessing and sampling."""
from __future__ import annotations

import argparse
import contextlib
import numbers
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from data.transforms import Params, input_tensor
from util.errors import UserError
from util.images import to_8bit
from util.labels import LabelCoder
from util.palettes import resize_label_map
from util.seeding import preserved_rng, seed_everything
from util.util import tensor2im

from . import checkpoint, create_model


class Translator:
    """The generator of the checkpoint that test options name, reloaded when that file changes (training on)."""

    def __init__(self, opt: argparse.Namespace):
        self.opt = opt
        self.label = checkpoint.checkpoint_label(opt)
        self.model = create_model(opt)
        self.model.setup()
        self.labels = LabelCoder(opt) if opt.label_nc else None  # class inputs: colours -> one-hot
        self._load()

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the generator's input: the crop size it was trained on (SPADE's --use_vae: the size
        its starting grid fixes)."""
        fixed = getattr(self.model.netG, "input_size", None)
        return (fixed[1], fixed[0]) if fixed else (self.opt.crop_size, self.opt.crop_size)

    @property
    def stochastic(self) -> bool:
        """Whether repeated generation from one label map gives different photos (dropout on, weight noise)."""
        return self.model.is_stochastic()

    def _load(self) -> None:
        found = checkpoint.find(self.opt, ["G"])
        self.weights = checkpoint.load_generator(self.model.netG, found, self.opt)  # 'ema' or 'raw'
        self.progress, self.path = found.progress, found.path
        self.loaded = _stamp(found.path)
        if self.opt.eval:
            self.model.eval()
        else:
            self.model.train()  # as test.py: the pix2pix paper keeps dropout and batch statistics at test time

    def refresh(self) -> bool:
        """Reload the weights if the checkpoint file was rewritten since they were loaded; True if it was."""
        if not self.path.exists():
            raise UserError(f"checkpoint {self.path} is gone: load another checkpoint (its name and epoch)")
        if _stamp(self.path) == self.loaded:
            return False
        self._load()
        return True

    def __call__(self, label_map: np.ndarray | Image.Image, n_samples: int = 1,
                 seed: int | None = None, keep_size: bool = False) -> list[np.ndarray]:
        """n_samples photos (HxWx3 uint8) for a label map: an HxW or HxWxC (C = 1, 3 or 4) uint8 array, or a PIL
        image, read as the loaders read files (gray to RGB, alpha dropped; for a class-input generator a PIL image
        as stored: 16-bit and palette id maps, transparency); a seed makes the draws repeatable and leaves the
        caller's random generators (torch's, numpy's, python's) as they were.
        The map is resized (nearest) to the generator's training size, or with keep_size translated at its own
        size (padded by reflection to what the generator needs, the photo cropped back).
        Arguments of the wrong type or shape raise a ValueError."""
        stored = label_map if self.labels is not None and isinstance(label_map, Image.Image) else None
        label_map = as_rgb_array(label_map)
        if not (_is_integer(n_samples) and n_samples >= 1):
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        if seed is not None and not (_is_integer(seed) and 0 <= seed < 2**32):
            raise ValueError(f"seed must be an integer from 0 to 2**32 - 1, or None, got {seed!r}")
        n_samples, seed = int(n_samples), None if seed is None else int(seed)
        self.refresh()
        if stored is not None:  # the classes as the file stores them, resized without mixing ids
            image = stored if keep_size else stored.resize(self.size, Image.NEAREST)
            image.format = stored.format  # how it was stored (a JPEG id map is refused)
        else:
            image = Image.fromarray(label_map if keep_size else resize_label_map(label_map, self.size))
        real_A = input_tensor(image, "the label map", Params(size=image.size, crop=None, flip=False), self.opt,
                              self.labels)
        self.model.set_input({"A": real_A[None], "A_paths": ["label map"]})
        photos = []
        with self._seeded(seed), self.model.generating():
            for _ in range(n_samples):
                self.model.test()
                photos.append(tensor2im(self.model.fake_B))
        return photos

    @contextlib.contextmanager
    def _seeded(self, seed: int | None) -> Iterator[None]:
        """A block that draws from the seed as test.py does, then gives the caller back its random states; without
        a seed it draws from the caller's generators."""
        if seed is None:
            yield
            return
        with preserved_rng(self.opt.gpu_ids):
            seed_everything(seed)
            yield


def as_rgb_array(label_map: Any) -> np.ndarray:
    """An HxWx3 uint8 array from what Translator accepts; a ValueError that says what is expected otherwise."""
    if isinstance(label_map, Image.Image):
        try:
            return np.asarray(to_8bit(label_map, "label_map").convert("RGB"))
        except UserError as exc:
            raise ValueError(str(exc)) from None
    if not isinstance(label_map, np.ndarray):
        raise ValueError(f"label_map must be a numpy array (HxW or HxWxC uint8, C = 1, 3 or 4) or a PIL image, "
                         f"got {type(label_map).__name__}")
    if label_map.dtype != np.uint8:
        raise ValueError(f"label_map must hold uint8 values 0..255, got dtype {label_map.dtype}: convert it, e.g. "
                         f"np.round(x * 255).astype(np.uint8) for colours in 0..1, or pass class ids of any integer "
                         f"type as a PIL image, Image.fromarray(ids)")
    shape = label_map.shape
    if not (label_map.ndim == 2 or (label_map.ndim == 3 and shape[2] in (1, 3, 4))) or 0 in shape:
        raise ValueError(f"label_map must be HxW or HxWxC with C = 1, 3 or 4 channels, got shape {shape}")
    if label_map.ndim == 2:
        label_map = label_map[:, :, None]
    if label_map.shape[2] == 1:
        label_map = np.repeat(label_map, 3, axis=2)
    return np.ascontiguousarray(label_map[:, :, :3])


def _is_integer(value: Any) -> bool:
    """A whole number: int or numpy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size
