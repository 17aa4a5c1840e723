"""Weight noise: run a network with fresh Gaussian noise on its convolution weights (a stochastic generator).

A U-Net's 54 M weights need 54 M Gaussian draws per pass. On a GPU that is one kernel; on a CPU, torch's generator
draws one number at a time on one core, which cost more than the rest of a training step. So on CPUs the draws are
split into fixed-size parts, each with its own generator seeded from torch's global one, filled in parallel threads:
the noise depends on the seed only, not on the number of threads, and a resumed run (which restores the global
generator) draws the same noise.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import nn
from torch.func import functional_call

PART = 1 << 22  # Gaussians per generator on the CPU (4 M: 54 M weights make 13 parts)
_pool: ThreadPoolExecutor | None = None


def gaussians(count: int, device: torch.device) -> torch.Tensor:
    """`count` standard Gaussians, drawn from torch's global generator (on the CPU through per-part generators
    seeded from it, in parallel)."""
    if device.type != "cpu":
        return torch.randn(count, device=device)
    global _pool
    parts = max(1, math.ceil(count / PART))
    seeds = torch.randint(0, 2**62, (parts,)).tolist()
    out = torch.empty(count)
    if _pool is None:
        _pool = ThreadPoolExecutor(max(1, torch.get_num_threads()), thread_name_prefix="weight-noise")
    chunks = out.split(PART)
    list(_pool.map(lambda i: chunks[i].normal_(generator=torch.Generator().manual_seed(seeds[i])), range(parts)))
    return out


def noisy_weights(net: nn.Module, std: float) -> dict[str, torch.Tensor]:
    """Every conv / transposed-conv weight plus Gaussian noise of `std` times that weight's own spread.

    Relative noise treats layers of very different scales alike. The sums stay in the autograd graph, so
    training through them updates the clean weights.
    """
    weights = {f"{name}.weight" if name else "weight": module.weight for name, module in net.named_modules()
               if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d))}
    if not weights:
        return {}
    first = next(iter(weights.values()))
    noise = gaussians(sum(w.numel() for w in weights.values()), first.device).to(first.dtype)
    noisy, start = {}, 0
    for name, w in weights.items():
        n = noise[start:start + w.numel()].view_as(w)
        start += w.numel()
        noisy[name] = torch.addcmul(w, n, std * w.detach().std())  # w + n * (std * spread), in one pass
    return noisy


def forward_with_weight_noise(net: nn.Module, x: torch.Tensor, std: float) -> torch.Tensor:
    """net(x) with freshly drawn noisy weights; the network's own weights are not changed."""
    return functional_call(net, noisy_weights(net, std), (x,), strict=False)
