"""SPADE (Park et al., CVPR 2019) as a preset of the pix2pix model: semantic image synthesis from class maps.

--model spade is --model pix2pix with SPADE's recipe as defaults (each can be given another value):
- --netG spade: SPADE's generator, which modulates its normalisation with the label map (networks/spade.py);
  --use_vae adds its style encoder, for several photos per label map;
- --netD multiscale --num_D 2 --n_layers_D 4 with instance norm: pix2pixHD's discriminator as SPADE uses it (SPADE
  also puts spectral norm in it; --netD sesame has spectral norm);
- --gan_mode hinge, --lambda_feat 10, --lambda_perceptual 10, no L1 (--lambda_L1 0);
- Adam(0, 0.9) with the two time-scale rule (--ttur: G at --lr / 2, D at --lr x 2), Xavier init (gain 0.02).
Its input is a class map: give --label_nc (facades 12, cityscapes colours 20, cityscapes ids 35; util/labels.py).
The perceptual loss is SPADE's VGG19 by default; --perceptual_net efficientnet_lite0 works offline, but a model so
trained must not be scored by the Lite0 metrics (evaluate.py warns).
"""
from __future__ import annotations

import argparse

from .pix2pix_model import Pix2PixModel


class SPADEModel(Pix2PixModel):
    """--model spade: SPADE's generator, discriminator, losses and optimiser settings on class inputs."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser = Pix2PixModel.modify_commandline_options(parser, is_train)
        parser.set_defaults(netG="spade", netD="multiscale", n_layers_D=4, num_D=2, norm="instance",
                            init_type="xavier", init_gain=0.02)
        if is_train:
            parser.set_defaults(gan_mode="hinge", lambda_feat=10.0, lambda_perceptual=10.0, lambda_L1=0.0,
                                beta1=0.0, beta2=0.9, ttur=True)
        return parser
