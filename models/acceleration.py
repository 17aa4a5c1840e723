"""The fast path: mixed precision (--amp), channels-last memory layout (--channels_last) and torch.compile
(--compile), with defaults chosen per device.

Each flag takes auto, on or off (--amp also bf16 or fp16); `resolve_speed_options` turns auto into what is safe
and faster on the device the run uses:

- --amp: bf16 autocast on GPUs that support it, fp16 with a gradient scaler on older GPUs, bf16 on CPUs with native
  bf16 arithmetic (AVX512-BF16 or AMX); off on other CPUs, where bf16 is emulated and slower than fp32.
- --channels_last: on GPUs with --amp (tensor cores read NHWC); off on CPUs, where oneDNN is as fast in NCHW and
  Adam's fused update is 3x slower on NHWC parameters.
- --compile: off unless asked for: its first steps spend minutes compiling, which a short run never earns back.
- --allocator: reuse (glibc's malloc keeps freed memory, util/allocator.py) for CPU runs on Linux; system elsewhere.
"""
from __future__ import annotations

import argparse
import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from options.parser import RUN_ALWAYS
from util.allocator import keep_freed_memory, reuse_supported
from util.errors import warn
from util.util import run_device

from .networks import set_grad_checkpoint, use_matrix_products

SWITCHES = ("auto", "on", "off")
AMP_MODES = (*SWITCHES, "bf16", "fp16")
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
KERNELS = ("auto", "torch")
ALLOCATORS = ("auto", "reuse", "system")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bf16 natively (AVX512-BF16 or AMX), so that bf16 autocast pays off."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def best_amp_dtype(device: torch.device) -> str:
    """bf16 where the device computes it natively, else fp16 (GPUs before Ampere, where bf16 is only emulated)."""
    if device.type == "cuda" and torch.cuda.get_device_capability(device) < (8, 0):
        return "fp16"
    return "bf16"


def resolve_speed_options(opt: argparse.Namespace) -> None:
    """Replace auto/on in opt.amp, opt.channels_last and opt.compile by what this run will do."""
    device = run_device(opt.gpu_ids)
    if opt.amp == "on":
        opt.amp = best_amp_dtype(device)
    elif opt.amp == "auto":
        fast = device.type == "cuda" or cpu_has_native_bf16()
        opt.amp = best_amp_dtype(device) if fast else "off"
    if opt.amp == "fp16" and device.type == "cpu" and "amp" in opt.explicit:
        warn("--amp fp16 on the CPU is slow (no fp16 arithmetic there); it is meant for older GPUs, use bf16")
    if opt.channels_last == "auto":
        opt.channels_last = "on" if device.type == "cuda" and opt.amp != "off" else "off"
    if opt.compile == "auto":
        opt.compile = "off"
    if opt.allocator == "auto":
        opt.allocator = "reuse" if device.type == "cpu" and reuse_supported() else "system"
    elif opt.allocator == "reuse" and not reuse_supported():
        warn("--allocator reuse needs Linux's glibc malloc; this system's allocator is kept")
        opt.allocator = "system"


def describe_speed(opt: argparse.Namespace, cached: bool = False) -> str:
    """One line saying which parts of the fast path this run uses (cached: the images are in memory)."""
    parts = [f"{opt.amp} autocast" if opt.amp != "off" else "fp32",
             "channels-last" if opt.channels_last == "on" else "NCHW",
             "torch.compile" if opt.compile == "on" else "eager"]
    if getattr(opt, "kernels", "auto") == "torch":
        parts.append("torch's kernels")
    if getattr(opt, "allocator", "system") == "reuse":
        parts.append("freed memory reused")
    if cached:
        parts.append("images cached in memory")
    return ", ".join(parts)


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """Mixed-precision context for the networks' forward passes (a no-op with --amp off)."""
    if amp == "off":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=AMP_DTYPES[amp])


def to_float(outputs: Any) -> Any:
    """A network's outputs (tensors, possibly nested in lists and dicts) as float32, so losses are computed in full
    precision."""
    if isinstance(outputs, torch.Tensor):
        return outputs.float()
    if isinstance(outputs, dict):
        return {k: to_float(v) for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return type(outputs)(to_float(o) for o in outputs)
    return outputs


def split_batch(outputs: Any, parts: int) -> list[Any]:
    """A network's outputs on `parts` batches stacked along dimension 0 (tensors, possibly nested in lists and
    dicts), as the outputs on each batch."""
    if isinstance(outputs, torch.Tensor):
        return list(outputs.chunk(parts))
    if isinstance(outputs, dict):
        split = {k: split_batch(v, parts) for k, v in outputs.items()}
        return [{k: v[i] for k, v in split.items()} for i in range(parts)]
    split = [split_batch(o, parts) for o in outputs]
    return [type(outputs)(s[i] for s in split) for i in range(parts)]


def memory_format(channels_last: str) -> torch.memory_format:
    """The layout that images and network weights are kept in."""
    return torch.channels_last if channels_last == "on" else torch.contiguous_format


def accelerate(nets: dict[str, nn.Module], opt: argparse.Namespace, eager: set[str] = frozenset()
               ) -> dict[str, nn.Module]:
    """Put the networks on the fast path: the C allocator's reuse of freed memory (--allocator), the memory layout
    of --channels_last, the CPU matrix-product kernels unless --kernels torch, activation checkpointing with
    --grad_checkpoint, cuDNN's autotuning for fixed image sizes on GPUs, and torch.compile with --compile (except
    the `eager` ones). Returns the compiled runners by name (the networks themselves stay plain modules, for
    checkpoints and state dicts)."""
    layout = memory_format(getattr(opt, "channels_last", "off"))
    if getattr(opt, "allocator", "system") == "reuse":
        keep_freed_memory()
    on_gpu = any(p.is_cuda for net in nets.values() for p in net.parameters())
    if on_gpu and opt.preprocess not in ("scale_width", "none"):
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN time and pick its fastest kernels
    for net in nets.values():
        if layout == torch.channels_last:
            net.to(memory_format=layout)
        use_matrix_products(net, getattr(opt, "kernels", "auto") != "torch")
        set_grad_checkpoint(net, getattr(opt, "grad_checkpoint", False))
    if getattr(opt, "compile", "off") != "on":
        return {}
    for name in sorted(eager & set(nets)):
        warn(f"--compile: net{name} runs eagerly (its weights are drawn anew at every pass)")
    return {name: CompiledOrEager(net, name) for name, net in nets.items() if name not in eager}


def adam(params: Iterator[nn.Parameter], lr: float, betas: tuple[float, float], fused: bool = True) -> torch.optim.Adam:
    """Adam with the fused kernel (one pass over each parameter instead of about ten), or the multi-tensor one;
    fused=False: torch's default implementation for the device (--kernels torch)."""
    params = list(params)
    if not fused:
        return torch.optim.Adam(params, lr=lr, betas=betas)
    try:
        return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
    except (RuntimeError, TypeError):  # a device or torch version without the fused kernel
        return torch.optim.Adam(params, lr=lr, betas=betas, foreach=True)


class CompiledOrEager(nn.Module):
    """Runs `net` through torch.compile; where compiling fails, warns once and runs it eagerly from then on.

    The network stays a plain submodule, so its parameters and state dict are the original ones. The backward
    graph is compiled later, during the first backward pass; a failure there ends the run (retry --compile off).
    """

    def __init__(self, net: nn.Module, name: str):
        super().__init__()
        self.net, self.name = net, name
        self.compiled: Any = None
        try:
            self.compiled = torch.compile(net)
        except Exception as exc:  # torch.compile itself missing or refusing this platform
            self._fall_back(exc)

    def _fall_back(self, exc: BaseException) -> None:
        self.compiled = None
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        warn(f"--compile: torch.compile failed for net{self.name} ({first}); running it eagerly")

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.compiled is None:
            return self.net(*args, **kwargs)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return self.compiled(*args, **kwargs)
        except torch.cuda.OutOfMemoryError:
            raise
        except Exception as exc:  # a compiler failure (no C++ compiler, unsupported op, ...): a real error in the
            self._fall_back(exc)  # network shows again, unchanged, in the eager run below
            return self.net(*args, **kwargs)


def speed_options(g: argparse._ArgumentGroup) -> None:
    """speed (auto: the fastest safe choice for the device, see docs/speed.md): the fast path."""
    g.add_argument("--amp", nargs="?", const="on", default="auto", choices=AMP_MODES, run=RUN_ALWAYS,
                   help="mixed precision: bf16 autocast, or fp16 with a gradient scaler (GPUs without bf16); the "
                        "flag alone picks the dtype; auto: on for GPUs and for CPUs with native bf16")
    g.add_argument("--channels_last", nargs="?", const="on", default="auto", choices=SWITCHES,
                   run=RUN_ALWAYS, help="keep images and weights in the NHWC layout; auto: on together with --amp")
    g.add_argument("--compile", nargs="?", const="on", default="auto", choices=SWITCHES, run=RUN_ALWAYS,
                   help="torch.compile the networks (the first steps compile for a while; falls back to eager with "
                        "a warning where compiling fails); auto: off")
    g.add_argument("--kernels", default="auto", choices=KERNELS, run=RUN_ALWAYS,
                   help="auto: DLIM's faster kernels (Adam's fused update; on CPUs, the U-Net's convolutions of "
                        "inputs up to 8x8 as matrix products); torch: PyTorch's own, as upstream pix2pix")
    g.add_argument("--allocator", default="auto", choices=ALLOCATORS, run=RUN_ALWAYS,
                   help="reuse: the C allocator keeps freed memory for the next step instead of returning it to the "
                        "system (each step's large tensors then need no fresh pages; Linux's glibc only); system: "
                        "its defaults; auto: reuse on CPUs")
