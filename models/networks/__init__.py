"""Network registries (feeding argparse choices) and the define_G / define_D factories."""
from __future__ import annotations

import functools
from argparse import Namespace
from typing import Callable

from torch import nn

from .conv import frozen_weights, use_matrix_products
from .discriminators import (
    MultiscaleDiscriminator,
    NLayerDiscriminator,
    PixelDiscriminator,
    SesameDiscriminator,
    min_input_side,
    receptive_field,
    receptive_fields,
)
from .generators import ResnetGenerator, UnetGenerator
from .losses import GAN_MODES, GANLoss, feature_matching_loss, gradient_penalty
from .noise import forward_with_weight_noise
from .norms import INIT_TYPES, NORMS, init_weights
from .perceptual import PERCEPTUAL_NETS, PerceptualLoss, define_perceptual_loss

GENERATORS: dict[str, Callable[..., nn.Module]] = {
    "unet_128": functools.partial(UnetGenerator, num_downs=7),
    "unet_256": functools.partial(UnetGenerator, num_downs=8),
    "resnet_6blocks": functools.partial(ResnetGenerator, n_blocks=6),
    "resnet_9blocks": functools.partial(ResnetGenerator, n_blocks=9),
}

DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {
    "basic": lambda input_nc, opt: NLayerDiscriminator(input_nc, opt.ndf, n_layers=3, norm=opt.norm),
    "n_layers": lambda input_nc, opt: NLayerDiscriminator(input_nc, opt.ndf, n_layers=opt.n_layers_D, norm=opt.norm),
    "pixel": lambda input_nc, opt: PixelDiscriminator(input_nc, opt.ndf, norm=opt.norm),
    "multiscale": lambda input_nc, opt: MultiscaleDiscriminator(
        lambda: NLayerDiscriminator(input_nc, opt.ndf, n_layers=opt.n_layers_D, norm=opt.norm), opt.num_D),
    "sesame": lambda input_nc, opt: MultiscaleDiscriminator(
        lambda: SesameDiscriminator(opt.input_nc, opt.output_nc, opt.ndf, n_layers=opt.n_layers_D), opt.num_D),
}
DISCRIMINATOR_ALIASES = {"sesam": "sesame"}  # the seed's spelling
NO_DISCRIMINATOR = "none"  # --netD none: train G on its reconstruction losses only
DISCRIMINATOR_CHOICES = [*sorted(DISCRIMINATORS), *DISCRIMINATOR_ALIASES, NO_DISCRIMINATOR]  # values of --netD


def define_G(opt: Namespace) -> nn.Module:
    """Build and initialize the generator named by opt.netG (dropout layers unless opt.no_dropout)."""
    dropout = None if opt.no_dropout else getattr(opt, "dropout_rate", 0.5)
    net = GENERATORS[opt.netG](opt.input_nc, opt.output_nc, ngf=opt.ngf, norm=opt.norm, dropout=dropout)
    return init_weights(net, opt.init_type, opt.init_gain)


def define_D(opt: Namespace) -> nn.Module:
    """Build and initialize the discriminator named by opt.netD; it sees input and output stacked."""
    if opt.netD not in DISCRIMINATORS:
        raise ValueError(f"no discriminator network is called {opt.netD!r}")
    net = DISCRIMINATORS[opt.netD](opt.input_nc + opt.output_nc, opt)
    return init_weights(net, opt.init_type, opt.init_gain)


def count_parameters(net: nn.Module) -> int:
    """Number of parameters (trainable or not) of a network."""
    return sum(p.numel() for p in net.parameters())


__all__ = [
    "DISCRIMINATORS", "DISCRIMINATOR_ALIASES", "DISCRIMINATOR_CHOICES", "GAN_MODES", "GENERATORS", "INIT_TYPES",
    "NORMS", "NO_DISCRIMINATOR", "PERCEPTUAL_NETS",
    "GANLoss", "PerceptualLoss", "count_parameters", "define_D", "define_G", "define_perceptual_loss",
    "frozen_weights", "use_matrix_products",
    "feature_matching_loss", "forward_with_weight_noise", "gradient_penalty", "init_weights", "min_input_side",
    "receptive_field", "receptive_fields",
]
