"""Perceptual loss as in SPADE: L1 between deep features of a frozen ImageNet network, weighted per layer."""
from __future__ import annotations

import argparse
from typing import Callable

import torch
from torch import nn

from util.backbones import EfficientNetLite0Features, ImageNetNormalize, VGG19Features

# SPADE's layer weights, shallow to deep
LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)


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
        self.imagenet = ImageNetNormalize()
        self.train(False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        """Always eval: batch-norm statistics and dropout of the loss network never change."""
        return super().train(False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images (gray or RGB) -> ImageNet-normalised RGB."""
        if x.size(1) == 1:
            x = x.expand(-1, 3, -1, -1)
        return self.imagenet((x + 1) / 2)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        fake_features = self.features(self.normalize(fake))
        with torch.no_grad():
            real_features = self.features(self.normalize(real))
        return sum(w * nn.functional.l1_loss(f.float(), r.float())  # features may be bf16/fp16 under --amp
                   for w, f, r in zip(self.weights, fake_features, real_features))


def define_perceptual_loss(opt: argparse.Namespace) -> PerceptualLoss:
    """The perceptual loss on the network named by opt.perceptual_net."""
    return PerceptualLoss(PERCEPTUAL_NETS[opt.perceptual_net](opt))
