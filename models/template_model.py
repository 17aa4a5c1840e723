"""A template for a new model, and a working one: a generator trained on L1 alone, without a discriminator.

    python train.py --dataroot ./datasets/facades --name regression --model template --direction BtoA

A new model touches three places:
1. a file like this one, models/<name>_model.py, with a class that subclasses BaseModel (or Pix2PixModel, to
   change only defaults, as perceptual_model.py does): its flags (modify_commandline_options), its networks
   (__init__), its translation (set_input, forward) and its losses (generator_losses, and discriminator_losses
   when it has other networks to train). The Trainer (trainer.py) does the rest: optimizers, schedules, mixed
   precision, torchrun, checkpoints;
2. one entry in the MODELS registry of models/__init__.py, which --model's choices come from;
3. a test in tests/test_models.py that trains it through train.py.
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from options.parser import APPLY
from options.types import nonnegative_float

from . import networks
from .base_model import BaseModel


class TemplateModel(BaseModel):
    """G(A) -> B, learning from lambda_regression x L1(G(A), B)."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """Change defaults of existing flags and add this model's own (they appear in train.py --help)."""
        parser.set_defaults(norm="batch", netG="unet_256", dataset_mode="aligned", netD="none")
        if is_train:
            g = parser.add_argument_group("template model")
            g.add_argument("--lambda_regression", resume=APPLY, type=nonnegative_float, default=1.0,
                           help="weight of the L1 loss")
        return parser

    def __init__(self, opt: argparse.Namespace):
        super().__init__(opt)
        self.visual_names = ["real_A", "fake_B", "real_B"]  # what the HTML pages and test.py show
        self.output_names = ["fake_B"]  # what test.py --n_samples repeats
        self.model_names = self.trained_names = ["G"]  # net<X> attributes; those the trainer optimises
        self.netG = networks.define_G(opt).to(self.device)
        if self.is_train:
            self.criterion = nn.L1Loss()
            self.monitor_loss = "G_regression"  # the loss --lr_policy plateau follows

    def set_input(self, batch: dict) -> None:
        """A batch from the data loader: A is the input, B the target (--direction is applied there)."""
        self.real_A = batch["A"].to(self.device, memory_format=self.memory_format)
        if "B" in batch:
            self.real_B = batch["B"].to(self.device, memory_format=self.memory_format)

    def forward(self) -> None:
        with self.autocast():  # --amp
            self.fake_B = self.trained_net("G")(self.real_A).float()

    def generator_losses(self) -> dict[str, torch.Tensor]:
        """G minimises the sum of these; each is logged under its name."""
        return {"G_regression": self.criterion(self.fake_B, self.real_B) * self.opt.lambda_regression}
