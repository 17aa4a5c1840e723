"""The original DLIM project's stochastic model: pix2pix whose generator stays random at test time (a preset).

Dropout stays active at test time even with --eval (batch norm then uses its running statistics), at the rate
--dropout_rate; --weight_noise adds fresh noise to the generator's weights at each forward pass instead of, or
on top of, dropout. test.py --n_samples K writes K outputs per input.
"""
from __future__ import annotations

import argparse

from torch import nn

from util.errors import warn

from .pix2pix_model import Pix2PixModel


class StochasticModel(Pix2PixModel):
    """--model stochastic: eval() keeps the generator's dropout layers sampling."""

    def __init__(self, opt: argparse.Namespace):
        super().__init__(opt)
        if (opt.no_dropout or opt.dropout_rate == 0) and opt.weight_noise == 0:
            warn("--model stochastic without dropout (--no_dropout or --dropout_rate 0) or --weight_noise: the "
                 "generator is deterministic")

    def eval(self) -> None:
        super().eval()
        for module in self.netG.modules():
            if isinstance(module, nn.Dropout):
                module.train()
