"""Preprocessing shared by A and B: one set of random crop/flip parameters applied to both.

`apply` works on a decoded PIL image (the plain loader); `apply_to_tensor` does the same on uint8 tensors already
in memory (--cache_dataset), giving the same pixels: the resize is torchvision's PIL-compatible antialiased bicubic
(at most 1 grey level apart from PIL's, on a fraction of a percent of the pixels), crop and flip are exact.
"""
from __future__ import annotations

import random
from argparse import Namespace
from dataclasses import dataclass

import numpy as np
import torch
import torchvision.transforms.functional as TF
import torchvision.transforms.v2.functional as TF2
from PIL import Image

from util.labels import LabelCoder

PREPROCESS_MODES = ["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"]


@dataclass(frozen=True)
class Params:
    """Where to resize, crop and whether to flip, drawn once per sample."""

    size: tuple[int, int]  # (width, height) after resizing
    crop: tuple[int, int] | None  # top-left (x, y) of the crop
    flip: bool


def scaled_size(opt: Namespace, w: int, h: int) -> tuple[int, int]:
    """The (width, height) an image of size (w, h) is resized to before cropping (no randomness)."""
    if opt.preprocess == "resize_and_crop":
        return opt.load_size, opt.load_size
    if opt.preprocess.startswith("scale_width"):
        return opt.load_size, max(opt.crop_size, round(opt.load_size * h / w))
    if opt.preprocess == "none" and opt.is_train:  # networks downsample: keep sides a multiple of 4, as upstream
        return max(4, round(w / 4) * 4), max(4, round(h / 4) * 4)
    return w, h


def get_params(opt: Namespace, size: tuple[int, int], rng: random.Random) -> Params:
    """Draw the resize/crop/flip parameters for an image of size (w, h)."""
    new_w, new_h = scaled_size(opt, *size)
    crop = None
    if "crop" in opt.preprocess:
        crop = (rng.randint(0, max(0, new_w - opt.crop_size)), rng.randint(0, max(0, new_h - opt.crop_size)))
    flip = opt.is_train and not opt.no_flip and rng.random() > 0.5
    return Params((new_w, new_h), crop, flip)


def transform(img: Image.Image, params: Params, opt: Namespace, resample: int) -> Image.Image:
    """Resize (with `resample`), crop and flip a PIL image as `params` say."""
    if img.size != params.size:
        img = img.resize(params.size, resample)
    if params.crop is not None:
        x, y = params.crop
        img = img.crop((x, y, x + min(opt.crop_size, img.width), y + min(opt.crop_size, img.height)))
    return TF.hflip(img) if params.flip else img


def apply(img: Image.Image, params: Params, opt: Namespace, channels: int) -> torch.Tensor:
    """Resize (bicubic), crop, flip, and map to a [-1, 1] tensor with `channels` channels."""
    if channels == 1:
        img = img.convert("L")
    tensor = TF.to_tensor(transform(img, params, opt, Image.BICUBIC))
    return tensor * 2.0 - 1.0


def apply_ids(ids: np.ndarray, params: Params, opt: Namespace) -> torch.Tensor:
    """`apply` for class ids (an HxW uint8 array): resized by nearest neighbour (no class is made up between two
    others), cropped and flipped as the photo; an HxW uint8 tensor."""
    img = transform(Image.fromarray(ids), params, opt, Image.NEAREST)
    return torch.from_numpy(np.array(img, np.uint8))


def input_tensor(img: Image.Image, path: str, params: Params, opt: Namespace,
                 labels: LabelCoder | None) -> torch.Tensor:
    """The network input of an input-side image (as data.image_folder.load_input reads it from `path`): with
    `labels` (--label_nc) the classes of the label map one-hot, resized by nearest neighbour (a map that is no label
    map of those classes, e.g. a photo, is a UserError naming the path), else its pixels as `apply` makes them."""
    if labels is None:
        return apply(img, params, opt, opt.input_nc)
    return labels.one_hot(apply_ids(labels.class_ids(img, path)[0], params, opt))


def apply_to_tensor(images: torch.Tensor, params: list[Params], opt: Namespace, ids: bool = False) -> torch.Tensor:
    """`apply` for a batch of same-sized uint8 images (BxCxHxW, any device): resize, crop, flip, map to [-1, 1].
    Class ids (ids=True) are resized by nearest neighbour and stay uint8 ids."""
    size = params[0].size
    if images.shape[-1] != size[0] or images.shape[-2] != size[1]:
        mode = TF2.InterpolationMode.NEAREST_EXACT if ids else TF2.InterpolationMode.BICUBIC  # PIL's nearest
        images = TF2.resize(images, [size[1], size[0]], interpolation=mode, antialias=not ids)
    out = []
    for img, p in zip(images, params):
        if p.crop is not None:
            x, y = p.crop
            img = img[:, y:y + opt.crop_size, x:x + opt.crop_size]
        if p.flip:
            img = img.flip(-1)
        out.append(img)
    if ids:
        return torch.stack(out)
    return torch.stack(out).float().div_(255).mul_(2.0).sub_(1.0)
