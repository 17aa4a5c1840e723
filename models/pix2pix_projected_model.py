"""pix2pix_plus judged also through a frozen ImageNet network's eyes (a preset): the best RGB-input recipe on facades.

--model pix2pix_projected is --model pix2pix_plus (EMA, DiffAugment, resize upsampling) with two discriminators side by
side, their losses added: pix2pix's pixel-space PatchGAN, and Projected GAN's discriminator on frozen
EfficientNet-Lite1 features (--netD basic,projected; networks/projected.py), which sees the photo resized to 224 px
on its shorter side (--projected_size 224, ImageNet's scale: better than the photo's own size on 128 px facades and
256 px Cityscapes maps, where 448 px was worse). The PatchGAN judges local detail against the input, the projected
one judges what ImageNet features see in the photo. Each can be changed (--netD projected alone,
--projected_backbone, --projected_size 0, --gan_mode). The recipe ablation of docs/experiments.md measures it against
pix2pix_plus.
"""
from __future__ import annotations

import argparse

from .pix2pix_plus_model import Pix2PixPlusModel


class Pix2PixProjectedModel(Pix2PixPlusModel):
    """--model pix2pix_projected: pix2pix_plus with the PatchGAN and the projected discriminator."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser = Pix2PixPlusModel.modify_commandline_options(parser, is_train)
        if is_train:
            parser.set_defaults(netD="basic,projected", projected_size=224)
        return parser
