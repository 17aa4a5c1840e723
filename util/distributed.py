"""Multi-process training under torchrun: process group, rank helpers, and agreement between ranks.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them everything here is a no-op for one process.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes logs, pages, options and checkpoints."""
        return self.rank == 0


def world_from_env() -> World:
    """The process's place in a torchrun job (one process when not launched by torchrun)."""
    return World(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                 int(os.environ.get("LOCAL_RANK", 0)))


def init(world: World, use_cuda: bool, timeout_minutes: float) -> None:
    """Join the process group: NCCL between GPUs, gloo on CPUs; a rank that stops answering ends the job after
    the timeout instead of hanging it."""
    if not world.distributed or dist.is_initialized():
        return
    global _control
    timeout = datetime.timedelta(minutes=timeout_minutes)
    if use_cuda:
        torch.cuda.set_device(world.local_rank)
    dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timeout)
    # small agreements (stop now?) go through CPU tensors, so that they never wait for the GPU's queued work
    _control = dist.new_group(backend="gloo", timeout=timeout) if use_cuda else None


def shutdown() -> None:
    global _control
    if dist.is_initialized():
        dist.destroy_process_group()
    _control = None


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


_control = None  # the CPU (gloo) group beside an NCCL one


def _all_reduce(value: float, op: dist.ReduceOp) -> float:
    tensor = torch.tensor([value], dtype=torch.float64)  # on the CPU: gloo, or the control group beside NCCL
    dist.all_reduce(tensor, op=op, group=_control)
    return tensor.item()


def any_rank(flag: bool) -> bool:
    """True on every rank when `flag` is true on at least one (so all ranks stop at the same step)."""
    return bool(_all_reduce(float(flag), dist.ReduceOp.MAX)) if dist.is_initialized() else flag


def mean(value: float) -> float:
    """The mean of `value` over all ranks."""
    return _all_reduce(value, dist.ReduceOp.SUM) / dist.get_world_size() if dist.is_initialized() else value
