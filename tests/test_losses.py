"""Adversarial losses against hand-computed values, multi-scale averaging, and the WGAN-GP gradient penalty."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from models.networks import GAN_MODES, GANLoss, gradient_penalty

# D's prediction map for one image: three patches scoring -1, 0 and 2
PRED = torch.tensor([-1.0, 0.0, 2.0]).view(1, 1, 1, 3)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


# (D on real, D on fake, G), worked out by hand from each mode's definition
EXPECTED = {
    # cross-entropy: -log sigmoid(x) = softplus(-x) for real, -log(1 - sigmoid(x)) = softplus(x) for fake
    "original": ((softplus(1) + softplus(0) + softplus(-2)) / 3, (softplus(-1) + softplus(0) + softplus(2)) / 3,
                 (softplus(1) + softplus(0) + softplus(-2)) / 3),
    # least squares: (x - 1)^2 for real: 4, 1, 1; x^2 for fake: 1, 0, 4
    "ls": (6 / 3, 5 / 3, 6 / 3),
    # hinge: relu(1 - x) = 2, 1, 0; relu(1 + x) = 0, 1, 3; G: -mean(x)
    "hinge": (3 / 3, 4 / 3, -1 / 3),
    # Wasserstein: D minimises mean D(fake) - mean D(real); G: -mean(x)
    "w": (-1 / 3, 1 / 3, -1 / 3),
}
ALIASES = {"vanilla": "original", "lsgan": "ls", "wgangp": "w"}


@pytest.mark.parametrize("mode", [*EXPECTED, *ALIASES])
def test_discriminator_and_generator_losses_match_hand_computed_values(mode):
    d_real, d_fake, g = EXPECTED[ALIASES.get(mode, mode)]
    loss = GANLoss(mode)
    assert loss(PRED, True).item() == pytest.approx(d_real, abs=1e-6)
    assert loss(PRED, False).item() == pytest.approx(d_fake, abs=1e-6)
    assert loss(PRED, True, for_discriminator=False).item() == pytest.approx(g, abs=1e-6)


def test_every_mode_name_is_tested():
    assert set(GAN_MODES) == set(EXPECTED) | set(ALIASES)


@pytest.mark.parametrize("mode", sorted(GAN_MODES))
def test_losses_average_over_the_scales_of_a_multiscale_discriminator(mode):
    loss = GANLoss(mode)
    small = torch.tensor([0.5, -0.25]).view(1, 1, 1, 2)
    for real, for_d in [(True, True), (False, True), (True, False)]:
        expected = (loss(PRED, real, for_d) + loss(small, real, for_d)) / 2
        assert torch.allclose(loss([PRED, small], real, for_d), expected)
        # with intermediate features per scale, only the last entry (the prediction) counts
        features = [[torch.full((1, 4, 2, 2), 9.0), PRED], [torch.full((1, 4, 1, 1), -9.0), small]]
        assert torch.allclose(loss(features, real, for_d), expected)


def test_the_generator_loss_always_targets_real():
    with pytest.raises(ValueError, match="generator"):
        GANLoss("hinge")(PRED, False, for_discriminator=False)


def test_the_hinge_discriminator_ignores_confident_answers():
    loss = GANLoss("hinge")
    assert loss(torch.full((1, 1, 2, 2), 3.0), True) == 0 and loss(torch.full((1, 1, 2, 2), -3.0), False) == 0


class LinearCritic(nn.Module):
    """D(x) = w * x per pixel: the gradient of a sample's mean score is w / P at each of its P pixels."""

    def __init__(self, w: float, scales: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1, bias=False)
        nn.init.constant_(self.conv.weight, w)
        self.scales = scales

    def forward(self, x):
        out = self.conv(x)
        return out if self.scales == 1 else [out] * self.scales


@pytest.mark.parametrize("w,penalty", [(4.0, 1.0), (2.0, 0.0), (8.0, 9.0)])
@pytest.mark.parametrize("scales", [1, 2])
def test_gradient_penalty_matches_hand_computed_value(w, penalty, scales):
    # 2x2 images: ||grad|| = sqrt(P) * w / P = w / 2, penalty (w / 2 - 1)^2, whatever the interpolation
    real, fake = torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2)
    gp = gradient_penalty(LinearCritic(w, scales), real, fake)
    assert gp.item() == pytest.approx(penalty, abs=1e-5)


def test_gradient_penalty_trains_the_critic_towards_unit_gradients():
    critic = LinearCritic(4.0)
    gp = gradient_penalty(critic, torch.randn(2, 1, 2, 2), torch.randn(2, 1, 2, 2))
    gp.backward()
    assert critic.conv.weight.grad.item() > 0  # lowering w lowers the gradient norm towards 1
