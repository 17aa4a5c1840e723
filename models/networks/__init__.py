"""Network registries (feeding argparse choices) and the define_G / define_D factories."""
from __future__ import annotations

import argparse
import copy
from argparse import Namespace
from dataclasses import dataclass
from typing import Callable

from torch import nn

from util.errors import UserError
from util.registry import OptionsAdder

from .checkpointing import set_grad_checkpoint
from .conv import frozen_weights, use_matrix_products
from .diffaug import PairAugment, augmentation_policy
from .discriminators import (
    DiscriminatorSet,
    MultiscaleDiscriminator,
    NLayerDiscriminator,
    PixelDiscriminator,
    SesameDiscriminator,
    discriminator_size_multiple,
    min_input_side,
    patch_options,
    receptive_field,
    receptive_fields,
    scales_options,
)
from .generators import UPSAMPLING, ResnetGenerator, UnetGenerator
from .losses import (
    GAN_LOSSES,
    GAN_MODE_ALIASES,
    GAN_MODES,
    RECONSTRUCTION_LOSSES,
    GANLoss,
    ReconstructionLoss,
    feature_matching_loss,
    gradient_penalty,
)
from .noise import forward_with_weight_noise
from .norms import INIT_TYPES, NORMS, init_weights
from .oasis import (
    NoiseInput,
    OASISDiscriminator,
    labelmix_loss,
    labelmix_mask,
    oasis_options,
    segmentation_loss,
)
from .padding import crop_box, fit_input, next_multiple, pad_to_multiple
from .perceptual import PERCEPTUAL_NETS, PerceptualLoss, define_perceptual_loss
from .projected import PROJECTED_BACKBONES, ProjectedDiscriminator, projected_options
from .spade import SPADE_DEPTHS, SPADEGenerator, check_trainable, spade_options
from .summary import count_parameters, describe, print_summary, write_summary


@dataclass(frozen=True)
class Network:
    """A registered network: what it is (one line, for --help), how to build it from the options, which options
    shape its weights (so that a checkpoint loads only into a network built with the same values), and the flags
    it owns (util.registry)."""

    description: str
    build: Callable[[Namespace], nn.Module]
    shape: tuple[str, ...]
    options: OptionsAdder | None = None


def _dropout(opt: Namespace) -> float | None:
    return None if opt.no_dropout else getattr(opt, "dropout_rate", 0.5)


def _upsample(opt: Namespace) -> str:
    return getattr(opt, "upsample", "transpose")  # checkpoints from before --upsample: upstream's layers


def _unet(num_downs: int) -> Network:
    return Network(f"pix2pix's U-Net, {num_downs} levels (sides: multiples of {2 ** num_downs})",
                   lambda opt: UnetGenerator(opt.input_nc, opt.output_nc, num_downs, ngf=opt.ngf, norm=opt.norm,
                                             dropout=_dropout(opt), upsample=_upsample(opt)),
                   shape=("ngf", "norm", "upsample", "no_dropout"))


def _resnet(n_blocks: int) -> Network:
    return Network(f"Johnson et al.'s ResNet, {n_blocks} residual blocks between two down- and upsamplings",
                   lambda opt: ResnetGenerator(opt.input_nc, opt.output_nc, n_blocks, ngf=opt.ngf, norm=opt.norm,
                                               dropout=_dropout(opt), upsample=_upsample(opt)),
                   shape=("ngf", "norm", "upsample", "no_dropout"))


def _spade(opt: Namespace) -> nn.Module:
    if getattr(opt, "is_train", False):  # before training starts: a starting grid its batch norm cannot train on
        check_trainable(opt.num_upsampling_layers, opt.crop_size, opt.batch_size, opt.image_aspect, opt.use_vae)
    return SPADEGenerator(opt.input_nc, opt.output_nc, ngf=opt.ngf, depth=opt.num_upsampling_layers,
                          use_vae=opt.use_vae, z_dim=opt.z_dim, crop_size=opt.crop_size, aspect=opt.image_aspect)


def _pair_nc(opt: Namespace) -> int:
    """Channels of what D sees: input and output stacked."""
    return opt.input_nc + opt.output_nc


GENERATORS: dict[str, Network] = {
    "unet_128": _unet(7),
    "unet_256": _unet(8),
    "resnet_6blocks": _resnet(6),
    "resnet_9blocks": _resnet(9),
    # SPADE's normalisation is parameter-free batch norm whatever --norm says (--norm shapes D)
    "spade": Network("SPADE's generator: the class map modulates every normalisation (--label_nc)", _spade,
                     shape=("ngf", "num_upsampling_layers", "use_vae", "z_dim"), options=spade_options),
}
DISCRIMINATORS: dict[str, Network] = {
    "basic": Network("the 70x70 PatchGAN", lambda opt: NLayerDiscriminator(_pair_nc(opt), opt.ndf, n_layers=3,
                                                                           norm=opt.norm), shape=("ndf", "norm")),
    "n_layers": Network("a PatchGAN of --n_layers_D layers", lambda opt: NLayerDiscriminator(
        _pair_nc(opt), opt.ndf, n_layers=opt.n_layers_D, norm=opt.norm), shape=("ndf", "n_layers_D", "norm"),
        options=(patch_options,)),
    "pixel": Network("judges single pixels (1x1 PatchGAN)", lambda opt: PixelDiscriminator(
        _pair_nc(opt), opt.ndf, norm=opt.norm), shape=("ndf", "norm")),
    "multiscale": Network("pix2pixHD's: --num_D PatchGANs of --n_layers_D layers, each at half the last's scale",
                          lambda opt: MultiscaleDiscriminator(lambda: NLayerDiscriminator(
                              _pair_nc(opt), opt.ndf, n_layers=opt.n_layers_D, norm=opt.norm), opt.num_D),
                          shape=("ndf", "n_layers_D", "num_D", "norm"), options=(patch_options, scales_options)),
    # SESAME's discriminator has no normalisation layers (spectral norm instead): --norm does not shape it
    "sesame": Network("SESAME's semantic-aware multiscale discriminator (spectral norm)",
                      lambda opt: MultiscaleDiscriminator(lambda: SesameDiscriminator(
                          opt.input_nc, opt.output_nc, opt.ndf, n_layers=opt.n_layers_D), opt.num_D),
                      shape=("ndf", "n_layers_D", "num_D"), options=(patch_options, scales_options)),
    "projected": Network("Projected GAN's: trained heads on a frozen ImageNet network's features at 4 resolutions, "
                         "mixed by fixed random projections, conditioned on the input by a projection term",
                         lambda opt: ProjectedDiscriminator(opt.input_nc, opt.output_nc, opt.ndf,
                                                            opt.projected_backbone, opt.projected_channels,
                                                            opt.projected_seed, opt.projected_size),
                         shape=("ndf", "projected_backbone", "projected_channels", "projected_seed",
                                "projected_size"),
                         options=projected_options),
    # OASIS's discriminator has no normalisation layers (spectral norm instead): --norm does not shape it
    "oasis": Network("OASIS's U-Net segmentation discriminator: each pixel of the photo is one of the --label_nc "
                     "classes or fake (class inputs only; --lambda_labelmix)",
                     lambda opt: OASISDiscriminator(opt.input_nc, opt.output_nc, opt.label_nc + int(opt.dontcare),
                                                    opt.ndf, opt.oasis_levels),
                     shape=("ndf", "oasis_levels", "label_nc", "dontcare"), options=oasis_options),
}
DISCRIMINATOR_ALIASES = {"sesam": "sesame"}  # the original DLIM project's spelling
NO_DISCRIMINATOR = "none"  # --netD none: train G on its reconstruction losses only
DISCRIMINATOR_CHOICES = [*sorted(DISCRIMINATORS), *DISCRIMINATOR_ALIASES, NO_DISCRIMINATOR]  # values of --netD


def discriminator_names(netD: str) -> list[str]:
    """The discriminators of a --netD value: one name, or several joined by commas (basic,projected)."""
    return [DISCRIMINATOR_ALIASES.get(name, name) for name in netD.split(",")]


def discriminator_list(value: str) -> str:
    """--netD's type: a registered discriminator, several joined by commas (their losses add), or none."""
    names = [name.strip() for name in value.split(",")]
    if "" in names:
        raise argparse.ArgumentTypeError(f"{value!r} has an empty name: remove the stray comma (e.g. basic,projected)")
    for name in names:
        if name not in DISCRIMINATOR_CHOICES:
            raise argparse.ArgumentTypeError(f"invalid choice: {name!r} (choose from {', '.join(DISCRIMINATOR_CHOICES)}"
                                             f", or several joined by commas, e.g. basic,projected)")
    canonical = [DISCRIMINATOR_ALIASES.get(name, name) for name in names]
    if len(canonical) > 1 and NO_DISCRIMINATOR in canonical:
        raise argparse.ArgumentTypeError(f"{value!r}: {NO_DISCRIMINATOR} cannot be one of several discriminators")
    if len(set(canonical)) < len(canonical):
        raise argparse.ArgumentTypeError(f"{value!r} names a discriminator twice: give each once")
    return ",".join(canonical)


# generators that run in eval mode at test time whatever --eval says: SPADE's (batch norm with running statistics,
# spectral norm without power iterations, so that a seed gives the same photo every time), as SPADE tests
EVAL_AT_TEST = {"spade"}


def evaluates_at_test(opt: Namespace) -> bool:
    """Whether G translates in eval mode at test time (--eval, or a generator of EVAL_AT_TEST)."""
    return bool(getattr(opt, "eval", False)) or opt.netG in EVAL_AT_TEST


def define_G(opt: Namespace) -> nn.Module:
    """Build and initialize the generator named by opt.netG (dropout layers unless opt.no_dropout); with
    opt.noise_3d Z, built for Z more input channels, which a NoiseInput fills with Gaussian noise."""
    z_dim = getattr(opt, "noise_3d", 0)
    if not z_dim:
        return init_weights(GENERATORS[opt.netG].build(opt), opt.init_type, opt.init_gain)
    if getattr(opt, "use_vae", False):
        given = "noise_3d" in getattr(opt, "explicit", ("noise_3d",))
        where = "" if given else f" (--model {getattr(opt, 'model', '')}'s default)"
        raise UserError(f"--noise_3d {z_dim}{where} and --use_vae are two sources of a generator's randomness: pass "
                        f"--noise_3d 0 to use --use_vae, or leave --use_vae out")
    wider = copy.copy(opt)
    wider.input_nc = opt.input_nc + z_dim
    return NoiseInput(init_weights(GENERATORS[opt.netG].build(wider), opt.init_type, opt.init_gain), z_dim)


def define_D(opt: Namespace) -> nn.Module:
    """Build and initialize the discriminator named by opt.netD (a DiscriminatorSet when it names several); each
    sees input and output stacked."""
    names = discriminator_names(opt.netD)
    unknown = [name for name in names if name not in DISCRIMINATORS]
    if unknown:
        raise ValueError(f"no discriminator network is called {unknown[0]!r}")
    nets = {name: init_weights(DISCRIMINATORS[name].build(opt), opt.init_type, opt.init_gain) for name in names}
    return nets[names[0]] if len(names) == 1 else DiscriminatorSet(nets)


def shape_options(net: str, options: dict) -> tuple[str, ...]:
    """The options that shape net G or D as `options` (a checkpoint's, say) build it: its name, the channels
    and what its registry entries declare."""
    if net == "G":
        spec = GENERATORS.get(options.get("netG"))
        return ("netG", "input_nc", "output_nc", "noise_3d", *(spec.shape if spec else ()))
    specs = [DISCRIMINATORS.get(name) for name in discriminator_names(str(options.get("netD")))]
    shapes = [option for spec in specs if spec for option in spec.shape]
    return ("netD", "input_nc", "output_nc", *dict.fromkeys(shapes))


def discriminator_uses_batch_norm(opt: Namespace) -> bool:
    """Whether D has batch-norm layers (mixing the samples of a batch, which a gradient penalty must not)."""
    specs = [DISCRIMINATORS.get(name) for name in discriminator_names(opt.netD)]
    return opt.norm == "batch" and any(spec is not None and "norm" in spec.shape for spec in specs)


__all__ = [
    "DISCRIMINATORS", "DISCRIMINATOR_ALIASES", "DISCRIMINATOR_CHOICES", "GAN_LOSSES", "GAN_MODE_ALIASES",
    "GAN_MODES", "GENERATORS", "INIT_TYPES", "NORMS", "NO_DISCRIMINATOR", "PERCEPTUAL_NETS", "PROJECTED_BACKBONES",
    "RECONSTRUCTION_LOSSES", "SPADE_DEPTHS", "UPSAMPLING",
    "DiscriminatorSet", "GANLoss", "Network", "NoiseInput", "OASISDiscriminator", "labelmix_loss",
    "labelmix_mask", "segmentation_loss", "PairAugment", "PerceptualLoss", "ProjectedDiscriminator",
    "ReconstructionLoss", "SPADEGenerator",
    "augmentation_policy", "count_parameters", "define_D", "define_G", "define_perceptual_loss", "describe",
    "discriminator_list", "discriminator_names", "discriminator_size_multiple", "discriminator_uses_batch_norm",
    "evaluates_at_test", "print_summary", "shape_options", "write_summary",
    "frozen_weights", "set_grad_checkpoint", "use_matrix_products",
    "feature_matching_loss", "forward_with_weight_noise", "gradient_penalty", "init_weights", "min_input_side",
    "receptive_field", "receptive_fields", "crop_box", "fit_input", "next_multiple", "pad_to_multiple",
]
