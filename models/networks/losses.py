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
    """Adversarial loss of one mode; accepts one prediction or a list (one per discriminator scale)."""

    def __init__(self, mode: str = "vanilla"):
        super().__init__()
        self.mode = mode
        self.loss = GAN_MODES[mode]

    def forward(self, prediction: torch.Tensor | list, target_is_real: bool) -> torch.Tensor:
        if isinstance(prediction, (list, tuple)):
            losses = [self.forward(p[-1] if isinstance(p, (list, tuple)) else p, target_is_real) for p in prediction]
            return torch.stack(losses).mean()
        return self.loss(prediction, target_is_real)
