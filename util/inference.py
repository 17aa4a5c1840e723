"""A trained generator as a function from label maps to photos, with test.py's preprocessing and sampling."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from data.transforms import Params, apply
from models import create_model
from models.checkpoint import checkpoint_label, seed_everything
from util.errors import UserError
from util.palettes import resize_label_map
from util.util import tensor2im


class Translator:
    """The generator of the checkpoint that test options name, reloaded when that file changes (training on)."""

    def __init__(self, opt: argparse.Namespace):
        self.opt = opt
        self.label = checkpoint_label(opt)
        self.model = create_model(opt)
        self.model.setup()
        self._load()

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the generator's input: the crop size it was trained on."""
        return self.opt.crop_size, self.opt.crop_size

    @property
    def stochastic(self) -> bool:
        """Whether repeated generation from one label map gives different photos (dropout on, weight noise)."""
        return self.model.is_stochastic()

    def _file(self) -> Path:
        full = self.model.checkpoint_path(self.label)
        upstream = self.model.save_dir / f"{self.label}_net_G.pth"
        return upstream if not full.exists() and upstream.exists() else full

    def _load(self) -> None:
        self.progress = self.model.load_checkpoint(self.label, nets_only=True)
        self.loaded = _stamp(self._file())
        if self.opt.eval:
            self.model.eval()
        else:
            self.model.train()  # as test.py: the pix2pix paper keeps dropout and batch statistics at test time

    def refresh(self) -> bool:
        """Reload the weights if the checkpoint file was rewritten since they were loaded; True if it was."""
        path = self._file()
        if not path.exists():
            raise UserError(f"checkpoint {path} is gone: pick another checkpoint, or restart the demo with an "
                            f"existing --name/--epoch")
        if _stamp(path) == self.loaded:
            return False
        self._load()
        return True

    def __call__(self, label_map: np.ndarray, n_samples: int = 1, seed: int | None = None) -> list[np.ndarray]:
        """n_samples photos (HxWx3 uint8) for an HxWx3 uint8 label map; a seed makes the draws repeatable."""
        self.refresh()
        image = Image.fromarray(resize_label_map(label_map, self.size))
        real_A = apply(image, Params(size=image.size, crop=None, flip=False), self.opt, self.opt.input_nc)
        self.model.set_input({"A": real_A[None], "A_paths": ["label map"]})
        if seed is not None:
            seed_everything(seed)
        photos = []
        with self.model.generating():
            for _ in range(n_samples):
                self.model.test()
                photos.append(tensor2im(self.model.fake_B))
        return photos


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size
