"""Generators: U-Net (pix2pix) and ResNet (Johnson et al.), with upstream pix2pix's layer layout."""
from __future__ import annotations

import torch
from torch import nn

from .conv import Conv2d, ConvTranspose2d
from .norms import conv_bias, get_norm_layer


class UnetSkipBlock(nn.Module):
    """One U-Net level: down conv, the inner levels, up conv, and a skip connection around them."""

    def __init__(self, outer_nc: int, inner_nc: int, in_nc: int | None = None, submodule: nn.Module | None = None,
                 outermost: bool = False, innermost: bool = False, norm: str = "batch",
                 dropout: float | None = None):
        super().__init__()
        self.outermost = outermost
        norm_layer, bias = get_norm_layer(norm), conv_bias(norm)
        in_nc = outer_nc if in_nc is None else in_nc
        downconv = Conv2d(in_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        downrelu, uprelu = nn.LeakyReLU(0.2, True), nn.ReLU(True)
        if outermost:
            upconv = ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [downrelu, downconv, uprelu, upconv, norm_layer(outer_nc)]
        else:
            upconv = ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [downrelu, downconv, norm_layer(inner_nc), submodule, uprelu, upconv, norm_layer(outer_nc)]
            if dropout is not None:
                layers.append(nn.Dropout(dropout))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """U-Net with `num_downs` stride-2 levels: an input of side 2**num_downs reaches 1x1 at the bottleneck.

    `dropout` is the rate of the dropout layers in the deepest levels; None builds no dropout layers (a rate
    of 0 keeps the layers, so that the weights of a net trained with dropout load).
    """

    def __init__(self, input_nc: int, output_nc: int, num_downs: int, ngf: int = 64, norm: str = "batch",
                 dropout: float | None = 0.5):
        super().__init__()
        self.num_downs = num_downs
        block = UnetSkipBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):  # the deepest levels keep ngf*8 filters and use dropout
            block = UnetSkipBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, dropout=dropout)
        for mult in (4, 2, 1):
            block = UnetSkipBlock(ngf * mult, ngf * mult * 2, submodule=block, norm=norm)
        self.model = UnetSkipBlock(output_nc, ngf, in_nc=input_nc, submodule=block, outermost=True, norm=norm)

    @property
    def size_multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 2 ** self.num_downs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ResnetBlock(nn.Module):
    """Two 3x3 convs with reflection padding and a residual connection."""

    def __init__(self, dim: int, norm: str, dropout: float | None):
        super().__init__()
        norm_layer, bias = get_norm_layer(norm), conv_bias(norm)
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(dim), nn.ReLU(True)]
        if dropout is not None:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(dim)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """Two stride-2 downsamplings, `n_blocks` residual blocks, two upsamplings (dropout as in UnetGenerator)."""

    size_multiple = 4

    def __init__(self, input_nc: int, output_nc: int, n_blocks: int, ngf: int = 64, norm: str = "batch",
                 dropout: float | None = 0.5):
        super().__init__()
        norm_layer, bias = get_norm_layer(norm), conv_bias(norm)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias), norm_layer(ngf), nn.ReLU(True)]
        for mult in (1, 2):
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                       norm_layer(ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm, dropout) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                          bias=bias),
                       norm_layer(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
