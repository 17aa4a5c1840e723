"""Discriminators: PatchGAN (basic = 70x70), PixelGAN, pix2pixHD's multiscale PatchGAN and SESAME's discriminator.

Every discriminator is called as D(x) or D(x, features=True) on x = (input, output) stacked along channels.
D(x) gives one prediction map, or a list of them (one per scale) for the multiscale ones. With features=True, it
gives a list over scales of [intermediate features..., prediction map], which the feature-matching loss uses. A
DiscriminatorSet (--netD basic,projected) gives a dict of its members' outputs by name.
"""
from __future__ import annotations

import argparse
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from options.parser import REFUSE
from options.types import positive_int

from .checkpointing import checkpointed
from .norms import conv_bias, get_norm_layer


def _run(layers: nn.Sequential, x: torch.Tensor, features: bool) -> torch.Tensor | list[list[torch.Tensor]]:
    """Run a plain conv stack; with features, also keep the output of each activation."""
    if not features:
        return layers(x)
    outs = []
    for layer in layers:
        x = layer(x)
        if isinstance(layer, nn.LeakyReLU):
            outs.append(x)
    return [[*outs, x]]


class NLayerDiscriminator(nn.Module):
    """PatchGAN: a fully convolutional net whose every output judges one overlapping patch of the input."""

    grad_checkpoint = False  # recomputes its activations in backward (--grad_checkpoint)

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        norm_layer, bias = get_norm_layer(norm), conv_bias(norm)
        layers = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=bias),
                       norm_layer(ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, features: bool = False):
        return checkpointed(self, _run, self.model, x, features)


class PixelDiscriminator(nn.Module):
    """PixelGAN: 1x1 convolutions, each output judges one pixel."""

    grad_checkpoint = False  # recomputes its activations in backward (--grad_checkpoint)

    def __init__(self, input_nc: int, ndf: int = 64, norm: str = "batch"):
        super().__init__()
        norm_layer, bias = get_norm_layer(norm), conv_bias(norm)
        self.model = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias), norm_layer(ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias),
        )

    def forward(self, x: torch.Tensor, features: bool = False):
        return checkpointed(self, _run, self.model, x, features)


class SesameDiscriminator(nn.Module):
    """SESAME's discriminator at one scale (Ntavelis et al., ECCV 2020).

    The semantic input (the first `semantic_nc` channels) and the image (the rest) go through two conv streams of
    the same shape: a plain first conv, then `n_layers` spectral-normalised convs with instance norm, LeakyReLU 0.2
    throughout. Before the last conv, the image features f are fused with the semantic features s by
    f + f * sum_c(s), a projection-style product, then a last conv gives the patch map. The layer layout is the
    PatchGAN's, so with n_layers 3 each output sees a 70x70 patch, as with --netD basic.
    """

    grad_checkpoint = False  # recomputes its activations in backward (--grad_checkpoint)

    def __init__(self, semantic_nc: int, image_nc: int, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        self.semantic_nc = semantic_nc
        self.semantic = self._stream(semantic_nc, ndf, n_layers)
        self.image = self._stream(image_nc, ndf, n_layers)
        self.last = nn.Conv2d(ndf * min(2**n_layers, 8), 1, 4, stride=1, padding=1)

    @staticmethod
    def _stream(input_nc: int, ndf: int, n_layers: int) -> nn.Sequential:
        layers = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            conv = nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2 if n < n_layers else 1, padding=1, bias=False)
            layers += [spectral_norm(conv), nn.InstanceNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
        return nn.Sequential(*layers)

    @staticmethod
    def fuse(image_features: torch.Tensor, semantic_features: torch.Tensor) -> torch.Tensor:
        """f + f * (sum over channels of s): the semantic map scales the image features per position."""
        return image_features + image_features * semantic_features.sum(1, keepdim=True)

    def forward(self, x: torch.Tensor, features: bool = False):
        return checkpointed(self, self._predict, x, features)

    def _predict(self, x: torch.Tensor, features: bool):
        semantic, image = x[:, : self.semantic_nc], x[:, self.semantic_nc:]
        s = self.semantic(semantic)
        if features:
            activations = _run(self.image, image, features=True)[0][:-1]  # the stream ends with an activation
            return [[*activations, self.last(self.fuse(activations[-1], s))]]
        return self.last(self.fuse(self.image(image), s))


class MultiscaleDiscriminator(nn.Module):
    """pix2pixHD's multiscale discriminator: `num_D` discriminators on the input and on 2x, 4x, ... smaller copies.

    Copies are made by 3x3 average pooling with stride 2 (padding 1, padding not counted). Returns every scale's
    prediction map, full resolution first.
    """

    def __init__(self, make_discriminator: Callable[[], nn.Module], num_D: int = 2):
        super().__init__()
        self.scales = nn.ModuleList(make_discriminator() for _ in range(num_D))

    @staticmethod
    def downsample(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor, features: bool = False) -> list:
        outputs = []
        for i, net in enumerate(self.scales):
            if i:
                x = self.downsample(x)
            out = net(x, features=features)
            outputs += out if features else [out]
        return outputs


class DiscriminatorSet(nn.Module):
    """Several discriminators side by side (--netD basic,projected): each judges the same stacked pair, and
    D(x) is a dict of their outputs by name, whose losses the model adds and logs apart."""

    def __init__(self, nets: dict[str, nn.Module]):
        super().__init__()
        self.nets = nn.ModuleDict(nets)

    def forward(self, x: torch.Tensor, features: bool = False) -> dict:
        return {name: net(x, features=features) for name, net in self.nets.items()}


def _convs(net: nn.Module) -> list[nn.Conv2d]:
    """The convs that one output of a single-scale discriminator goes through, in order."""
    if isinstance(net, SesameDiscriminator):  # both streams have the image stream's shape
        net = nn.Sequential(net.image, net.last)
    return [m for m in net.modules() if isinstance(m, nn.Conv2d)]


def _conv_stack(net: nn.Module) -> list[tuple[int, int]]:
    """(kernel, stride) of those convs."""
    return [(m.kernel_size[0], m.stride[0]) for m in _convs(net)]


def _field(stack: list[tuple[int, int]]) -> int:
    rf, jump = 1, 1
    for k, s in stack:
        rf += (k - 1) * jump
        jump *= s
    return rf


def receptive_fields(net: nn.Module) -> list[int]:
    """Side in input pixels of the patch that one output sees, per scale (full resolution first)."""
    if isinstance(net, MultiscaleDiscriminator):
        return [_field([(3, 2)] * i + _conv_stack(d)) for i, d in enumerate(net.scales)]
    return [_field(_conv_stack(net))]


def receptive_field(net: nn.Module) -> int:
    """Side in pixels of the input patch that one output of a single-scale discriminator sees."""
    return receptive_fields(net)[0]


def _fits(net: nn.Module, side: int) -> bool:
    """Whether an input of this side leaves every normalised layer more than one value and the output at least one."""
    scales = net.scales if isinstance(net, MultiscaleDiscriminator) else [net]
    for i, d in enumerate(scales):
        size = side
        for _ in range(i):
            size = (size - 1) // 2 + 1  # 3x3 average pooling, stride 2, padding 1
        convs = _convs(d)
        for j, conv in enumerate(convs):
            size = (size + 2 * conv.padding[0] - conv.kernel_size[0]) // conv.stride[0] + 1
            if size < (1 if j == len(convs) - 1 else 2):
                return False
    return True


def min_input_side(net: nn.Module) -> int:
    """The smallest square input a discriminator can judge (deeper and more scales need larger images)."""
    if isinstance(net, DiscriminatorSet):
        return max(min_input_side(d) for d in net.nets.values())
    if hasattr(net, "min_input_side"):  # a network that knows its own (the projected discriminator)
        return net.min_input_side()
    return next(side for side in range(1, 1 << 16) if _fits(net, side))


def discriminator_size_multiple(net: nn.Module) -> int:
    """What a discriminator's image sides must be multiples of (OASIS's U-Net: 2^levels; most: 1)."""
    if isinstance(net, DiscriminatorSet):
        return max(discriminator_size_multiple(d) for d in net.nets.values())
    return getattr(net, "size_multiple", 1)


# the discriminators whose receptive fields the summary reports
DISCRIMINATOR_TYPES = (NLayerDiscriminator, PixelDiscriminator, SesameDiscriminator, MultiscaleDiscriminator)


def patch_options(g: argparse._ArgumentGroup) -> None:
    """The PatchGANs' depth (--netD n_layers, multiscale, sesame)."""
    g.add_argument("--n_layers_D", resume=REFUSE, type=positive_int, default=3,
                   help="layers of the n_layers, multiscale and sesame discriminators (3: 70x70 patches)")


def scales_options(g: argparse._ArgumentGroup) -> None:
    """How many scales a multiscale discriminator judges (--netD multiscale, sesame)."""
    g.add_argument("--num_D", resume=REFUSE, type=positive_int, default=2,
                   help="scales of the multiscale and sesame discriminators (each half the size of the last)")
