"""The generators' convolutions: nn.Conv2d and nn.ConvTranspose2d, computed as one matrix product on the CPU when
the input is small.

A U-Net's deepest layers see 1x1 to 8x8 pixels through 4-8 M weights. oneDNN re-lays out those weights on every
call, which at such sizes costs several times the arithmetic (7 ms instead of 1 ms for a 1024->512 transposed
convolution on 2x2 pixels, bf16, on a 2-core AVX512 CPU). As a matrix product (im2col for a convolution, col2im for
a transposed one) the weights are read in place. The parameters, their layout and the results are those of the
torch modules; GPUs, torch.compile and `use_matrix_products(net, False)` (--kernels torch) take torch's kernels.
"""
from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

SMALL_INPUT = 64  # input pixels (8x8) up to which the matrix product is the faster form on CPUs
_frozen: dict[int, tuple] | None = None  # weight matrices kept while the weights are frozen, by id(module)


def use_matrix_products(net: nn.Module, enabled: bool) -> None:
    """Switch the matrix-product form on or off for the convolutions of a network (--kernels auto / torch)."""
    for module in net.modules():
        if isinstance(module, (Conv2d, ConvTranspose2d)):
            module.matrix_products = enabled


@contextlib.contextmanager
def frozen_weights() -> Iterator[None]:
    """While the weights do not change (a series of test passes), convert each weight matrix once, not per call.

    autocast keeps its casts of a weight only within its region, and only of the weight itself, not of a reshaped
    view. Nothing in the weights may change meanwhile: the copies are not checked against them.
    """
    global _frozen
    outer = _frozen is None
    if outer:
        _frozen = {}
    try:
        yield
    finally:
        if outer:
            _frozen = None


def _as_matmul(module: nn.Module, x: torch.Tensor) -> bool:
    return (module.matrix_products and x.device.type == "cpu" and x.dim() == 4
            and x.shape[-2] * x.shape[-1] <= SMALL_INPUT and module.groups == 1 and module.dilation == (1, 1)
            and module.padding_mode == "zeros" and isinstance(module.padding, tuple)
            and not torch.compiler.is_compiling())


def _weight_matrix(module: nn.Module, x: torch.Tensor, rows: int) -> torch.Tensor:
    """The weight as a rows x columns matrix in the dtype the product runs in (autocast's, when it is on)."""
    weight, device = module.weight, x.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else weight.dtype
    if _frozen is None or torch.is_grad_enabled() or not isinstance(weight, nn.Parameter):
        return weight.to(dtype).reshape(rows, -1)  # weight noise passes fresh tensors: never kept
    kept = _frozen.get(id(module))
    if kept is None or kept[0]() is not weight or kept[1] != dtype:
        kept = (weakref.ref(weight), dtype, weight.detach().to(dtype).reshape(rows, -1))
        _frozen[id(module)] = kept
    return kept[2]


def _bias(module: nn.Module, out: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    if module.bias is None:
        return out
    return out + module.bias.to(out.dtype).view(shape)  # in the product's dtype, as autocast does for convolutions


class Conv2d(nn.Conv2d):
    """nn.Conv2d; on small CPU inputs, unfold + one matrix product."""

    matrix_products = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _as_matmul(self, x):
            return super().forward(x)
        n, _, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        cols = F.unfold(x, (kh, kw), padding=(ph, pw), stride=(sh, sw))  # n x (in * kh * kw) x L
        # (n*L x in*kh*kw) @ (in*kh*kw x out): one 2-D product whatever n, and the weight matrix read in place
        out = cols.transpose(1, 2) @ _weight_matrix(self, x, self.out_channels).t()
        out = out.transpose(1, 2).reshape(n, self.out_channels, (h + 2 * ph - kh) // sh + 1,
                                          (w + 2 * pw - kw) // sw + 1)
        return _bias(self, out, (1, -1, 1, 1))


class ConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d; on small CPU inputs, one matrix product + fold."""

    matrix_products = True

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None or self.output_padding != (0, 0) or not _as_matmul(self, x):
            return super().forward(x, output_size)
        n, c, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        cols = x.reshape(n, c, h * w).transpose(1, 2) @ _weight_matrix(self, x, c)  # n x L x (out * kh * kw)
        size = ((h - 1) * sh - 2 * ph + kh, (w - 1) * sw - 2 * pw + kw)
        out = F.fold(cols.transpose(1, 2), size, (kh, kw), padding=(ph, pw), stride=(sh, sw))
        return _bias(self, out, (1, -1, 1, 1))
