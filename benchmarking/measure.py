"""Measurements, each run in a fresh worker process so that its peak memory is its own: the device's matmul peak
(probe) and one config at one batch size (measure): training steps through the Trainer, test-time generation as
test.py runs it, FLOPs, peak memory and the data pipeline alone."""
from __future__ import annotations

import contextlib
import itertools
import os
import platform
import resource
import statistics
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch.profiler import record_function
from torch.utils.benchmark import Timer

from data import DataPipeline, create_dataset
from models import acceleration, create_model, networks
from training.options import TrainOptions
from training.trainer import Trainer
from util.errors import UserError
from util.seeding import seed_everything

from .flops import count_flops
from .profile import profile_steps

MiB = 2**20


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, else what the platform module knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def peak_rss_mib() -> float:
    """This process's peak resident set size so far."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / MiB if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux


def call_times(fn: Callable[[], Any], warmup: int, count: int) -> list[float]:
    """Seconds of each of `count` calls of fn after `warmup` more; torch.utils.benchmark waits for a GPU's queued
    work around each call, as train.py's loss logging does (with the process's threads: its default is one)."""
    timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    if warmup:
        timer.timeit(warmup)
    return [timer.timeit(1).mean for _ in range(count)]


def matmul_peak_gflops(device: torch.device, n: int, dtype: torch.dtype = torch.float32,
                       seconds: float = 2.0) -> float:
    """Best GFLOP/s of an n x n matmul in `dtype` on the device, sampled for `seconds` (shared or virtual CPUs
    slow down in phases)."""
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=g).to(device, dtype) for _ in range(2))
    out = torch.empty(n, n, device=device, dtype=dtype)
    timer = Timer(stmt="torch.mm(a, b, out=out)", globals={"torch": torch, "a": a, "b": b, "out": out},
                  num_threads=torch.get_num_threads())
    timer.timeit(1)
    best = min(timer.blocked_autorange(min_run_time=seconds).times)
    return 2 * n**3 / best / 1e9


def probe(task: dict[str, Any]) -> dict[str, Any]:
    """Describe the device and measure its matmul peak (and the peaks of the mixed-precision dtypes in use)."""
    device = torch.device(task["device"])
    size = task["matmul_size"] or (8192 if device.type == "cuda" else 2048)
    info: dict[str, Any] = {"device": str(device), "cpu": cpu_name(), "logical_cpus": os.cpu_count(),
                            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                            "python": platform.python_version()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_mib=round(props.total_memory / MiB), cuda=torch.version.cuda,
                    matmul_tf32=torch.backends.cuda.matmul.allow_tf32, cudnn_tf32=torch.backends.cudnn.allow_tf32)
    info.update(matmul_size=size, matmul_peak_gflops=matmul_peak_gflops(device, size))
    for amp in task.get("amp_dtypes", []):  # the peak that mixed-precision runs are measured against
        info[f"matmul_peak_gflops_{amp}"] = matmul_peak_gflops(device, size, acceleration.AMP_DTYPES[amp])
    return info


def endless_batches(data: DataPipeline) -> Iterator[dict[str, Any]]:
    """The loader's batches, epoch after epoch."""
    epoch = 1
    while True:
        data.set_epoch(epoch)
        empty = True
        for batch in data:
            empty = False
            yield batch
        if empty:
            raise UserError("the dataset yields no batches: check --dataroot, --phase and --max_dataset_size")
        epoch += 1


def loader_images_per_s(data: DataPipeline, warmup: int, count: int) -> float:
    """Images per second the data pipeline delivers on its own, after `warmup` batches."""
    batches = endless_batches(data)
    for _ in range(warmup):
        next(batches)
    images = 0

    def next_batch() -> None:
        nonlocal images
        images += len(next(batches)["A"])

    timer = Timer(stmt="fn()", globals={"fn": next_batch}, num_threads=torch.get_num_threads())
    seconds = timer.timeit(count).mean * count
    return images / seconds


def random_batches(opt: Any, device: torch.device, size: tuple[int, int]) -> Iterator[dict[str, Any]]:
    """One batch of random images of (width, height) already on the device, repeated: the network's speed without
    the loader."""
    g, (w, h), n = torch.Generator().manual_seed(opt.seed), size, opt.batch_size
    batch = {"A": (torch.rand(n, opt.input_nc, h, w, generator=g) * 2 - 1).to(device),
             "B": (torch.rand(n, opt.output_nc, h, w, generator=g) * 2 - 1).to(device),
             "A_paths": ["synthetic"] * n}
    return itertools.repeat(batch)


def measure(task: dict[str, Any]) -> dict[str, Any]:
    """Time training steps and test-time generation of one config at one batch size."""
    opt = TrainOptions().parse(task["flags"])
    rss_start = peak_rss_mib()
    seed_everything(opt.seed)
    data = create_dataset(opt) if task["loader"] else None  # before the model: a bad dataset fails fast
    trainer = Trainer(create_model(opt), opt)
    model, bs = trainer.model, opt.batch_size
    model.train()
    if model.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(model.device)
    size = tuple(task.get("size") or (opt.crop_size, opt.crop_size))  # (width, height)
    batches = endless_batches(data) if data is not None else random_batches(opt, model.device, size)
    test_batch = next(batches)

    def train_step() -> None:
        with record_function("data"):
            batch = next(batches)
        trainer.train_step(batch)

    def test_step() -> None:
        model.set_input({"A": test_batch["A"], "A_paths": test_batch["A_paths"]})
        model.test()

    train_times = call_times(train_step, task["warmup"], task["steps"])
    train_flops = count_flops(train_step)
    with model.generating():  # as test.py runs the generator
        test_times = call_times(test_step, task["warmup"], task["test_steps"])
        test_flops = count_flops(test_step)
    result = summarise(train_times, test_times, train_flops, test_flops, bs)
    peak = torch.cuda.max_memory_allocated(model.device) / MiB if model.device.type == "cuda" else peak_rss_mib()
    result.update(params={name: networks.count_parameters(net) for name, net in model.nets().items()},
                  speed=acceleration.describe_speed(opt, data is not None and data.cache is not None), amp=opt.amp,
                  peak_mib=peak, rss_at_start_mib=rss_start if model.device.type == "cpu" else None, size=list(size))
    if task.get("profile"):
        result["profile_ms"] = profile_steps(train_step, count=3, gpu=model.device.type == "cuda")
    if data is not None:
        result["loader_workers"] = 0 if data.cache is not None else opt.num_threads
        result["cache_mib"] = data.cache.nbytes / MiB if data.cache is not None else None
        result["loader_img_per_s"] = loader_images_per_s(data, task["warmup"], max(task["steps"], task["test_steps"]))
    return result


def summarise(train_times: list[float], test_times: list[float], train_flops: int, test_flops: int,
              batch_size: int) -> dict[str, Any]:
    """Speed figures from the step times and FLOP counts."""
    train_s, test_s = statistics.fmean(train_times), statistics.fmean(test_times)
    return {
        "s_per_step": train_s, "train_steps_per_s": 1 / train_s, "train_img_per_s": batch_size / train_s,
        "gflop_per_step": train_flops / 1e9, "train_gflops": train_flops / train_s / 1e9,
        "test_s_per_batch": test_s, "test_img_per_s": batch_size / test_s,
        "test_gflop_per_batch": test_flops / 1e9, "test_gflops": test_flops / test_s / 1e9,
        "median_s_per_step": statistics.median(train_times), "step_times_s": train_times,
        "median_test_s_per_batch": statistics.median(test_times), "test_times_s": test_times,
    }
