"""The original DLIM project's perceptual model, pix2pix with SPADE's VGG19 perceptual loss in place of L1: a preset."""
from __future__ import annotations

import argparse

from .pix2pix_model import Pix2PixModel


class PerceptualModel(Pix2PixModel):
    """--model perceptual: lambda_perceptual 10 and lambda_L1 0 by default; everything else is pix2pix.

    Train offline with --perceptual_net efficientnet_lite0; keep L1 as well with --lambda_L1 100.
    """

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser = Pix2PixModel.modify_commandline_options(parser, is_train)
        if is_train:
            parser.set_defaults(lambda_perceptual=10.0, lambda_L1=0.0)
        return parser
