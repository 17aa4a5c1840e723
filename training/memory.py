"""Will a training run fit in the GPU's memory? Predict the peak before the first step, and advise when it will not.

The prediction measures rather than models: one step's losses and gradients (no update) at batch 1 and at batch 2,
sliced from the run's first batch, give torch's peak allocated memory as a line in the batch size; Adam's two
moments per weight, which the first real update allocates, are added. A run whose predicted peak is above what the
GPU has free gets one warning with the figure and the flags that need less (out of memory later is one line with
the same advice, train.py). The probe leaves the run as it was: weights, batch-norm statistics and other buffers,
random streams, the image pool; gradients are dropped. It is skipped with --compile (each batch size would compile
its own graphs).

    check_fits(trainer, lambda: first_batch, opt)   # on CUDA devices; a warning or nothing
"""
from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator

import torch

from util.errors import warn
from util.seeding import rng_state, set_rng_state

GiB = 1024 ** 3


def advice(opt: argparse.Namespace) -> str:
    """The flags that make this run need less memory, as a list for a message."""
    lower = [f"--batch_size {max(1, opt.batch_size // 2)}"] if opt.batch_size > 1 else []
    lower += [] if getattr(opt, "grad_checkpoint", False) else ["--grad_checkpoint"]
    lower += ["--amp"] if opt.gpu_ids and getattr(opt, "amp", "off") == "off" else []
    lower += [f"a smaller --crop_size than {opt.crop_size}"]
    return ", ".join(lower)


class CudaMemory:
    """torch's allocated-memory counters of one CUDA device (tests swap in a fake)."""

    def __init__(self, device: torch.device):
        self.device = device

    def allocated(self) -> int:
        return torch.cuda.memory_allocated(self.device)

    def reset_peak(self) -> None:
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)

    def peak(self) -> int:
        torch.cuda.synchronize(self.device)
        return torch.cuda.max_memory_allocated(self.device)

    def available(self) -> int:
        """Free memory on the device plus what torch's caching allocator holds unused."""
        free, _ = torch.cuda.mem_get_info(self.device)
        return free + torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(self.device)


@contextlib.contextmanager
def untouched(trainer) -> Iterator[None]:
    """Run probe steps that leave no trace: buffers, random streams, the model's extra state (the image pool) and
    the last losses come back as they were; gradients are dropped."""
    model = trainer.model
    buffers = {name: [b.detach().clone() for b in net.buffers()] for name, net in model.nets().items()}
    extra = {k: list(v) if isinstance(v, list) else v for k, v in model.extra_state().items()}
    devices = [model.device.index or 0] if model.device.type == "cuda" else []
    rng, losses = rng_state(devices), trainer.losses
    try:
        yield
    finally:
        with torch.no_grad():
            for name, net in model.nets().items():
                for b, saved in zip(net.buffers(), buffers[name]):
                    b.copy_(saved)
        model.load_extra_state(extra)
        set_rng_state(rng, devices)
        trainer.losses = losses
        for optimizer in trainer.optimizers.values():
            optimizer.zero_grad(set_to_none=True)


def first_images(batch: dict, n: int) -> dict:
    """The first n images of a batch (tensors and lists sliced, anything else kept)."""
    return {k: v[:n] if isinstance(v, (torch.Tensor, list, tuple)) else v for k, v in batch.items()}


def predict_peak(trainer, batch: dict, batch_size: int, meter) -> int:
    """Predicted peak allocated bytes of a training step at `batch_size`, from probe steps at batch 1 and 2."""
    sizes = [1] if batch_size == 1 or len(batch["A"]) < 2 else [1, 2]
    peaks = []
    with untouched(trainer):
        for n in sizes:
            meter.reset_peak()
            trainer.train_step(first_images(batch, n), update=False)
            peaks.append(meter.peak())
            for optimizer in trainer.optimizers.values():
                optimizer.zero_grad(set_to_none=True)
    per_image = peaks[1] - peaks[0] if len(peaks) == 2 else 0
    moments = sum(2 * p.numel() * p.element_size() for o in trainer.optimizers.values() if not o.state
                  for group in o.param_groups for p in group["params"])  # Adam's, allocated by its first update
    return peaks[0] + per_image * (batch_size - 1) + moments


def check_fits(trainer, first_batch: Callable[[], dict], opt: argparse.Namespace, meter=None) -> None:
    """Before the first step on a GPU: warn when the predicted peak is above the memory the device has free.
    first_batch is called only when the probe runs (no images are read for CPU runs)."""
    device = trainer.model.device
    if meter is None:
        if device.type != "cuda" or getattr(opt, "compile", "off") == "on":
            return
        meter = CudaMemory(device)
    peak = predict_peak(trainer, first_batch(), opt.batch_size, meter)
    have = meter.available() + meter.allocated()
    if peak > have:
        where = f"GPU {opt.gpu_ids[0]}" if opt.gpu_ids else str(device)
        warn(f"this run is predicted to need {peak / GiB:.1f} GiB at its peak (--netG {opt.netG}, --netD {opt.netD}, "
             f"--batch_size {opt.batch_size} at --crop_size {opt.crop_size}) and {where} has {have / GiB:.1f} GiB "
             f"for it: it will likely run out of memory; try {advice(opt)}")
