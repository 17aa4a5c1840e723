"""The one inference API: a trained generator loaded from any checkpoint (DLIM's full checkpoints, upstream's
weight files with the opt.json beside them, a pretrained model installed by scripts/download_pix2pix_model.sh) and
run as test.py runs it. test.py, export.py, demo.py and a user's own script all load and translate through it:

    from models.inference import Generator
    generator = Generator.load("facades_label2photo_pretrained")
    photo = generator("label_map.png")[0]      # an HxWx3 uint8 array, as large as the label map
"""
from __future__ import annotations

import argparse
import contextlib
import numbers
import os
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from data.image_folder import load_input
from data.transforms import Params, input_tensor, scaled_size
from util.errors import UserError, python_api
from util.images import to_8bit
from util.labels import LabelCoder
from util.palettes import resize_label_map
from util.seeding import preserved_rng, seed_everything
from util.util import tensor2im

from . import checkpoint, create_model


class Generator:
    """The generator of the checkpoint that test options name (--name, --checkpoints_dir, --epoch, --weights), in
    the mode test.py runs it (eval with --eval or for SPADE, else dropout and batch statistics on, as the pix2pix
    paper), reloaded when that file changes (a run training on)."""

    def __init__(self, opt: argparse.Namespace, weights_from_checkpoint: bool = True):
        self.opt = opt
        self.model = create_model(opt)
        self.model.setup()
        self.labels = LabelCoder(opt) if opt.label_nc else None  # class inputs: colours or ids -> one-hot
        if weights_from_checkpoint:
            self._load()

    @classmethod
    def of_run(cls, opt: argparse.Namespace) -> Generator:
        """A generator that takes its weights from a training run's network (use_weights), for the run's
        validation: test options `opt`, no checkpoint."""
        return cls(opt, weights_from_checkpoint=False)

    def use_weights(self, net: torch.nn.Module, weights: str) -> None:
        """Translate with a copy of `net`'s weights (G, or its moving average: `weights` 'raw' or 'ema')."""
        self.model.netG.load_state_dict(checkpoint.plain_state(net))
        self.weights = weights
        self._set_mode()

    @classmethod
    def load(cls, name: str, checkpoints_dir: str | Path = "./checkpoints", **options: Any) -> Generator:
        """The generator of experiment `name`; other test.py options as keywords (epoch="best", weights="raw",
        eval=True, gpu_ids="-1", ...). Bad arguments raise a ValueError."""
        from models.options import TestOptions

        argv = ["--name", str(name), "--checkpoints_dir", str(checkpoints_dir), "--dataroot", ""]
        for key, value in options.items():
            argv += [f"--{key}"] if value is True else [] if value is False else [f"--{key}", str(value)]
        with python_api():
            return cls(TestOptions().parse(argv))

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the generator's input: the crop size it was trained on (SPADE's --use_vae: the size
        its starting grid fixes)."""
        fixed = getattr(self.model.netG, "input_size", None)
        return (fixed[1], fixed[0]) if fixed else (self.opt.crop_size, self.opt.crop_size)

    @property
    def stochastic(self) -> bool:
        """Whether repeated generation from one input gives different outputs (dropout on, weight noise, a random
        style code or --noise_3d)."""
        return self.model.is_stochastic()

    def _load(self) -> None:
        self.found = checkpoint.find(self.opt, ["G"])
        self.weights = checkpoint.load_generator(self.model.netG, self.found, self.opt)  # 'ema' or 'raw'
        self.loaded = _stamp(self.found.path)
        self._set_mode()

    def _set_mode(self) -> None:
        if self.opt.eval:
            self.model.eval()
        else:
            self.model.train()  # the pix2pix paper keeps dropout and batch statistics on at test time

    def refresh(self) -> bool:
        """Reload the weights if the checkpoint file was rewritten since they were loaded; True if it was."""
        if not self.found.path.exists():
            raise UserError(f"checkpoint {self.found.path} is gone: load another checkpoint (its name and epoch)")
        if _stamp(self.found.path) == self.loaded:
            return False
        self._load()
        return True

    def generating(self) -> contextlib.AbstractContextManager:
        """Around a series of translations: the weights are cast (--amp) and laid out once for all of them."""
        return self.model.generating()

    def visuals(self, batch: dict, n_samples: int = 1) -> OrderedDict[str, torch.Tensor]:
        """The model's visuals (real_A, fake_B, real_B) for a batch of the data loader; with n_samples > 1, each
        output as <name>_1 .. <name>_K."""
        self.model.set_input(batch)
        samples = []
        with self.model.generating():
            for _ in range(n_samples):
                self.model.test()
                samples.append(self.model.get_current_visuals())
        visuals = OrderedDict()
        for name, tensor in samples[0].items():
            if n_samples > 1 and name in self.model.output_names:
                visuals.update((f"{name}_{k}", sample[name]) for k, sample in enumerate(samples, start=1))
            else:
                visuals[name] = tensor
        return visuals

    def translate(self, image: Image.Image, name: str, size: tuple[int, int] | None = None, n_samples: int = 1,
                  keep_gray: bool = False) -> list[np.ndarray]:
        """n_samples outputs (HxWx3 uint8; HxW for a 1-channel generator with keep_gray) for an input image read as
        the loaders read it (data.image_folder.load_input), resized to `size` (default: its own size, padded by
        reflection to what the generator needs and cropped back). `name` names it in errors."""
        real_A = input_tensor(image, name, Params(size=size or image.size, crop=None, flip=False), self.opt,
                              self.labels)
        self.model.set_input({"A": real_A[None], "A_paths": [name]})
        outputs = []
        with self.model.generating():
            for _ in range(n_samples):
                self.model.test()
                outputs.append(tensor2im(self.model.fake_B, keep_gray=keep_gray))
        return outputs

    def translate_file(self, path: str | os.PathLike, n_samples: int = 1, keep_gray: bool = False) -> list[np.ndarray]:
        """n_samples outputs for an image file, as test.py --input translates it: read as the loaders read it, at
        its own size (or scaled as --preprocess says, and the output scaled back), as large as the file."""
        image = load_input(str(path), self.labels)
        outputs = self.translate(image, str(path), scaled_size(self.opt, *image.size), n_samples, keep_gray)
        return [output if output.shape[1::-1] == image.size else
                np.asarray(Image.fromarray(output).resize(image.size, Image.BICUBIC)) for output in outputs]

    def __call__(self, label_map: np.ndarray | Image.Image | str | os.PathLike, n_samples: int = 1,
                 seed: int | None = None, keep_size: bool = False) -> list[np.ndarray]:
        """n_samples photos (HxWx3 uint8) for a label map: an image file's path (translated as test.py --input
        does: translate_file), an HxW or HxWxC (C = 1, 3 or 4) uint8 array, or a PIL image, read as the loaders read
        files (gray to RGB, alpha dropped; for a class-input generator a PIL image as stored: 16-bit and palette id
        maps, transparency); a seed makes the draws repeatable and leaves the caller's random generators (torch's,
        numpy's, python's) as they were. An array or image is resized (nearest) to the generator's training size,
        or with keep_size translated at its own size (padded by reflection to what the generator needs, the photo
        cropped back). Arguments of the wrong type or shape raise a ValueError."""
        if not (_is_integer(n_samples) and n_samples >= 1):
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        if seed is not None and not (_is_integer(seed) and 0 <= seed < 2**32):
            raise ValueError(f"seed must be an integer from 0 to 2**32 - 1, or None, got {seed!r}")
        n_samples, seed = int(n_samples), None if seed is None else int(seed)
        if isinstance(label_map, (str, os.PathLike)):
            self.refresh()
            with self._seeded(seed), self.generating():
                return self.translate_file(label_map, n_samples)
        stored = label_map if self.labels is not None and isinstance(label_map, Image.Image) else None
        label_map = as_rgb_array(label_map)
        self.refresh()
        if stored is not None:  # the classes as the file stores them, resized without mixing ids
            image = stored if keep_size else stored.resize(self.size, Image.NEAREST)
            image.format = stored.format  # how it was stored (a JPEG id map is refused)
        else:
            image = Image.fromarray(label_map if keep_size else resize_label_map(label_map, self.size))
        with self._seeded(seed):
            return self.translate(image, "the label map", n_samples=n_samples)

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
    """An HxWx3 uint8 array from what Generator() accepts; a ValueError that says what is expected otherwise."""
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
