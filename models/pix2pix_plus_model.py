"""pix2pix with the training techniques of current systems, for better images at the same compute (a preset).

--model pix2pix_plus is --model pix2pix with these defaults (each can be given another value, or turned off):
- --ema 0.999: test.py and the demo translate with a moving average of G's weights (training/ema.py);
- --diffaug color,translation,cutout: D judges augmented pairs (DiffAugment; models/networks/diffaug.py);
- --upsample resize: G upsamples by nearest-neighbour resize + convolution, free of checkerboard artifacts.
Everything else is pix2pix's (the loss, the PatchGAN, L1 x 100, Adam, the schedule). pix2pixHD's multiscale D with
feature matching (--gan_mode hinge --netD multiscale --lambda_feat 10) combines with it but is not part of it: on
facades it gave no gain beyond the spread over seeds, for more compute. The recipe ablation of docs/experiments.md
(scripts/experiments/recipe.sh) measures each technique against upstream's defaults.
"""
from __future__ import annotations

import argparse

from .pix2pix_model import Pix2PixModel


class Pix2PixPlusModel(Pix2PixModel):
    """--model pix2pix_plus: pix2pix with an averaged generator, DiffAugment and resize upsampling."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser = Pix2PixModel.modify_commandline_options(parser, is_train)
        parser.set_defaults(upsample="resize")  # test.py takes the checkpoint's in any case
        if is_train:
            parser.set_defaults(ema=0.999, diffaug="color,translation,cutout")
        return parser
