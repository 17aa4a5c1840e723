"""Perceptual loss as in SPADE: L1 between deep features of a frozen ImageNet network, weighted per layer."""
from __future__ import annotations

import argparse
from typing import Callable

import torch
from torch import nn

from .backbones import IMAGENET_MEAN, IMAGENET_STD, efficientnet_lite0, vgg19_features

# SPADE's layer weights, shallow to deep
LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


class VGG19Features(nn.Module):
    """VGG19 activations relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1."""

    BOUNDS = (2, 7, 12, 21, 30)  # module indices in torchvision's vgg19().features ending each slice

    def __init__(self, weights: str | None = None):
        super().__init__()
        features = vgg19_features(weights, layers=self.BOUNDS[-1])
        starts = (0, *self.BOUNDS[:-1])
        self.slices = nn.ModuleList(features[a:b] for a, b in zip(starts, self.BOUNDS))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for stage in self.slices:
            x = stage(x)
            out.append(x)
        return out


class EfficientNetLite0Features(nn.Module):
    """EfficientNet-Lite0 activations at strides 2, 4, 8, 16 and 32 (the last block of each resolution)."""

    TAPS = (0, 2, 4, 10, 15)  # block indices

    def __init__(self):
        super().__init__()
        net = efficientnet_lite0()
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = net._blocks[: self.TAPS[-1] + 1]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        out = []
        for i, block in enumerate(self.blocks):
            x = block(x)  # no drop-connect: the network stays in eval mode
            if i in self.TAPS:
                out.append(x)
        return out


def _vgg19(opt: argparse.Namespace) -> nn.Module:
    return VGG19Features(opt.vgg_weights)


def _lite0(opt: argparse.Namespace) -> nn.Module:
    return EfficientNetLite0Features()


# --perceptual_net NAME -> feature network returning five feature maps, shallow to deep
PERCEPTUAL_NETS: dict[str, Callable[[argparse.Namespace], nn.Module]] = {
    "vgg19": _vgg19,
    "efficientnet_lite0": _lite0,
}


class PerceptualLoss(nn.Module):
    """sum_i w_i * L1(f_i(fake), f_i(real)) on a frozen network f; images in [-1, 1], 1 or 3 channels.

    Gradients flow to `fake` only: the network's weights are frozen and the target's features are detached.
    The network is not a model net, so it is neither optimised nor saved in checkpoints.
    """

    def __init__(self, features: nn.Module, weights: tuple[float, ...] = LAYER_WEIGHTS):
        super().__init__()
        self.features = features.requires_grad_(False)
        self.weights = weights
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.train(False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        """Always eval: batch-norm statistics and dropout of the loss network never change."""
        return super().train(False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images (gray or RGB) -> ImageNet-normalised RGB."""
        if x.size(1) == 1:
            x = x.expand(-1, 3, -1, -1)
        return ((x + 1) / 2 - self.mean) / self.std

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        fake_features = self.features(self.normalize(fake))
        with torch.no_grad():
            real_features = self.features(self.normalize(real))
        return sum(w * nn.functional.l1_loss(f.float(), r.float())  # features may be bf16/fp16 under --amp
                   for w, f, r in zip(self.weights, fake_features, real_features))


def define_perceptual_loss(opt: argparse.Namespace) -> PerceptualLoss:
    """The perceptual loss on the network named by opt.perceptual_net."""
    return PerceptualLoss(PERCEPTUAL_NETS[opt.perceptual_net](opt))
