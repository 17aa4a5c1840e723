"""The original DLIM project's adversarial-losses model: pix2pix with SPADE's choice of GAN losses (a preset)."""
from __future__ import annotations

import argparse

from .pix2pix_model import Pix2PixModel


class AdversarialLossesModel(Pix2PixModel):
    """--model adversarial_losses --gan_mode original|ls|hinge|w|wgangp; hinge (SPADE's default) unless given.

    Every gan_mode also works with --model pix2pix; this preset only changes the default.
    """

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser = Pix2PixModel.modify_commandline_options(parser, is_train)
        if is_train:
            parser.set_defaults(gan_mode="hinge")
        return parser
