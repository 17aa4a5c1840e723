"""OASIS's segmentation discriminator (Schönfeld, Sushko et al., You Only Need Adversarial Supervision for Semantic
Image Synthesis, ICLR 2021), its class-balanced loss, LabelMix, and the 3D noise input of its generator.

D is a U-Net that segments a photo into the label_nc classes plus one "fake" class (index 0), at every pixel:
- its loss on real photos is the cross-entropy to their label map (class c -> index c + 1), each pixel weighted by
  the inverse frequency of its class in the batch, so that small classes count as much as large ones; on generated
  photos it is the cross-entropy to "fake" everywhere. G's adversarial loss is the real-photo loss on its own
  photos: each pixel must be recognised as the class the label map asks for there, a per-pixel, per-class signal;
- LabelMix (--lambda_labelmix) mixes a real and a generated photo by the label map (each class region taken from one
  or the other at random) and asks D's logits on the mix to be the same mix of its logits on the two photos;
- the label map D is taught with is the input side of the (augmented) pair it is given, so DiffAugment's translation
  and cutout move it with the photo; pixels left with no class (zero fill) and the --dontcare class weigh nothing.

The generator's 3D noise (--noise_3d Z): a Z-dimensional Gaussian vector per image, repeated at every pixel, is
concatenated to the one-hot label map (as OASIS's code does), so that one label map gives different photos.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from options.parser import APPLY, REFUSE
from options.types import nonnegative_float, positive_int

from .checkpointing import checkpointed

WIDTHS = (1, 1, 2, 2, 4, 4)  # OASIS's encoder widths (128, 128, 256, 256, 512, 512 at --ndf 128), per level


def oasis_options(g: argparse._ArgumentGroup) -> None:
    """The segmentation discriminator's depth and the weight of LabelMix."""
    g.add_argument("--oasis_levels", resume=REFUSE, type=positive_int, default=6,
                   help="levels of --netD oasis's U-Net, each halving the side (6, OASIS's: sides multiples of 64)")
    g.add_argument("--lambda_labelmix", resume=APPLY, type=nonnegative_float, default=0.0,
                   help="weight of LabelMix, the consistency of --netD oasis on real and generated photos mixed by "
                        "the label map (OASIS's 10; --model oasis sets it)")


def _conv(in_nc: int, out_nc: int, kernel: int = 3) -> nn.Module:
    return spectral_norm(nn.Conv2d(in_nc, out_nc, kernel, padding=kernel // 2))


class ResBlock(nn.Module):
    """OASIS's residual block of D: two 3x3 convs after LeakyReLU (no activation first in the first block), a 1x1
    shortcut when the width changes, then a 2x down- or upsampling of both paths (or neither)."""

    def __init__(self, in_nc: int, out_nc: int, resample: str = "", first: bool = False):
        super().__init__()
        self.resample, self.first = resample, first
        self.conv1, self.conv2 = _conv(in_nc, out_nc), _conv(out_nc, out_nc)
        self.shortcut = _conv(in_nc, out_nc, 1) if in_nc != out_nc else nn.Identity()

    def _resample(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample == "up":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        return F.avg_pool2d(x, 2) if self.resample == "down" else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample == "up":
            x = self._resample(x)
        h = x if self.first else F.leaky_relu(x, 0.2)
        h = self.conv2(F.leaky_relu(self.conv1(h), 0.2))
        s = self.shortcut(x)
        if self.resample == "down":
            h, s = self._resample(h), self._resample(s)
        return h + s


class OASISDiscriminator(nn.Module):
    """U-Net segmentation discriminator on the photo part of (label map, photo): logits for 1 + label_nc classes at
    every pixel (index 0: fake; label_nc counts --dontcare's class). Spectral norm on every conv, no normalisation
    layers, as OASIS. Image sides must be multiples of 2^levels (size_multiple)."""

    grad_checkpoint = False  # recomputes its activations in backward (--grad_checkpoint)

    def __init__(self, input_nc: int, output_nc: int, label_nc: int, ndf: int = 64, levels: int = 6):
        super().__init__()
        self.input_nc = input_nc
        widths = [ndf * WIDTHS[min(i, len(WIDTHS) - 1)] for i in range(levels)]
        self.down = nn.ModuleList(ResBlock(output_nc if i == 0 else widths[i - 1], widths[i], "down", first=i == 0)
                                  for i in range(levels))
        # up block k takes the last block's output (with level levels-1-k's features beside it, but for the first)
        ups = []
        for k in range(levels):
            level = levels - 1 - k
            in_nc = widths[level] * (1 if k == 0 else 2)
            ups.append(ResBlock(in_nc, widths[max(level - 1, 0)], "up"))
        self.up = nn.ModuleList(ups)
        self.classify = _conv(widths[0], label_nc + 1, 1)
        self.levels = levels
        self.size_multiple = 2 ** levels

    def forward(self, x: torch.Tensor, features: bool = False):
        return checkpointed(self, self._segment, x[:, self.input_nc:], features)

    def _segment(self, photo: torch.Tensor, features: bool):
        skips, x = [], photo
        for block in self.down:
            x = block(x)
            skips.append(x)
        outs = []
        for k, block in enumerate(self.up):
            x = block(x if k == 0 else torch.cat((x, skips[self.levels - 1 - k]), 1))
            outs.append(x)
        logits = self.classify(x)
        return [[*outs, logits]] if features else logits

    def min_input_side(self) -> int:
        return 2 ** self.levels


def class_targets(labels: torch.Tensor, dontcare: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(N x H x W targets: class c -> c + 1, N x H x W per-pixel class-balancing weights) of one-hot label maps.

    A class's weight is numel / (classes present x class count) as in OASIS, computed over the batch; pixels with no
    class (all-zero one-hot, e.g. DiffAugment's fill) and the --dontcare class (the last channel) weigh 0."""
    labels = labels.float()
    present = labels.sum(1) > 0.5
    counts = labels.sum((0, 2, 3))
    if dontcare:
        counts[-1] = 0
    classes = (counts > 0).sum().clamp(min=1)
    weights = torch.where(counts > 0, present.sum() / (classes * counts.clamp(min=1)), torch.zeros_like(counts))
    ids = labels.argmax(1)
    return ids + 1, weights[ids] * present


def segmentation_loss(logits: torch.Tensor, labels: torch.Tensor, real: bool, dontcare: bool = False) -> torch.Tensor:
    """OASIS's adversarial loss: class-balanced cross-entropy to the label map (real, and G's loss), or to the fake
    class at every pixel that has a class (D on generated photos)."""
    targets, weights = class_targets(labels, dontcare)
    if not real:
        targets, weights = torch.zeros_like(targets), (weights > 0).float()
    pixels = F.cross_entropy(logits.float(), targets, reduction="none")
    return (pixels * weights).sum() / weights.numel()


def labelmix_mask(labels: torch.Tensor) -> torch.Tensor:
    """N x 1 x H x W: each class region of each label map taken (1) from the real photo or (0) the generated one,
    by a fair coin per class and image."""
    ids = labels.argmax(1, keepdim=True)
    coins = torch.randint(0, 2, (labels.size(0), labels.size(1)), device=labels.device)
    return torch.gather(coins, 1, ids.flatten(1)).view_as(ids).float()


def labelmix_loss(mixed: torch.Tensor, real: torch.Tensor, fake: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """LabelMix consistency: D's logits on the mixed photo against the same mix of its logits on the two photos."""
    return F.mse_loss(mixed.float(), (mask * real + (1 - mask) * fake).float())


class NoiseInput(nn.Module):
    """A generator whose input gets `z_dim` Gaussian channels, one vector per image repeated over the pixels (OASIS's
    3D noise): the wrapped network was built for input_nc + z_dim channels. Attributes not found here are the
    wrapped network's (size_multiple, input_size, ...)."""

    def __init__(self, net: nn.Module, z_dim: int):
        super().__init__()
        self.net, self.z_dim = net, z_dim

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("net"), name)

    def forward(self, x: torch.Tensor, *args, z: torch.Tensor | None = None, **kwargs):
        """G(x) with fresh noise, or with the given noise vectors z (N x z_dim; an exported file takes them)."""
        if z is None:
            z = torch.randn(x.size(0), self.z_dim, device=x.device, dtype=x.dtype)
        z = z.to(x.dtype).view(x.size(0), self.z_dim, 1, 1).expand(-1, -1, *x.shape[-2:])
        return self.net(torch.cat((x, z), 1), *args, **kwargs)
