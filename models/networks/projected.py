"""The projected discriminator (Sauer et al., Projected GANs Converge Faster, NeurIPS 2021), conditional on the input.

D judges the photo through a frozen ImageNet network instead of learning its features from the few hundred
photos of a pix2pix dataset:
1. the photo (ImageNet-normalised; resized to --projected_size on its shorter side if given, as ImageNet networks
   are trained at about 224 px) goes through EfficientNet-Lite1 (--projected_backbone), whose activations at
   strides 4, 8, 16 and 32 are kept: four feature resolutions;
2. fixed random projections mix them (never trained, drawn from --projected_seed, saved as buffers so that a
   resumed run has exactly the same ones): cross-channel mixing, a 1x1 conv to --projected_channels channels per
   resolution; cross-scale mixing, top-down as in a feature pyramid, each resolution adding the upsampled mix of
   the one below it and going through a fixed 3x3 conv;
3. one small trained head per resolution (spectral norm on every conv, LeakyReLU 0.2, no batch norm: pix2pix
   trains with batch size 1, and a gradient penalty needs samples judged independently) gives a patch map of
   logits, so D returns four prediction maps, which every GAN loss averages as it does a multiscale D's.

Conditioning: pix2pix's D sees (input, photo) stacked; the backbone cannot read a label map as a photo, and running
it twice per pair would double its cost. Each head adds a projection term instead (Miyato & Koyama, 2018, per
position as in SESAME): logit = w . h + <h, e(A)>, with h the head's features at a position and e(A) a trained
spectral-normalised conv of the input resized to that resolution. The input thus changes the verdict wherever it
does not fit the photo; add pix2pix's pixel-space PatchGAN beside it (--netD basic,projected) for local detail.

The backbone is frozen (eval mode, no gradients to its weights) and not a submodule: it is neither trained,
averaged, synchronised across processes nor saved. The checkpoint records its name (--projected_backbone) and its
weights file's SHA-256 (a buffer), and a resumed run refuses a different file.
"""
from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from options.parser import REFUSE
from options.types import nonnegative_int, positive_int
from util.backbones import EfficientNetLiteFeatures, ImageNetNormalize, file_sha256
from util.errors import UserError

from .checkpointing import checkpointed

PROJECTED_BACKBONES = {"efficientnet_lite1": 1, "efficientnet_lite0": 0}  # --projected_backbone -> Lite variant
STRIDES = (4, 8, 16, 32)


def projected_options(g: argparse._ArgumentGroup) -> None:
    """The projected discriminator's backbone, projection width and projection seed."""
    g.add_argument("--projected_backbone", resume=REFUSE, default="efficientnet_lite1",
                   choices=list(PROJECTED_BACKBONES),
                   help="frozen ImageNet network of --netD projected (weights come with its pip package, offline). "
                        "efficientnet_lite0 is the network of the fd_lite0/kid_lite0 metrics: evaluate.py then "
                        "warns that they flatter the run")
    g.add_argument("--projected_channels", resume=REFUSE, type=positive_int, default=64,
                   help="channels of each resolution after the random projections of --netD projected")
    g.add_argument("--projected_seed", resume=REFUSE, type=int, default=0,
                   help="seed of the fixed random projections of --netD projected (drawn once, saved in the "
                        "checkpoint)")
    g.add_argument("--projected_size", resume=REFUSE, absent=0, type=_backbone_side, default=0,
                   help="resize the photo so that its shorter side has this many pixels before the backbone of "
                        "--netD projected (ImageNet networks are trained at about 224 px; 0: the photo's own size)")


def _backbone_side(text: str) -> int:
    """--projected_size: 0, or a side the backbone's deepest resolution still has one value at."""
    side = nonnegative_int(text)
    if 0 < side < STRIDES[-1]:
        raise argparse.ArgumentTypeError(f"{side} is below {STRIDES[-1]} px, the backbone's deepest stride: "
                                         f"give 0 (the photo's own size) or at least {STRIDES[-1]}")
    return side


def _fixed_conv_weight(out_nc: int, in_nc: int, kernel: int, generator: torch.Generator) -> torch.Tensor:
    """A random conv weight that keeps the variance of its input (He's normal, linear gain)."""
    fan_in = in_nc * kernel * kernel
    return torch.randn(out_nc, in_nc, kernel, kernel, generator=generator) / math.sqrt(fan_in)


class ProjectedHead(nn.Module):
    """One resolution's trained head: `downs` stride-2 convs, a 3x3 conv, then the logit with its projection term."""

    def __init__(self, in_nc: int, input_nc: int, ndf: int, downs: int):
        super().__init__()
        layers, nc = [], in_nc
        for _ in range(downs):
            layers += [spectral_norm(nn.Conv2d(nc, ndf, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, True)]
            nc = ndf
        layers += [spectral_norm(nn.Conv2d(nc, ndf, 3, padding=1)), nn.LeakyReLU(0.2, True)]
        self.body = nn.Sequential(*layers)
        self.logit = spectral_norm(nn.Conv2d(ndf, 1, 1))
        self.embed = spectral_norm(nn.Conv2d(input_nc, ndf, 3, padding=1))

    def forward(self, x: torch.Tensor, condition: torch.Tensor, features: bool = False):
        outs = []
        for layer in self.body:
            x = layer(x)
            if features and isinstance(layer, nn.LeakyReLU):
                outs.append(x)
        e = self.embed(F.interpolate(condition, size=x.shape[-2:], mode="area"))
        logit = self.logit(x) + (x * e).sum(1, keepdim=True)
        return [*outs, logit] if features else logit


class ProjectedDiscriminator(nn.Module):
    """Conditional projected discriminator on (input, photo) stacked: a prediction map per feature resolution."""

    grad_checkpoint = False  # recomputes the backbone's activations in backward (--grad_checkpoint)

    def __init__(self, input_nc: int, output_nc: int, ndf: int = 64, backbone: str = "efficientnet_lite1",
                 channels: int = 64, seed: int = 0, size: int = 0):
        super().__init__()
        self.input_nc, self.output_nc, self.backbone, self.size = input_nc, output_nc, backbone, size
        features = EfficientNetLiteFeatures(PROJECTED_BACKBONES[backbone], STRIDES)
        self._frozen = [features.requires_grad_(False).eval()]  # a list: not a submodule, so never saved
        self.backbone_sha256 = file_sha256(features.file)
        digest = torch.tensor(list(bytes.fromhex(self.backbone_sha256)), dtype=torch.uint8)
        self.register_buffer("backbone_digest", digest)  # in the checkpoint: which weights D was trained against
        self.imagenet = ImageNetNormalize()
        generator = torch.Generator().manual_seed(seed)
        for i, nc in enumerate(features.channels):
            self.register_buffer(f"channel_mix{i}", _fixed_conv_weight(channels, nc, 1, generator))
            self.register_buffer(f"scale_mix{i}", _fixed_conv_weight(channels, channels, 3, generator))
        # heads end at stride 16 (32 for the deepest resolution): patch maps of 8x8 and 4x4 logits at 128x128
        self.heads = nn.ModuleList(ProjectedHead(channels, input_nc, ndf, downs=max(0, 2 - i))
                                   for i in range(len(STRIDES)))

    @property
    def features(self) -> EfficientNetLiteFeatures:
        return self._frozen[0]

    def _apply(self, fn, recurse: bool = True):
        """.to(), .cuda(), .half() and memory formats reach the frozen backbone too."""
        super()._apply(fn, recurse)
        self.features._apply(fn, recurse)
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """A checkpoint trained against other backbone weights is refused (its heads read other features)."""
        saved = state_dict.get(prefix + "backbone_digest")
        if saved is not None and not torch.equal(saved.cpu(), self.backbone_digest.cpu()):
            raise UserError(f"this checkpoint's projected discriminator was trained against {self.backbone} weights "
                            f"with SHA-256 {bytes(saved.tolist()).hex()[:12]}..., but {self.features.file} has "
                            f"{self.backbone_sha256[:12]}...: install the weights it was trained with, or start a "
                            f"new run (--name)")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def project(self, photo: torch.Tensor) -> list[torch.Tensor]:
        """The photo's backbone features, mixed across channels then across scales (deepest first, added upward)."""
        x = self.imagenet((self.resize(photo).expand(-1, 3, -1, -1) + 1) / 2)  # [-1, 1] gray or RGB -> ImageNet
        feats = [F.conv2d(f, getattr(self, f"channel_mix{i}").to(f.dtype))
                 for i, f in enumerate(self.features(x))]
        mixed, below = [], None
        for i in reversed(range(len(feats))):
            f = feats[i] if below is None else feats[i] + F.interpolate(below, size=feats[i].shape[-2:],
                                                                        mode="bilinear", align_corners=False)
            below = F.conv2d(f, getattr(self, f"scale_mix{i}").to(f.dtype), padding=1)
            mixed.insert(0, below)
        return mixed

    def resize(self, photo: torch.Tensor) -> torch.Tensor:
        """The photo at --projected_size on its shorter side, its aspect ratio kept (antialiased when reduced)."""
        h, w = photo.shape[-2:]
        if not self.size or min(h, w) == self.size:
            return photo
        scale = self.size / min(h, w)
        size = (max(round(h * scale), self.size), max(round(w * scale), self.size))
        return F.interpolate(photo, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)

    def forward(self, x: torch.Tensor, features: bool = False) -> list:
        condition, photo = x[:, : self.input_nc], x[:, self.input_nc:]
        with torch.set_grad_enabled(torch.is_grad_enabled() and photo.requires_grad):  # D's step: no backbone graph
            mixed = checkpointed(self, self.project, photo)
        return [head(m, condition, features) for head, m in zip(self.heads, mixed)]

    def train(self, mode: bool = True) -> ProjectedDiscriminator:
        super().train(mode)
        self.features.eval()  # batch-norm statistics of the backbone never change
        return self

    def min_input_side(self) -> int:
        return 1 if self.size else STRIDES[-1]  # resized, any photo fits; else one value at the deepest stride

