"""Inputs of any size for generators that need sides divisible by a number (a U-Net with 8 levels: 256).

The input is padded by reflection, as evenly as possible on both sides, up to the next multiple, and the output is
cropped back to the input's size: the network sees a mirrored continuation of the picture at its borders, not a
constant that it would translate into a frame. Reflection cannot reach farther than the picture itself (a 10-pixel
image padded to 256), so larger paddings mirror in several rounds, and a side of one pixel is repeated.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def next_multiple(side: int, multiple: int) -> int:
    """The smallest multiple of `multiple` that is at least `side` (and at least `multiple`)."""
    return max(multiple, -(-side // multiple) * multiple)


def pad_to_multiple(x: torch.Tensor, multiple: int,
                    minimum: int = 1) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """x (NxCxHxW) padded by reflection to sides that are multiples of `multiple` and at least `minimum`, and the
    (top, left, height, width) box of x inside the result, for `crop_box`."""
    h, w = x.shape[-2:]
    extra_h, extra_w = (next_multiple(max(side, minimum), multiple) - side for side in (h, w))
    top, left = extra_h // 2, extra_w // 2
    bottom, right = extra_h - top, extra_w - left
    while top or bottom or left or right:
        cur_h, cur_w = x.shape[-2:]
        step = [min(left, cur_w - 1), min(right, cur_w - 1), min(top, cur_h - 1), min(bottom, cur_h - 1)]
        if max(step) == 0:  # a side of one pixel: nothing to mirror, repeat it
            step = [left, right, top, bottom]
            x = F.pad(x, step, mode="replicate")
        else:
            x = F.pad(x, step, mode="reflect")
        left, right, top, bottom = (need - done for need, done in zip((left, right, top, bottom), step))
    return x, (extra_h // 2, extra_w // 2, h, w)


def crop_box(x: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    """The (top, left, height, width) box of x's last two dimensions."""
    top, left, h, w = box
    return x[..., top:top + h, left:left + w]


def fit_input(net: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """x padded to sides the generator `net` takes (its size_multiple and min_side), and the box of x in it."""
    return pad_to_multiple(x, getattr(net, "size_multiple", 1), getattr(net, "min_side", 1))
