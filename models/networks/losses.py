"""Adversarial losses by name: the discriminator's real/fake targets, and what the generator minimises."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _vanilla(pred: torch.Tensor, real: bool) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(pred, torch.full_like(pred, float(real)))


def _lsgan(pred: torch.Tensor, real: bool) -> torch.Tensor:
    return F.mse_loss(pred, torch.full_like(pred, float(real)))


GAN_MODES = {"vanilla": _vanilla, "lsgan": _lsgan}


class GANLoss(nn.Module):
    """Adversarial loss of one mode: how far D's prediction is from calling the input real (or fake)."""

    def __init__(self, mode: str = "vanilla"):
        super().__init__()
        self.mode = mode
        self.loss = GAN_MODES[mode]

    def forward(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        return self.loss(prediction, target_is_real)
