"""Weight noise: run a network with fresh Gaussian noise on its convolution weights (a stochastic generator)."""
from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call


def noisy_weights(net: nn.Module, std: float) -> dict[str, torch.Tensor]:
    """Every conv / transposed-conv weight plus Gaussian noise of `std` times that weight's own spread.

    Relative noise treats layers of very different scales alike. The sums stay in the autograd graph, so
    training through them updates the clean weights.
    """
    noisy = {}
    for name, module in net.named_modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            w = module.weight
            noisy[f"{name}.weight" if name else "weight"] = w + torch.randn_like(w) * (std * w.detach().std())
    return noisy


def forward_with_weight_noise(net: nn.Module, x: torch.Tensor, std: float) -> torch.Tensor:
    """net(x) with freshly drawn noisy weights; the network's own weights are not changed."""
    return functional_call(net, noisy_weights(net, std), (x,), strict=False)
