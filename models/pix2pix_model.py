"""pix2pix (Isola et al., CVPR 2017): a conditional GAN, G(A) -> B, judged by D on (A, B), plus lambda_L1 * L1.

The original DLIM project's variants are options of this one model (the preset classes only change defaults):
- the adversarial loss: --gan_mode original|ls|hinge|w|wgangp, --lambda_gp, --lambda_GAN;
- the reconstruction losses: --lambda_L1 and the perceptual loss --lambda_perceptual / --perceptual_net;
- no discriminator: --netD none or --lambda_GAN 0;
- a stochastic generator: --dropout_rate, --weight_noise (see stochastic_model.py);
- differentiable augmentation of D's inputs: --diffaug, --diffaug_p (networks/diffaug.py);
- class inputs (--label_nc) and SPADE's generator (--netG spade, --use_vae with --lambda_kld; spade_model.py).
"""
from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

from options.parser import APPLY
from options.types import nonnegative_float, probability
from util.errors import UserError, warn
from util.image_pool import ImagePool
from util.labels import LabelCoder
from util.registry import add_options, describe

from . import networks
from .acceleration import split_batch, to_float
from .base_model import BaseModel
from .networks.losses import Prediction, by_discriminator, final_outputs


class Pix2PixModel(BaseModel):
    """The conditional-GAN model; the original DLIM project's variants are presets of this class, chosen by options."""

    discriminator_loss_weight = 0.5  # pix2pix halves D's loss, so that D learns more slowly than G

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser.set_defaults(norm="batch", netG="unet_256", dataset_mode="aligned")
        g = parser.add_argument_group("stochastic generator")
        g.add_argument("--weight_noise", resume=APPLY, type=nonnegative_float, default=0.0,
                       help="at test time, add fresh Gaussian noise to every conv weight of G at each forward "
                            "pass; the value is relative to each layer's weight spread (0.05 = 5%%)")
        if not is_train:
            return parser
        g.add_argument("--weight_noise_in_training", resume=APPLY, action="store_true",
                       help="apply --weight_noise during training too, so that G learns to work with it")
        g = parser.add_argument_group("losses")
        g.add_argument("--gan_mode", resume=APPLY, default="lsgan", choices=list(networks.GAN_MODES),
                       help=f"adversarial loss: {describe(networks.GAN_LOSSES, networks.GAN_MODE_ALIASES)}")
        add_options(g, networks.GAN_LOSSES, networks.RECONSTRUCTION_LOSSES)
        g.add_argument("--lambda_feat", resume=APPLY, type=nonnegative_float, nargs="?", const=10.0, default=0.0,
                       help="weight of the discriminator feature-matching loss of pix2pixHD; the flag alone means "
                            "10, pix2pixHD's value")
        g.add_argument("--lambda_GAN", resume=APPLY, type=nonnegative_float, default=1.0,
                       help="weight of G's adversarial loss; 0 trains without a discriminator, like --netD none")
        g.add_argument("--lambda_kld", resume=APPLY, type=nonnegative_float, default=0.05,
                       help="weight of the KL term of --use_vae's style code (SPADE's 0.05)")
        g = parser.add_argument_group("discriminator augmentation (DiffAugment)")
        g.add_argument("--diffaug", resume=APPLY, type=networks.augmentation_policy, default="", metavar="POLICY",
                       help="augment what D sees, real and generated alike, in D's and G's steps: a comma-separated "
                            "list of color, translation, cutout (DiffAugment's policy: all three), or none. "
                            "Translation and cutout move the label map and the photo together; colour changes only "
                            "the photo")
        g.add_argument("--diffaug_p", resume=APPLY, type=probability, default=1.0,
                       help="probability that each augmentation is applied to each sample")
        parser.set_defaults(pool_size=0, gan_mode="vanilla")  # upstream pix2pix's
        return parser

    def __init__(self, opt: argparse.Namespace):
        super().__init__(opt)
        self.visual_names = ["real_A", "fake_B", "real_B"]
        self.output_names = ["fake_B"]
        self.netG = networks.define_G(opt).to(self.device)
        self.labels = LabelCoder(opt) if opt.label_nc else None  # to show class inputs in colour
        self.use_vae = bool(getattr(opt, "use_vae", False))
        self.model_names = self.trained_names = ["G"]
        noise_now = not self.is_train or opt.weight_noise_in_training
        self.weight_noise = opt.weight_noise if noise_now else 0.0
        if self.is_train:
            self._setup_losses(opt)

    def _setup_losses(self, opt: argparse.Namespace) -> None:
        """G's reconstruction losses (each on when its weight is positive) and, when there is one, D."""
        self.use_D = opt.netD != networks.NO_DISCRIMINATOR and opt.lambda_GAN > 0
        self.use_feat = self.use_D and opt.lambda_feat > 0
        if opt.vgg_weights and not (opt.lambda_perceptual > 0 and opt.perceptual_net == "vgg19"):
            warn("--vgg_weights is unused: it is for the perceptual loss with --perceptual_net vgg19")
        self.loss_networks: dict[str, nn.Module] = {}  # the reconstruction losses' modules, by name
        # G_<name> -> (weight, loss of fake_B against real_B), for the registry's losses of positive weight
        self.reconstruction: dict[str, tuple[float, Callable[[], torch.Tensor]]] = {
            f"G_{name}": (getattr(opt, loss.weight), self._reconstruction_term(name, loss))
            for name, loss in networks.RECONSTRUCTION_LOSSES.items() if getattr(opt, loss.weight) > 0}
        if self.use_vae and opt.lambda_kld > 0:  # SPADE's style encoder: keep its codes near N(0, I)
            self.reconstruction["G_KL"] = (opt.lambda_kld, lambda: self.kld.float())
        if not self.use_D and not self.reconstruction:
            raise UserError("nothing to train: with no discriminator (--netD none or --lambda_GAN 0) give G a "
                            "reconstruction loss, --lambda_L1 > 0 or --lambda_perceptual > 0")
        discriminators = networks.discriminator_names(opt.netD)
        gan = "G_GAN" if len(discriminators) == 1 else f"G_GAN_{discriminators[0]}"
        self.monitor_loss = "G_L1" if "G_L1" in self.reconstruction else [*self.reconstruction, gan][0]
        if self.use_D:
            self._setup_discriminator(opt)
        else:
            self._warn_unused_adversarial_flags(opt)
        if opt.weight_noise_in_training and opt.weight_noise == 0:
            warn("--weight_noise_in_training does nothing with --weight_noise 0: give the noise level, e.g. "
                 "--weight_noise 0.05")

    def _reconstruction_term(self, name: str, loss: networks.ReconstructionLoss) -> Callable[[], torch.Tensor]:
        """The loss of fake_B against real_B, built once (a frozen network of it is neither trained nor saved)."""
        module = loss.build(self.opt).to(self.device, memory_format=self.memory_format)
        self.loss_networks[name] = module
        frozen = networks.count_parameters(module)
        if frozen:
            print(f"[{name} loss] {frozen / 1e6:.3f} M frozen parameters")

        def term() -> torch.Tensor:
            with self.autocast() if loss.autocast else contextlib.nullcontext():
                return module(self.fake_B, self.real_B)
        return term

    def _setup_discriminator(self, opt: argparse.Namespace) -> None:
        names = networks.discriminator_names(opt.netD)
        if "oasis" in names and not opt.label_nc:
            raise UserError("--netD oasis segments photos into the classes of the label maps: give --label_nc "
                            "(facades 12, cityscapes colours 20), or pick another --netD")
        # the member LabelMix regularises (its key in D's output: '' when it is D alone)
        self.labelmix = ("" if len(names) == 1 else "oasis") if "oasis" in names and opt.lambda_labelmix > 0 \
            else None
        if names == ["oasis"] and "gan_mode" in opt.explicit:
            warn(f"--gan_mode {opt.gan_mode} is unused: --netD oasis trains with its own class-balanced loss")
        self.netD = networks.define_D(opt).to(self.device)
        self.model_names = self.trained_names = ["G", "D"]
        self.min_D_side = networks.min_input_side(self.netD)
        self.criterionGAN = networks.GANLoss(opt.gan_mode)
        self.fake_pool = ImagePool(opt.pool_size)
        self.augment = networks.PairAugment(opt.diffaug, opt.diffaug_p, opt.input_nc) if opt.diffaug else None
        if opt.lambda_gp > 0 and networks.discriminator_uses_batch_norm(opt) and opt.batch_size > 1:
            warn("--lambda_gp with batch norm in D mixes the samples of a batch, which the gradient penalty "
                 "assumes independent (WGAN-GP uses no batch norm in the critic): consider --norm instance")

    def _warn_unused_adversarial_flags(self, opt: argparse.Namespace) -> None:
        print("no discriminator: G learns from its reconstruction loss only")
        unused = [f for f, on in [("--lambda_feat", opt.lambda_feat > 0), ("--lambda_gp", opt.lambda_gp > 0),
                                  ("--gan_mode", "gan_mode" in opt.explicit), ("--diffaug", bool(opt.diffaug))] if on]
        if unused:
            warn(f"{', '.join(unused)} unused: there is no discriminator (--netD {opt.netD}, "
                 f"--lambda_GAN {opt.lambda_GAN:g})")

    def eager_nets(self) -> set[str]:
        return {"G"} if self.weight_noise > 0 else set()  # G's weights are drawn anew at every pass

    def extra_state(self) -> dict:
        return {"fake_pool": self.fake_pool.images} if self.is_train and self.use_D else {}

    def load_extra_state(self, state: dict) -> None:
        if self.is_train and self.use_D:
            self.fake_pool.load([t.to(self.device) for t in state.get("fake_pool", [])])

    def set_input(self, batch: dict) -> None:
        """Take a batch from the data loader: A is the input, B the target (direction is applied there)."""
        self.real_A = batch["A"].to(self.device, non_blocking=True, memory_format=self.memory_format)
        if "B" in batch:
            self.real_B = batch["B"].to(self.device, non_blocking=True, memory_format=self.memory_format)
        self.image_paths = batch["A_paths"]
        self._check_size(self.real_A)

    def _check_size(self, x: torch.Tensor) -> None:
        multiple = getattr(self.netG, "size_multiple", 1)
        h, w = x.shape[-2:]
        fixed = getattr(self.netG, "input_size", None)  # SPADE with --use_vae starts from a grid of fixed size
        if fixed is not None and (h, w) != fixed:
            fix = f"pass --crop_size {fixed[1]} and images of that shape" if self.is_train else \
                "pass --preprocess resize_and_crop (test.py --input then scales each image to it and back)"
            raise UserError(f"--netG spade --use_vae was built for {fixed[1]}x{fixed[0]} inputs (--crop_size, "
                            f"--image_aspect), got {w}x{h}: {fix}")
        if (h % multiple or w % multiple) and self.is_train:  # testing pads to the next multiple (forward)
            raise UserError(f"--netG {self.opt.netG} needs image sides that are multiples of {multiple}, got "
                            f"{w}x{h}: set --crop_size/--load_size (or --preprocess) accordingly, "
                            f"or pick another --netG")
        if not (self.is_train and self.use_D):
            return
        side, d_multiple = self.min_D_side, networks.discriminator_size_multiple(self.netD)
        if min(h, w) < side:
            named, lower = self._discriminator_depth()
            raise UserError(f"{named} needs images of at least {side}x{side} px, got {w}x{h}: raise --crop_size "
                            f"(and --load_size){lower}")
        if h % d_multiple or w % d_multiple:
            named, lower = self._discriminator_depth()
            raise UserError(f"{named} needs image sides that are multiples of {d_multiple}, got {w}x{h}: set "
                            f"--crop_size/--load_size accordingly{lower}")

    def _discriminator_depth(self) -> tuple[str, str]:
        """For a size error (built only then, not at every step): '--netD NAME (its depth flags)', and the advice
        to lower those flags (or to pick another --netD when it has none)."""
        opt = self.opt
        specs = [networks.DISCRIMINATORS[name] for name in networks.discriminator_names(opt.netD)]
        shape = [f"--{o}" for o in ("n_layers_D", "num_D", "oasis_levels") if any(o in s.shape for s in specs)]
        given = ", ".join(f"{flag} {getattr(opt, flag[2:])}" for flag in shape)
        lower = f", or lower {' / '.join(shape)}" if shape else ", or pick another --netD"
        return f"--netD {opt.netD}{f' ({given})' if given else ''}", lower

    def forward(self) -> None:
        netG = self.trained_net("G")
        real_A, box = self.real_A, None
        if not self.is_train:  # any size at test time: reflected up to the generator's multiple, cropped back
            real_A, box = networks.fit_input(self.netG, real_A)
        with self.autocast():
            if self.weight_noise > 0:
                fake_B = networks.forward_with_weight_noise(netG, real_A, self.weight_noise)
            elif self.use_vae and self.is_train and self.netG.training:  # the style code of the target photo
                fake_B, self.kld = netG(real_A, style=self.real_B)
            else:
                fake_B = netG(real_A)
        self.fake_B = networks.crop_box(fake_B, box).float() if box else fake_B.float()

    def is_stochastic(self) -> bool:
        """Whether two forward passes on the same input can differ (active dropout, weight noise, a random style
        code of --use_vae, or --noise_3d)."""
        dropout = any(isinstance(m, nn.Dropout) and m.training and m.p > 0 for m in self.netG.modules())
        return dropout or self.weight_noise > 0 or self.use_vae or bool(getattr(self.opt, "noise_3d", 0))

    def get_current_visuals(self):
        """The visuals; class inputs (--label_nc) in their palette's colours."""
        visuals = super().get_current_visuals()
        if self.labels is not None and "real_A" in visuals:
            visuals["real_A"] = self.labels.colorize(visuals["real_A"])
        return visuals

    def discriminate(self, AB: torch.Tensor, net: nn.Module | None = None, **kwargs) -> Prediction:
        """D's judgement of stacked (A, B) images, computed under --amp and returned in float32."""
        with self.autocast():
            return to_float((net or self.net("D"))(AB, **kwargs))

    def penalty_critic(self, AB: torch.Tensor) -> Prediction:
        """D for the gradient penalty's double backward: the plain module (neither DDP nor compiled), in fp32
        under --amp fp16, whose input gradients overflow half precision at the gradient scaler's scales."""
        if self.amp == "fp16":
            return self.netD(AB)
        return self.discriminate(AB, self.netD)

    def discriminator_losses(self) -> Iterator[dict[str, torch.Tensor]]:
        """D learns to call (A, real B) real and (A, G(A)) fake (detached from G): the fake term and the gradient
        penalty first, then the real term. With --diffaug, D judges (and the penalty is taken on) augmented pairs,
        real and fake each with its own draw."""
        if not self.use_D:
            return
        fake_AB = self.fake_pool.query(torch.cat((self.real_A, self.fake_B), 1)).detach()
        real_AB = torch.cat((self.real_A, self.real_B), 1)
        if self.augment is not None:
            fake_AB, real_AB = self.augment(fake_AB), self.augment(real_AB)
        netD = self.trained_net("D")
        # Under torchrun, the first group's gradients stay local (no_sync) and are averaged with the second's, in
        # its backward pass: the trainer backpropagates a group while this generator waits inside the block.
        with netD.no_sync() if hasattr(netD, "no_sync") else contextlib.nullcontext():
            losses = self.adversarial("D_fake", self.discriminate(fake_AB, netD), False, pair=fake_AB)
            if self.opt.lambda_gp > 0:
                losses["D_GP"] = networks.gradient_penalty(self.penalty_critic, real_AB, fake_AB) * self.opt.lambda_gp
            yield losses
        if self.labelmix is None:
            yield self.adversarial("D_real", self.discriminate(real_AB, netD), True, pair=real_AB)
            return
        # LabelMix on the plain real, generated and mixed pairs: with OASIS's D alone, in the same pass as the real
        # term; beside other discriminators, through OASIS's D only
        mask = networks.labelmix_mask(self.real_A)
        plain = [torch.cat((self.real_A, b), 1) for b in (self.real_B, self.fake_B.detach())]
        mixed = torch.cat((self.real_A, mask * self.real_B + (1 - mask) * self.fake_B.detach()), 1)
        if self.labelmix == "":
            real, *on = split_batch(self.discriminate(torch.cat((real_AB, *plain, mixed)), netD), 4)
        else:
            real = self.discriminate(real_AB, netD)
            on = split_batch(self.discriminate(torch.cat((*plain, mixed)), self.net("D").nets[self.labelmix]), 3)
        losses = self.adversarial("D_real", real, True, pair=real_AB)
        losses["D_labelmix"] = networks.labelmix_loss(on[2], on[0], on[1], mask) * self.opt.lambda_labelmix
        yield losses

    def adversarial(self, name: str, prediction: Prediction, real: bool, for_discriminator: bool = True,
                    weight: float = 1.0, pair: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The GAN loss of D's verdict on `pair`, as `name`; with several discriminators (--netD basic,projected),
        one loss per discriminator, as name_<discriminator>. OASIS's segmentation discriminator is taught the label
        map of the pair (its input side) with its class-balanced loss; the others, --gan_mode's loss."""
        losses = {}
        for member, p in by_discriminator(prediction).items():
            if (member or self.opt.netD) == "oasis":
                loss = networks.segmentation_loss(final_outputs(p)[0], pair[:, :self.opt.input_nc],
                                                  real or not for_discriminator, self.opt.dontcare)
            else:
                loss = self.criterionGAN(p, real, for_discriminator)
            losses[name + (f"_{member}" if member else "")] = loss * weight
        return losses

    def generator_losses(self) -> dict[str, torch.Tensor]:
        """G tries to fool D (when there is one) and to stay close to B (its reconstruction losses). With --diffaug
        D sees the augmented pair, and feature matching compares D's features of (A, G(A)) and (A, B) under the
        same augmentation draw."""
        losses = {}
        if self.use_D:
            fake_AB, real_AB = torch.cat((self.real_A, self.fake_B), 1), torch.cat((self.real_A, self.real_B), 1)
            if self.augment is not None:
                draw = self.augment.draw(fake_AB)  # the real pair only matters to feature matching
                fake_AB = self.augment.apply(fake_AB, draw)
                real_AB = self.augment.apply(real_AB, draw) if self.use_feat else real_AB
            prediction = self.discriminate(fake_AB, features=self.use_feat)
            losses.update(self.adversarial("G_GAN", prediction, True, False, self.opt.lambda_GAN, pair=fake_AB))
        if self.use_feat:
            with torch.no_grad():
                real = self.discriminate(real_AB, features=True)
            losses["G_feat"] = networks.feature_matching_loss(prediction, real) * self.opt.lambda_feat
        for name, (weight, loss) in self.reconstruction.items():
            losses[name] = loss() * weight
        return losses
