"""Generators: U-Net (pix2pix) and ResNet (Johnson et al.), with upstream pix2pix's layer layout.

Both double the resolution with transposed convolutions by default (upsample="transpose", upstream's weights), or
with a resize followed by a 3x3 convolution ("resize": nearest neighbour, "bilinear"): a transposed convolution
whose kernel size is not a multiple of its stride covers output pixels unevenly, which draws checkerboard patterns
(Odena et al., Deconvolution and checkerboard artifacts, Distill 2016); a resize-convolution covers all alike.
"""
from __future__ import annotations

import torch
from torch import nn

from .checkpointing import checkpointed, run_segments
from .conv import Conv2d, ConvTranspose2d
from .norms import conv_bias, get_norm_layer

UPSAMPLING = ("transpose", "resize", "bilinear")  # values of --upsample


def upsampling_conv(in_nc: int, out_nc: int, upsample: str, bias: bool = True, kernel_size: int = 4,
                    output_padding: int = 0, transpose_class: type[nn.ConvTranspose2d] = ConvTranspose2d) -> nn.Module:
    """A layer that doubles height and width: a stride-2 transposed convolution (kernel_size, padding 1), or a
    resize (nearest or bilinear) followed by a 3x3 convolution."""
    if upsample == "transpose":
        return transpose_class(in_nc, out_nc, kernel_size, stride=2, padding=1, output_padding=output_padding,
                               bias=bias)
    if upsample not in UPSAMPLING:
        raise ValueError(f"upsample must be one of {', '.join(UPSAMPLING)}, got {upsample!r}")
    resize = nn.Upsample(scale_factor=2, mode="nearest") if upsample == "resize" else \
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
    return nn.Sequential(resize, Conv2d(in_nc, out_nc, 3, padding=1, bias=bias))


class UnetSkipBlock(nn.Module):
    """One U-Net level: down conv, the inner levels, up conv, and a skip connection around them."""

    grad_checkpoint = False  # its down and up layers recompute their activations in backward (--grad_checkpoint)

    def __init__(self, outer_nc: int, inner_nc: int, in_nc: int | None = None, submodule: nn.Module | None = None,
                 outermost: bool = False, innermost: bool = False, norm: str = "batch",
                 dropout: float | None = None, upsample: str = "transpose"):
        super().__init__()
        self.outermost = outermost
        norm_layer, bias = get_norm_layer(norm), conv_bias(norm)
        in_nc = outer_nc if in_nc is None else in_nc
        downconv = Conv2d(in_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        downrelu, uprelu = nn.LeakyReLU(0.2, True), nn.ReLU(True)
        if outermost:
            upconv = upsampling_conv(inner_nc * 2, outer_nc, upsample)
            layers = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = upsampling_conv(inner_nc, outer_nc, upsample, bias)
            layers = [downrelu, downconv, uprelu, upconv, norm_layer(outer_nc)]
        else:
            upconv = upsampling_conv(inner_nc * 2, outer_nc, upsample, bias)
            layers = [downrelu, downconv, norm_layer(inner_nc), submodule, uprelu, upconv, norm_layer(outer_nc)]
            if dropout is not None:
                layers.append(nn.Dropout(dropout))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return run_segments(self, self.model, x)
        return torch.cat([x, run_segments(self, self.model, x)], 1)


class UnetGenerator(nn.Module):
    """U-Net with `num_downs` stride-2 levels: an input of side 2**num_downs reaches 1x1 at the bottleneck.

    `dropout` is the rate of the dropout layers in the deepest levels; None builds no dropout layers (a rate
    of 0 keeps the layers, so that the weights of a net trained with dropout load).
    """

    def __init__(self, input_nc: int, output_nc: int, num_downs: int, ngf: int = 64, norm: str = "batch",
                 dropout: float | None = 0.5, upsample: str = "transpose"):
        super().__init__()
        self.num_downs = num_downs
        block = UnetSkipBlock(ngf * 8, ngf * 8, innermost=True, norm=norm, upsample=upsample)
        for _ in range(num_downs - 5):  # the deepest levels keep ngf*8 filters and use dropout
            block = UnetSkipBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, dropout=dropout, upsample=upsample)
        for mult in (4, 2, 1):
            block = UnetSkipBlock(ngf * mult, ngf * mult * 2, submodule=block, norm=norm, upsample=upsample)
        self.model = UnetSkipBlock(output_nc, ngf, in_nc=input_nc, submodule=block, outermost=True, norm=norm,
                                   upsample=upsample)

    @property
    def size_multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 2 ** self.num_downs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ResnetBlock(nn.Module):
    """Two 3x3 convs with reflection padding and a residual connection."""

    grad_checkpoint = False  # the block recomputes its activations in backward (--grad_checkpoint)

    def __init__(self, dim: int, norm: str, dropout: float | None):
        super().__init__()
        norm_layer, bias = get_norm_layer(norm), conv_bias(norm)
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(dim), nn.ReLU(True)]
        if dropout is not None:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(dim)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return checkpointed(self, self._residual, x)

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """Two stride-2 downsamplings, `n_blocks` residual blocks, two upsamplings (dropout as in UnetGenerator)."""

    size_multiple = 4
    min_side = 8  # its residual blocks pad by reflection and normalise: their grid (a quarter) needs 2x2 or more
    grad_checkpoint = False  # its down and up layers recompute their activations in backward (--grad_checkpoint)

    def __init__(self, input_nc: int, output_nc: int, n_blocks: int, ngf: int = 64, norm: str = "batch",
                 dropout: float | None = 0.5, upsample: str = "transpose"):
        super().__init__()
        norm_layer, bias = get_norm_layer(norm), conv_bias(norm)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias), norm_layer(ngf), nn.ReLU(True)]
        for mult in (1, 2):
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                       norm_layer(ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm, dropout) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [upsampling_conv(ngf * mult, ngf * mult // 2, upsample, bias, kernel_size=3, output_padding=1,
                                       transpose_class=nn.ConvTranspose2d),
                       norm_layer(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_segments(self, self.model, x)
