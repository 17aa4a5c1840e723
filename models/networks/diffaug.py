"""Differentiable augmentation of the discriminator's inputs (DiffAugment, Zhao et al., NeurIPS 2020), for pairs.

D sees a label map A stacked with a photo B. Augmentations that move pixels (translation, cutout) move A and B
together, so that the pair stays aligned; colour changes apply to the photo channels only, since a label map's
colours are categories. Each operation is applied to each sample with probability p, its parameters drawn once per
call of `draw` and applied with `apply`, so that several batches can share one draw (the real and fake pairs that
feature matching compares). Everything is tensor arithmetic, differentiable with respect to the images.

Policies (comma-separated): color (brightness, saturation, contrast), translation (up to 1/8 of the side, zero
fill), cutout (one zeroed square of half the side).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def parse_policy(text: str) -> tuple[str, ...]:
    """'color,translation' -> ('color', 'translation'), 'none' (or '') -> (); a ValueError naming the unknown word."""
    words = tuple(w.strip().lower() for w in text.split(",") if w.strip())
    if words == ("none",):
        return ()
    unknown = [w for w in words if w not in POLICIES]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown[0]!r} (choose from {', '.join(POLICIES)}; or none alone)")
    return tuple(p for p in POLICIES if p in words)


@dataclass
class Draw:
    """One draw of parameters for a batch of n samples (None: the operation is not in the policy)."""

    brightness: torch.Tensor | None = None  # n x 1 x 1 x 1, added
    saturation: torch.Tensor | None = None  # n x 1 x 1 x 1, factor around the per-pixel channel mean
    contrast: torch.Tensor | None = None  # n x 1 x 1 x 1, factor around the image mean
    shift: torch.Tensor | None = None  # n x 2 (rows, columns), whole pixels
    cutout: torch.Tensor | None = None  # n x 1 x h x w mask, 0 inside the square


class PairAugment:
    """DiffAugment for stacked (A, B) images: `augment(AB)` draws and applies; the photo is channels [a_nc:]."""

    def __init__(self, policy: str | tuple[str, ...], p: float, a_nc: int):
        self.policy = parse_policy(policy) if isinstance(policy, str) else tuple(policy)
        self.p, self.a_nc = p, a_nc

    def __call__(self, AB: torch.Tensor) -> torch.Tensor:
        return self.apply(AB, self.draw(AB))

    def draw(self, x: torch.Tensor) -> Draw:
        n, _, h, w = x.shape
        device = x.device

        def chosen() -> torch.Tensor:  # which samples an operation applies to
            return (torch.rand(n, 1, 1, 1, device=device) < self.p).float()

        def uniform(low: float, high: float) -> torch.Tensor:
            return torch.rand(n, 1, 1, 1, device=device) * (high - low) + low

        d = Draw()
        if "color" in self.policy:
            d.brightness = uniform(-0.5, 0.5) * chosen()  # on [-1, 1] images, as DiffAugment's
            d.saturation = 1 + (uniform(0, 2) - 1) * chosen()
            d.contrast = 1 + (uniform(0.5, 1.5) - 1) * chosen()
        if "translation" in self.policy:
            limit = torch.tensor([int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)], device=device)
            shift = torch.floor(torch.rand(n, 2, device=device) * (2 * limit + 1)).long() - limit
            d.shift = shift * chosen().view(n, 1).long()
        if "cutout" in self.policy:
            d.cutout = _cutout_mask(n, h, w, device, chosen())
        return d

    def apply(self, x: torch.Tensor, d: Draw) -> torch.Tensor:
        if d.brightness is not None:
            a, b = x[:, : self.a_nc], x[:, self.a_nc:]
            b = b + d.brightness
            mean = b.mean(dim=1, keepdim=True)
            b = (b - mean) * d.saturation + mean
            mean = b.mean(dim=(1, 2, 3), keepdim=True)
            b = (b - mean) * d.contrast + mean
            x = torch.cat((a, b), 1)
        if d.shift is not None:
            x = _translate(x, d.shift)
        if d.cutout is not None:
            x = x * d.cutout.to(x.dtype)
        return x


def _translate(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Shift each sample by whole pixels (rows, columns), filling with zeros."""
    n, _, h, w = x.shape
    padded = F.pad(x, (1, 1, 1, 1))  # a zero border that out-of-range pixels read
    rows = (torch.arange(h, device=x.device)[None] - shift[:, :1]).clamp(-1, h) + 1  # n x h
    cols = (torch.arange(w, device=x.device)[None] - shift[:, 1:]).clamp(-1, w) + 1  # n x w
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)  # n x h x w x c -> n x c x h x w


def _cutout_mask(n: int, h: int, w: int, device: torch.device, chosen: torch.Tensor) -> torch.Tensor:
    """n x 1 x h x w: 0 inside a square of half the side centred anywhere in the image (for chosen samples)."""
    size_h, size_w = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    top = torch.randint(0, h + (1 - size_h % 2), (n, 1), device=device) - size_h // 2
    left = torch.randint(0, w + (1 - size_w % 2), (n, 1), device=device) - size_w // 2
    rows, cols = torch.arange(h, device=device)[None], torch.arange(w, device=device)[None]
    inside_rows = (rows >= top) & (rows < top + size_h)  # n x h
    inside_cols = (cols >= left) & (cols < left + size_w)  # n x w
    inside = inside_rows[:, None, :, None] & inside_cols[:, None, None, :]
    return 1 - inside.float() * chosen


def augmentation_policy(text: str) -> str:
    """argparse type: DiffAugment's comma-separated policy (color, translation, cutout), normalised."""
    try:
        return ",".join(parse_policy(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
