"""Adversarial losses by name (as in SPADE's GANLoss), and the WGAN-GP gradient penalty.

A discriminator may return one prediction map, a list of them (one per scale), or a list of per-scale lists of
features whose last entry is the prediction; losses are averaged over the scales. Several discriminators side by side
(a DiscriminatorSet) return a dict of such outputs by name: the model takes each one's loss apart (by_discriminator).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable, Union

import torch
import torch.nn.functional as F
from torch import nn

from options.parser import APPLY, RUN_ALWAYS
from options.types import nonnegative_float
from util.registry import OptionsAdder

from .perceptual import PERCEPTUAL_NETS, define_perceptual_loss

Prediction = Union[torch.Tensor, list, dict]


def _original(pred: torch.Tensor, real: bool, for_discriminator: bool) -> torch.Tensor:
    """Cross-entropy GAN; the generator uses the non-saturating form (it maximises log D(G(A)))."""
    return F.binary_cross_entropy_with_logits(pred, torch.full_like(pred, float(real)))


def _least_squares(pred: torch.Tensor, real: bool, for_discriminator: bool) -> torch.Tensor:
    """LSGAN: squared distance to 1 (real) or 0 (fake)."""
    return F.mse_loss(pred, torch.full_like(pred, float(real)))


def _hinge(pred: torch.Tensor, real: bool, for_discriminator: bool) -> torch.Tensor:
    """Hinge: D pays relu(1 - D(real)) and relu(1 + D(fake)); G minimises -D(fake)."""
    if not for_discriminator:
        return -pred.mean()
    return F.relu(1 - pred).mean() if real else F.relu(1 + pred).mean()


def _wasserstein(pred: torch.Tensor, real: bool, for_discriminator: bool) -> torch.Tensor:
    """Wasserstein critic: D maximises D(real) - D(fake); G minimises -D(fake)."""
    return -pred.mean() if real or not for_discriminator else pred.mean()


@dataclass(frozen=True)
class GANMode:
    """A --gan_mode: what it is (for --help), its loss(prediction, target_is_real, for_discriminator), its flags."""

    description: str
    loss: Callable[[torch.Tensor, bool, bool], torch.Tensor]
    options: OptionsAdder | None = None


def gradient_penalty_options(g: argparse._ArgumentGroup) -> None:
    """The gradient penalty's weight (--gan_mode wgangp sets its default)."""
    g.add_argument("--lambda_gp", resume=APPLY, type=nonnegative_float, default=None,
                   help="weight of the WGAN-GP gradient penalty on D (default: 10 with --gan_mode wgangp, else 0)")


GAN_LOSSES: dict[str, GANMode] = {
    "vanilla": GANMode("the original cross-entropy GAN (upstream pix2pix's default)", _original),
    "lsgan": GANMode("least squares", _least_squares),
    "hinge": GANMode("hinge loss (SPADE's)", _hinge),
    "w": GANMode("Wasserstein critic, unconstrained", _wasserstein),
    "wgangp": GANMode("Wasserstein critic with a gradient penalty on D (--lambda_gp)", _wasserstein,
                      gradient_penalty_options),
}
GAN_MODE_ALIASES = {"original": "vanilla", "ls": "lsgan"}  # the original DLIM project's names
GAN_MODES = {**GAN_LOSSES, **{alias: GAN_LOSSES[name] for alias, name in GAN_MODE_ALIASES.items()}}  # --gan_mode


def by_discriminator(prediction: Prediction) -> dict[str, Prediction]:
    """A discriminator's output by member name: {"": output} for a single discriminator."""
    return prediction if isinstance(prediction, dict) else {"": prediction}


def final_outputs(prediction: Prediction) -> list[torch.Tensor]:
    """The prediction maps of a discriminator's output: one per scale (of every member of a set)."""
    if isinstance(prediction, torch.Tensor):
        return [prediction]
    if isinstance(prediction, dict):
        return [p for member in prediction.values() for p in final_outputs(member)]
    return [p[-1] if isinstance(p, (list, tuple)) else p for p in prediction]


class GANLoss(nn.Module):
    """Adversarial loss of one mode, for the discriminator (real or fake target) or for the generator."""

    def __init__(self, mode: str = "vanilla"):
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"unknown gan_mode {mode!r}; choose from {', '.join(GAN_MODES)}")
        self.mode = mode
        self.loss = GAN_MODES[mode].loss

    def forward(self, prediction: Prediction, target_is_real: bool, for_discriminator: bool = True) -> torch.Tensor:
        """Mean loss over each output map, averaged over the discriminator's scales."""
        if not for_discriminator and not target_is_real:
            raise ValueError("the generator's loss always targets 'real'")
        outputs = final_outputs(prediction)
        return sum(self.loss(p, target_is_real, for_discriminator) for p in outputs) / len(outputs)


def gradient_penalty(net_d: Callable[[torch.Tensor], Prediction], real: torch.Tensor,
                     fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al., 2017): mean over samples of (||grad_x D(x)|| - 1)^2 at random interpolates.

    D(x) of one sample is the mean of its prediction map (as the losses use it), averaged over scales.
    """
    alpha = torch.rand(real.size(0), *[1] * (real.dim() - 1), device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    outputs = final_outputs(net_d(mixed))
    score = sum(o.flatten(1).mean(1).sum() for o in outputs) / len(outputs)
    (grad,) = torch.autograd.grad(score, mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def feature_matching_loss(fake: list | dict, real: list | dict) -> torch.Tensor:
    """pix2pixHD's discriminator feature matching: L1 between D's intermediate features on fake and on real
    (detached), summed over layers and averaged over scales (added over the members of a set). Both are
    D(x, features=True) outputs."""
    if isinstance(fake, dict):
        return sum(feature_matching_loss(fake[name], real[name]) for name in fake)
    total = 0.0
    for fake_scale, real_scale in zip(fake, real):
        for f, r in zip(fake_scale[:-1], real_scale[:-1]):  # the last entry is the prediction map
            total = total + F.l1_loss(f, r.detach())
    return total / len(fake)


@dataclass(frozen=True)
class ReconstructionLoss:
    """A loss of G's output against the target photo: what it is (for --help), the option that weighs it (0: off,
    the loss is not even built), how to build it from the options (a module called as loss(fake_B, real_B)),
    whether it runs under --amp, and its flags. The model adds each one whose weight is positive, as G_<name>."""

    description: str
    weight: str
    build: Callable[[argparse.Namespace], nn.Module]
    autocast: bool = False
    options: OptionsAdder | None = None


def l1_options(g: argparse._ArgumentGroup) -> None:
    """The L1 loss's weight."""
    g.add_argument("--lambda_L1", resume=APPLY, type=nonnegative_float, default=100.0, help="weight of the L1 loss")


def perceptual_options(g: argparse._ArgumentGroup) -> None:
    """The perceptual loss's weight and network."""
    g.add_argument("--lambda_perceptual", resume=APPLY, type=nonnegative_float, default=0.0,
                   help="weight of the perceptual (deep-feature) loss; --model perceptual sets 10")
    g.add_argument("--perceptual_net", resume=APPLY, default="vgg19", choices=sorted(PERCEPTUAL_NETS),
                   help="ImageNet network of the perceptual loss: vgg19 (SPADE's; downloads its weights once) "
                        "or efficientnet_lite0 (weights come with its pip package, works offline)")
    g.add_argument("--vgg_weights", default=None, metavar="PATH", run=RUN_ALWAYS,
                   help="local copy of torchvision's vgg19-dcbb9e9d.pth (default: $TORCH_HOME/hub/checkpoints/, "
                        "downloaded there when missing)")


RECONSTRUCTION_LOSSES: dict[str, ReconstructionLoss] = {
    "L1": ReconstructionLoss("mean absolute difference to the target (pix2pix's)", "lambda_L1",
                             lambda opt: nn.L1Loss(), options=l1_options),
    "perceptual": ReconstructionLoss("L1 between a frozen ImageNet network's features of output and target "
                                     "(--perceptual_net)", "lambda_perceptual", define_perceptual_loss,
                                     autocast=True, options=perceptual_options),
}
