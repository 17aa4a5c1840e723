"""SPADE's generator (Park et al., Semantic Image Synthesis with Spatially-Adaptive Normalization, CVPR 2019).

Instead of encoding the label map and decoding a photo from the code, as the U-Net does, the generator starts from
a small grid (the label map shrunk to side/32, or a random style code with --use_vae) and upsamples it through
residual blocks whose normalisation layers take their per-pixel scale and bias from the label map at each
resolution (SPADE), so the classes are not washed out by normalisation. The layer layout, the widths, spectral norm
on the blocks' convolutions and the parameter-free batch norm are SPADE's (its spectralspadesyncbatch3x3), so the
parameter counts are the same for the same settings; --sync_bn makes the batch norm synchronised as SPADE's.
"""
from __future__ import annotations

import argparse
import itertools

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from options.parser import REFUSE
from options.types import positive_finite, positive_int
from util.errors import UserError

from .checkpointing import checkpointed
from .conv import Conv2d

SPADE_DEPTHS = {"normal": 5, "more": 6, "most": 7}  # --num_upsampling_layers -> doublings of the starting grid
SPADE_HIDDEN = 128  # channels of the layer that reads the label map in each SPADE layer (SPADE's, fixed)


def start_grid(depth: str, crop_size: int, aspect: float = 1.0, use_vae: bool = False) -> tuple[int, int]:
    """(h, w) of the grid the generator starts from on crops of crop_size: side / 2**ups; with use_vae the style
    code's fixed grid, whose height is its width / aspect."""
    w = crop_size // 2 ** SPADE_DEPTHS[depth]
    return (round(w / aspect) if use_vae else w), w


def _trains(depth: str, crop_size: int, batch_size: int, aspect: float, use_vae: bool) -> bool:
    """Whether batch norm can train on the starting grid: at least one cell, two values per channel in a batch."""
    h, w = start_grid(depth, crop_size, aspect, use_vae)
    return min(h, w) >= 1 and h * w * batch_size >= 2


def smallest_crop(depth: str, batch_size: int, aspect: float = 1.0, use_vae: bool = False) -> int:
    """The smallest --crop_size (a multiple of the generator's) on which it trains at this batch size."""
    multiple = 2 ** SPADE_DEPTHS[depth]
    first = max(1, int(aspect // 2))  # narrower starting grids round to a height of 0
    return next(w * multiple for w in itertools.count(first) if _trains(depth, w * multiple, batch_size, aspect,
                                                                         use_vae))


def check_trainable(depth: str, crop_size: int, batch_size: int, aspect: float = 1.0, use_vae: bool = False) -> None:
    """A UserError, before training starts, when batch norm cannot train on the starting grid of these crops (a
    grid of no cells, or one value per channel in a batch), saying the --crop_size, batch or depth that can."""
    if _trains(depth, crop_size, batch_size, aspect, use_vae):
        return
    h, w = start_grid(depth, crop_size, aspect, use_vae)
    fixes = [f"--crop_size {smallest_crop(depth, batch_size, aspect, use_vae)} or more"]
    if h * w == 1:
        fixes.append("--batch_size 2 or more")
    fixes += [f"--num_upsampling_layers {d}" for d in reversed(SPADE_DEPTHS)
              if SPADE_DEPTHS[d] < SPADE_DEPTHS[depth] and _trains(d, crop_size, batch_size, aspect, use_vae)][:1]
    size = f"crop_size / {2 ** SPADE_DEPTHS[depth]}" + (f", height width / --image_aspect {aspect:g}"
                                                         if use_vae and aspect != 1 else "")
    why = ("which has no cells" if h * w == 0 else f"on which its batch norm cannot train a batch of {batch_size} "
           f"(it needs two values per channel)")
    raise UserError(f"--netG spade --num_upsampling_layers {depth} at --crop_size {crop_size} starts from a {w}x{h} "
                    f"grid ({size}), {why}: pass {', or '.join(fixes)}")


class SPADE(nn.Module):
    """Batch norm without parameters, then a per-pixel scale (1 + gamma) and bias (beta) computed from the label map
    by a shared 3x3 conv + ReLU and one 3x3 conv each."""

    def __init__(self, channels: int, label_nc: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.shared = nn.Sequential(Conv2d(label_nc, SPADE_HIDDEN, 3, padding=1), nn.ReLU())
        self.gamma = Conv2d(SPADE_HIDDEN, channels, 3, padding=1)
        self.beta = Conv2d(SPADE_HIDDEN, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, label_map: torch.Tensor) -> torch.Tensor:
        label_map = F.interpolate(label_map, size=x.shape[-2:], mode="nearest")
        hidden = self.shared(label_map)
        return self.norm(x) * (1 + self.gamma(hidden)) + self.beta(hidden)


class SPADEResBlock(nn.Module):
    """SPADE, LeakyReLU 0.2, 3x3 conv, twice; a shortcut through SPADE and a 1x1 conv when the width changes."""

    grad_checkpoint = False  # the block recomputes its activations in backward (--grad_checkpoint)

    def __init__(self, fin: int, fout: int, label_nc: int):
        super().__init__()
        middle = min(fin, fout)
        self.norm_0, self.conv_0 = SPADE(fin, label_nc), spectral_norm(Conv2d(fin, middle, 3, padding=1))
        self.norm_1, self.conv_1 = SPADE(middle, label_nc), spectral_norm(Conv2d(middle, fout, 3, padding=1))
        self.learned_shortcut = fin != fout
        if self.learned_shortcut:
            self.norm_s, self.conv_s = SPADE(fin, label_nc), spectral_norm(Conv2d(fin, fout, 1, bias=False))

    def forward(self, x: torch.Tensor, label_map: torch.Tensor) -> torch.Tensor:
        return checkpointed(self, self._residual, x, label_map)

    def _residual(self, x: torch.Tensor, label_map: torch.Tensor) -> torch.Tensor:
        shortcut = self.conv_s(self.norm_s(x, label_map)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, label_map), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, label_map), 0.2))
        return shortcut + dx


class StyleEncoder(nn.Module):
    """SPADE's image encoder (--use_vae): 3x3 stride-2 convs with spectral and instance norm down to a 4x4 grid
    (five below 256 px, six from 256 px), then the mean and log-variance of a z_dim style code."""

    def __init__(self, image_nc: int, ngf: int, crop_size: int, z_dim: int):
        super().__init__()
        widths = [ngf, ngf * 2, ngf * 4, ngf * 8, ngf * 8] + ([ngf * 8] if crop_size >= 256 else [])
        self.side = 4 * 2 ** len(widths)  # images are resized to this square first
        layers, fin = [], image_nc
        for i, fout in enumerate(widths):
            layers += [nn.LeakyReLU(0.2)] if i else []
            layers += [spectral_norm(Conv2d(fin, fout, 3, stride=2, padding=1, bias=False)), nn.InstanceNorm2d(fout)]
            fin = fout
        self.layers = nn.Sequential(*layers, nn.LeakyReLU(0.2), nn.Flatten())
        self.mu, self.logvar = nn.Linear(fin * 16, z_dim), nn.Linear(fin * 16, z_dim)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if image.shape[-2:] != (self.side, self.side):
            image = F.interpolate(image, size=(self.side, self.side), mode="bilinear", align_corners=False)
        features = self.layers(image)
        return self.mu(features), self.logvar(features)


class SPADEGenerator(nn.Module):
    """Label map (one channel per class) -> photo; with use_vae, also a style code (random, or the encoder's).

    forward(label_map) gives the photo; with use_vae, forward(label_map, style=photo) encodes the photo's style and
    returns (photo, KL divergence of the style code from N(0, I)), as training needs, and forward(label_map, z=z)
    takes a given style code (N x z_dim) instead of a random one.
    """

    def __init__(self, label_nc: int, output_nc: int = 3, ngf: int = 64, depth: str = "normal",
                 use_vae: bool = False, z_dim: int = 256, crop_size: int = 256, aspect: float = 1.0):
        super().__init__()
        self.ups, self.depth, self.z_dim, self.aspect = SPADE_DEPTHS[depth], depth, z_dim, aspect
        self.encoder = StyleEncoder(output_nc, ngf, crop_size, z_dim) if use_vae else None
        self.grid = start_grid(depth, crop_size, aspect, use_vae=True)  # (h, w) of the style code's start
        if use_vae:
            self.fc = nn.Linear(z_dim, 16 * ngf * self.grid[0] * self.grid[1])
        else:
            self.fc = Conv2d(label_nc, 16 * ngf, 3, padding=1)
        self.head_0 = SPADEResBlock(16 * ngf, 16 * ngf, label_nc)
        self.G_middle_0 = SPADEResBlock(16 * ngf, 16 * ngf, label_nc)
        self.G_middle_1 = SPADEResBlock(16 * ngf, 16 * ngf, label_nc)
        widths = [16 * ngf, 8 * ngf, 4 * ngf, 2 * ngf, ngf] + ([ngf // 2] if depth == "most" else [])
        self.up_blocks = nn.ModuleList(SPADEResBlock(fin, fout, label_nc) for fin, fout in zip(widths, widths[1:]))
        self.conv_img = Conv2d(widths[-1], output_nc, 3, padding=1)

    @property
    def size_multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 2**self.ups

    @property
    def input_size(self) -> tuple[int, int] | None:
        """(h, w) that inputs must have: fixed by the style code's grid with use_vae, free otherwise."""
        return None if self.encoder is None else (self.grid[0] * 2**self.ups, self.grid[1] * 2**self.ups)

    def forward(self, label_map: torch.Tensor, style: torch.Tensor | None = None, z: torch.Tensor | None = None):
        kld = None
        if self.encoder is None:
            x = self.fc(F.interpolate(label_map, size=[s // 2**self.ups for s in label_map.shape[-2:]]))
        else:
            if style is not None:
                mu, logvar = self.encoder(style)
                z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
                kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            elif z is None:
                z = torch.randn(label_map.shape[0], self.z_dim, device=label_map.device)
            x = self.fc(z.to(self.fc.weight.dtype))
            x = x.view(z.shape[0], self.fc.out_features // (self.grid[0] * self.grid[1]), *self.grid)
        if self.training and x[:, 0].numel() < 2:
            self._refuse_batch_of_one(x, label_map)
        x = self.head_0(x, label_map)
        x = self.G_middle_0(F.interpolate(x, scale_factor=2.0), label_map)
        if self.depth != "normal":
            x = F.interpolate(x, scale_factor=2.0)
        x = self.G_middle_1(x, label_map)
        for block in self.up_blocks:
            x = block(F.interpolate(x, scale_factor=2.0), label_map)
        photo = torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))
        return photo if style is None else (photo, kld)

    def _refuse_batch_of_one(self, x: torch.Tensor, label_map: torch.Tensor) -> None:
        """A UserError for a training batch with one value per channel on the starting grid (batch norm's error
        would be a traceback): a batch of one image on a 1x1 grid, such as an epoch's last batch."""
        h, w = label_map.shape[-2:]
        raise UserError(f"--netG spade cannot train on a batch of {x.shape[0]} image of {w}x{h} px: its starting grid "
                        f"is {x.shape[-1]}x{x.shape[-2]}, where batch norm needs two images or more (an epoch's last "
                        f"batch holds one image when the training images are one more than a multiple of "
                        f"--batch_size): pass another --batch_size, or --crop_size "
                        f"{smallest_crop(self.depth, 1, self.aspect, self.encoder is not None)} or more")


def spade_options(g: argparse._ArgumentGroup) -> None:
    """SPADE's generator (--netG spade): its upsampling depth and its optional style encoder."""
    g.add_argument("--num_upsampling_layers", resume=REFUSE, default="normal", choices=list(SPADE_DEPTHS),
                   help="--netG spade upsamples 5 times from a grid of side/32 (normal), 6 from side/64 (more: one "
                        "more between its middle blocks), or 7 (most: one more block at the end)")
    g.add_argument("--use_vae", resume=REFUSE, action="store_true",
                   help="--netG spade with SPADE's image encoder: in training G's style code comes from the target "
                        "photo (plus a KL term, --lambda_kld), at test time it is drawn at random, so that test.py "
                        "--n_samples K gives K different photos of a label map")
    g.add_argument("--z_dim", resume=REFUSE, type=positive_int, default=256, help="size of the style code of --use_vae")
    g.add_argument("--image_aspect", resume=REFUSE, type=positive_finite, default=1.0,
                   help="width/height of the training crops, which fixes --use_vae's starting grid (2 for "
                        "cityscapes at 256x128)")
