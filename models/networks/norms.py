"""Normalization layers by name and weight initialization by name."""
from __future__ import annotations

import functools
from typing import Callable

from torch import nn
from torch.nn.utils import parametrize

NORMS: dict[str, Callable[[int], nn.Module]] = {
    "batch": functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True),
    "instance": functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False),
    "none": lambda num_features: nn.Identity(),
}


def get_norm_layer(norm: str) -> Callable[[int], nn.Module]:
    """Return a constructor `norm_layer(num_features)` for the named normalization."""
    return NORMS[norm]


def conv_bias(norm: str) -> bool:
    """Whether convs before a norm layer get a bias: only with instance norm, as upstream (so its weights load)."""
    return norm == "instance"


def _init_normal(w, gain):
    nn.init.normal_(w, 0.0, gain)


def _init_xavier(w, gain):
    nn.init.xavier_normal_(w, gain=gain)


def _init_kaiming(w, gain):
    nn.init.kaiming_normal_(w, a=0, mode="fan_in")


def _init_orthogonal(w, gain):
    nn.init.orthogonal_(w, gain=gain)


INIT_TYPES = {"normal": _init_normal, "xavier": _init_xavier, "kaiming": _init_kaiming, "orthogonal": _init_orthogonal}


def init_weights(net: nn.Module, init_type: str = "normal", init_gain: float = 0.02) -> nn.Module:
    """Initialize conv/linear weights by `init_type`; batch-norm weights ~ N(1, gain), biases 0."""
    init_fn = INIT_TYPES[init_type]
    for m in net.modules():
        if parametrize.is_parametrized(m, "weight"):  # e.g. spectral norm: initialise the raw weight
            weight = m.parametrizations.weight.original
        else:
            weight = getattr(m, "weight", None)
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            init_fn(weight, init_gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and weight is not None:
            nn.init.normal_(weight, 1.0, init_gain)
            nn.init.zeros_(m.bias)
    return net
