"""OASIS (Schönfeld, Sushko et al., ICLR 2021) as a preset of the pix2pix model: semantic image synthesis from class
maps with adversarial supervision only.

--model oasis is --model pix2pix with OASIS's recipe as defaults (each can be given another value):
- --netG spade with --noise_3d 64: SPADE's generator, its normalisation modulated by the label map with 64 noise
  channels beside it, so that one label map gives many photos (test.py --n_samples);
- --netD oasis: the U-Net segmentation discriminator with its class-balanced loss (networks/oasis.py), and
  LabelMix (--lambda_labelmix 10);
- no reconstruction loss (--lambda_L1 0, --lambda_perceptual 0): OASIS needs no VGG loss;
- Adam(0, 0.999), G at 1e-4 and D at 4e-4 (--lr 2e-4 with --ttur), the moving average of G (--ema 0.9999, which the
  average's warm-up makes usable for short runs too);
- one departure from OASIS, which trains at batch 20-32 on thousands of images without augmentation: DiffAugment's
  translation and cutout (--diffaug translation,cutout). At batch 1 on facades' 400 images its D never learned to
  segment without them (its loss on real photos rose above a uniform guess's, docs/semantic.md). Not its colour
  jitter: with it too, and no L1 term to hold G's colours, the facades came out green and yellow. Give --diffaug none
  for OASIS's own recipe.
Widths: OASIS's G uses --ngf 64 and its D 128 channels at the first level (--ndf 128) at 256x256 Cityscapes; this
preset defaults to --ngf 32 --ndf 32 so that the facades CPU protocol runs on a laptop (docs/experiments.md gives the
parameter counts beside the paper's). Its input is a class map: give --label_nc.
"""
from __future__ import annotations

import argparse

from .pix2pix_model import Pix2PixModel


class OASISModel(Pix2PixModel):
    """--model oasis: SPADE's generator with 3D noise, judged by a segmentation discriminator, on class inputs."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser = Pix2PixModel.modify_commandline_options(parser, is_train)
        parser.set_defaults(netG="spade", netD="oasis", noise_3d=64, ngf=32, ndf=32, norm="instance",
                            init_type="xavier", init_gain=0.02)
        if is_train:
            parser.set_defaults(lambda_L1=0.0, lambda_perceptual=0.0, lambda_labelmix=10.0, beta1=0.0, beta2=0.999,
                                lr=0.0002, ttur=True, ema=0.9999, diffaug="translation,cutout")
        return parser
