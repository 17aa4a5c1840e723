"""pix2pix (Isola et al., CVPR 2017): a conditional GAN, G(A) -> B, judged by D on (A, B), plus lambda_L1 * L1."""
from __future__ import annotations

import argparse

import torch

from util.errors import UserError
from util.image_pool import ImagePool

from . import networks
from .base_model import BaseModel


class Pix2PixModel(BaseModel):
    """The conditional-GAN model; the seed's variants are presets of this class, chosen by options."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser.set_defaults(norm="batch", netG="unet_256", dataset_mode="aligned")
        if is_train:
            parser.set_defaults(pool_size=0, gan_mode="vanilla")
            parser.add_argument("--lambda_L1", type=float, default=100.0, help="weight of the L1 loss")
        return parser

    def __init__(self, opt: argparse.Namespace):
        super().__init__(opt)
        self.loss_names = ["G_GAN", "G_L1", "D_real", "D_fake"]
        self.visual_names = ["real_A", "fake_B", "real_B"]
        self.model_names = ["G", "D"] if self.is_train else ["G"]
        self.netG = networks.define_G(opt).to(self.device)
        if self.is_train:
            self.netD = networks.define_D(opt).to(self.device)
            self.criterionGAN = networks.GANLoss(opt.gan_mode)
            self.criterionL1 = torch.nn.L1Loss()
            self.fake_pool = ImagePool(opt.pool_size)
            betas = (opt.beta1, 0.999)
            self.optimizer_G = torch.optim.Adam(self.netG.parameters(), lr=opt.lr, betas=betas)
            self.optimizer_D = torch.optim.Adam(self.netD.parameters(), lr=opt.lr, betas=betas)
            self.optimizers = [self.optimizer_G, self.optimizer_D]

    def extra_state(self) -> dict:
        return {"fake_pool": self.fake_pool.images} if self.is_train else {}

    def load_extra_state(self, state: dict) -> None:
        if self.is_train:
            self.fake_pool.images = [t.to(self.device) for t in state.get("fake_pool", [])]

    def set_input(self, batch: dict) -> None:
        """Take a batch from the data loader: A is the input, B the target (direction is applied there)."""
        self.real_A = batch["A"].to(self.device, non_blocking=True)
        if "B" in batch:
            self.real_B = batch["B"].to(self.device, non_blocking=True)
        self.image_paths = batch["A_paths"]
        self._check_size(self.real_A)

    def _check_size(self, x: torch.Tensor) -> None:
        multiple = getattr(self.netG, "size_multiple", 1)
        h, w = x.shape[-2:]
        if h % multiple or w % multiple:
            raise UserError(f"--netG {self.opt.netG} needs image sides that are multiples of {multiple}, got "
                            f"{w}x{h}: set --crop_size/--load_size (or --preprocess) accordingly, "
                            f"or pick another --netG")

    def forward(self) -> None:
        self.fake_B = self.netG(self.real_A)

    def backward_D(self) -> None:
        """D learns to call (A, real B) real and (A, G(A)) fake; the fake is detached from G."""
        fake_AB = self.fake_pool.query(torch.cat((self.real_A, self.fake_B), 1))
        self.loss_D_fake = self.criterionGAN(self.netD(fake_AB.detach()), False)
        self.loss_D_real = self.criterionGAN(self.netD(torch.cat((self.real_A, self.real_B), 1)), True)
        self.loss_D = (self.loss_D_fake + self.loss_D_real) * 0.5
        self.loss_D.backward()

    def backward_G(self) -> None:
        """G tries to fool D and to stay close to B in L1."""
        self.loss_G_GAN = self.criterionGAN(self.netD(torch.cat((self.real_A, self.fake_B), 1)), True)
        self.loss_G_L1 = self.criterionL1(self.fake_B, self.real_B) * self.opt.lambda_L1
        self.loss_G = self.loss_G_GAN + self.loss_G_L1
        self.loss_G.backward()

    def optimize_parameters(self) -> None:
        """One training step: update D, then G."""
        self.forward()
        self.set_requires_grad(self.netD, True)
        self.optimizer_D.zero_grad(set_to_none=True)
        self.backward_D()
        self.optimizer_D.step()
        self.set_requires_grad(self.netD, False)
        self.optimizer_G.zero_grad(set_to_none=True)
        self.backward_G()
        self.optimizer_G.step()
