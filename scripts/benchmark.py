"""Measure training and test-time speed, peak memory and FLOP use of DLIM models.

    python scripts/benchmark.py --netG unet_256 --netD basic --batch_sizes 1,4 --crop_size 256
    python scripts/benchmark.py --compare --profile --dataroot ./datasets/facades -- --direction BtoA
    python scripts/benchmark.py --configs 'vanilla=;lsgan=--gan_mode lsgan' --json bench.json

A config is a named list of extra train.py flags; flags after `--` go to every config. --compare measures the
plain path (fp32, NCHW, eager, images decoded from disk every epoch, as upstream pix2pix) against the fast path
that train.py picks for the device. Training steps take their batches from --dataroot's data pipeline (the
loader, or the in-memory cache) when it is given, else random tensors already on the device; --dataroot also
times the pipeline on its own. Every (config, batch size) is measured in a fresh subprocess, so its peak memory
(GPU: allocated by torch; CPU: the process's peak RSS) is its own.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from torch.profiler import record_function  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from data import DataPipeline, create_dataset  # noqa: E402
from models import acceleration, create_model, networks  # noqa: E402
from models.checkpoint import seed_everything  # noqa: E402
from options.train_options import TrainOptions  # noqa: E402
from options.types import nonnegative_int, positive_int  # noqa: E402
from util.errors import (  # noqa: E402
    ArgumentParser,  # noqa: E402
    HelpFormatter,
    UserError,
    main_guard,
)
from util.fileio import atomic_write_text  # noqa: E402
from util.util import run_device  # noqa: E402

MiB = 2**20
PLAIN_FLAGS = ["--amp", "off", "--channels_last", "off", "--compile", "off", "--kernels", "torch",
               "--cache_dataset", "off"]
WORKER = "--worker"  # internal: `benchmark.py --worker TASK_JSON` measures one task and prints RESULT + json
RESULT = "@@benchmark-result "


# ---- command line ------------------------------------------------------------------------------------------

def positive_ints(text: str) -> list[int]:
    """'1,4' -> [1, 4]; every value must be a positive integer."""
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers, e.g. 1,4") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive integers, e.g. 1,4")
    return values


def parse_configs(text: str) -> list[tuple[str, list[str]]]:
    """'plain=;fast=--amp --channels_last' -> [('plain', []), ('fast', ['--amp', '--channels_last'])]."""
    configs: list[tuple[str, list[str]]] = []
    for item in text.split(";"):
        if not item.strip():
            continue
        name, sep, flags = item.partition("=")
        name = name.strip()
        if not sep or not name or name.startswith("-") or len(name.split()) > 1:
            raise argparse.ArgumentTypeError(f"{item.strip()!r} is not NAME=FLAGS, "
                                             "e.g. 'plain=;lsgan=--gan_mode lsgan'")
        if name in (n for n, _ in configs):
            raise argparse.ArgumentTypeError(f"config name {name!r} is used twice")
        try:
            configs.append((name, shlex.split(flags)))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"config {name!r}: {exc}") from None
    if not configs:
        raise argparse.ArgumentTypeError("give at least one config, e.g. 'default='")
    return configs


def build_parser() -> ArgumentParser:
    """The benchmark's own options (train.py flags go into --configs or after `--`)."""
    parser = ArgumentParser(description=__doc__.splitlines()[0],
                            usage="%(prog)s [options] [-- train.py flags for every config]",
                            formatter_class=HelpFormatter)
    parser.add_argument("--netG", default="unet_256", choices=sorted(networks.GENERATORS), help="generator")
    parser.add_argument("--netD", default="basic", choices=networks.DISCRIMINATOR_CHOICES, help="discriminator")
    parser.add_argument("--norm", default="batch", choices=sorted(networks.NORMS), help="normalization")
    parser.add_argument("--ngf", type=positive_int, default=64, help="generator filters in the last conv layer")
    parser.add_argument("--ndf", type=positive_int, default=64, help="discriminator filters in the first conv layer")
    parser.add_argument("--crop_size", type=positive_int, default=256, help="side of the square input images")
    parser.add_argument("--batch_sizes", type=positive_ints, default="1,4", metavar="B1,B2,...",
                        help="batch sizes to measure, for training and test-time generation")
    parser.add_argument("--gpu_ids", default="auto", help="-1 for the CPU, 0 for GPU 0; auto: GPU 0 if there is one")
    parser.add_argument("--warmup", type=nonnegative_int, default=3, help="untimed steps before each timing")
    parser.add_argument("--steps", type=positive_int, default=10, help="timed training steps (one D and one G update)")
    parser.add_argument("--test_steps", type=positive_int, default=20, help="timed test-time generator batches")
    parser.add_argument("--configs", type=parse_configs, metavar="NAME=FLAGS;...",
                        help="named lists of extra train.py flags, e.g. 'plain=;lsgan=--gan_mode lsgan'; "
                             "ratios are relative to the first (default: one config, the defaults)")
    parser.add_argument("--compare", action="store_true",
                        help=f"measure the plain path ({' '.join(PLAIN_FLAGS)}) and the device's default fast path "
                             "first, then any --configs given")
    parser.add_argument("--compare_compile", action="store_true",
                        help="with --compare, also measure the fast path with --compile")
    parser.add_argument("--profile", action="store_true",
                        help="also profile a few training steps and print where their time goes (convolutions, "
                             "transposed convolutions, normalisation, optimizer, data, ...)")
    parser.add_argument("--matmul_size", type=nonnegative_int, default=0,
                        help="side of the fp32 matmul that measures the device's peak; 0: 2048 on CPU, 8192 on GPU")
    parser.add_argument("--dataroot", help="train on batches of this dataset (train.py's data options) and time "
                                           "its pipeline alone; default: random tensors")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every figure to this JSON file")
    return parser


def split_passthrough(argv: list[str]) -> tuple[list[str], list[str]]:
    """Split at the first `--`: the benchmark's options before, train.py flags for every config after."""
    if "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1:]


def toolkit_flags(args: argparse.Namespace, batch_size: int, extra: list[str]) -> list[str]:
    """train.py's command line for one measurement; later flags win, so `extra` may override the model."""
    return ["--batch_size", str(batch_size), "--dataroot", args.dataroot or "unused", "--netG", args.netG,
            "--netD", args.netD, "--norm", args.norm, "--ngf", str(args.ngf), "--ndf", str(args.ndf),
            "--crop_size", str(args.crop_size), "--gpu_ids", args.gpu_ids, "--display_id", "0", *extra]


def check_flags(args: argparse.Namespace, batch_size: int, extra: list[str], where: str) -> argparse.Namespace:
    """Parse the flags as train.py would; a mistake becomes a one-line UserError that names `where`."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            opt = TrainOptions().parse(toolkit_flags(args, batch_size, extra))
    except SystemExit as exc:
        if exc.code == 0:  # --help among the flags: train.py's help was printed
            raise
        message = captured.getvalue().strip().split(": error: ", 1)[-1]
        message = message.removesuffix(f" (see {Path(sys.argv[0]).name} --help)")
        raise UserError(f"{where}: {message} (these are train.py's flags: see python train.py --help)") from None
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    if opt.batch_size != batch_size or opt.dataroot != (args.dataroot or "unused"):
        raise UserError(f"{where}: set batch sizes with --batch_sizes and the dataset with --dataroot, "
                        f"not among the train.py flags")
    return opt


# ---- measurements (run in worker subprocesses) ---------------------------------------------------------------

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


def synchronizer(device: torch.device) -> Callable[[], None]:
    """A function that waits for the device's queued work (a no-op on the CPU)."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def call_times(fn: Callable[[], Any], warmup: int, count: int, sync: Callable[[], None]) -> list[float]:
    """Wall times of `count` calls of fn (each waited for, as train.py's loss logging does) after `warmup` more."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return times


class _Totals:
    """Stands in for FlopCounterMode's module tracker: only the total is needed, and the tracker's backward
    hooks break torch.autograd.grad (which the WGAN-GP gradient penalty calls)."""

    parents = {"Global"}

    def __enter__(self) -> _Totals:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of one call of fn, as counted by torch.utils.flop_counter."""
    counter = FlopCounterMode(display=False)
    if hasattr(counter, "mod_tracker"):
        counter.mod_tracker = _Totals()
    with counter:
        fn()
    return counter.get_total_flops()


def matmul_peak_gflops(device: torch.device, n: int, dtype: torch.dtype = torch.float32,
                       seconds: float = 2.0) -> float:
    """Best GFLOP/s of an n x n matmul in `dtype` on the device over `seconds` (torch's default precision
    settings)."""
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=g).to(device, dtype) for _ in range(2))
    out = torch.empty(n, n, device=device, dtype=dtype)
    sync = synchronizer(device)

    def product() -> None:
        torch.mm(a, b, out=out)

    times = call_times(product, warmup=1, count=1, sync=sync)
    deadline = time.perf_counter() + seconds  # shared or virtual CPUs slow down in phases: sample a while
    while len(times) < 5 or time.perf_counter() < deadline:
        times += call_times(product, warmup=0, count=1, sync=sync)
    return 2 * n**3 / min(times) / 1e9


def probe(task: dict[str, Any]) -> dict[str, Any]:
    """Describe the device and measure its matmul peak."""
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


def peak_for(info: dict[str, Any], amp: str) -> float:
    """The matmul peak in the dtype a run computes its convolutions in."""
    return info.get(f"matmul_peak_gflops_{amp}", info["matmul_peak_gflops"])


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


def loader_images_per_s(data: DataPipeline, warmup: int, count: int, sync: Callable[[], None]) -> float:
    """Images per second the data pipeline delivers on its own, after `warmup` batches."""
    batches = endless_batches(data)
    for _ in range(warmup):
        next(batches)
    sync()
    start, images = time.perf_counter(), 0
    for _ in range(count):
        images += len(next(batches)["A"])
    sync()  # the in-memory cache on a GPU queues its work
    return images / (time.perf_counter() - start)


def measure(task: dict[str, Any]) -> dict[str, Any]:
    """Time training steps and test-time generation of one config at one batch size."""
    opt = TrainOptions().parse(task["flags"])
    rss_start = peak_rss_mib()
    seed_everything(opt.seed)
    data = create_dataset(opt) if task["loader"] else None  # before the model: a bad dataset fails fast
    model = create_model(opt)
    model.setup()
    model.train()
    device, sync, bs = model.device, synchronizer(model.device), opt.batch_size
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    if data is not None:
        batches = endless_batches(data)
        test_batch = next(batches)
    else:
        g = torch.Generator().manual_seed(opt.seed)
        side = opt.crop_size
        test_batch = {"A": (torch.rand(bs, opt.input_nc, side, side, generator=g) * 2 - 1).to(device),
                      "B": (torch.rand(bs, opt.output_nc, side, side, generator=g) * 2 - 1).to(device),
                      "A_paths": ["synthetic"] * bs}
        batches = itertools.repeat(test_batch)

    def train_step() -> None:
        with record_function("data"):
            batch = next(batches)
        model.set_input(batch)
        model.optimize_parameters()

    def test_step() -> None:
        model.set_input({"A": test_batch["A"], "A_paths": test_batch["A_paths"]})
        model.test()

    train_times = call_times(train_step, task["warmup"], task["steps"], sync)
    train_flops = count_flops(train_step)
    with model.generating():  # as test.py runs the generator
        test_times = call_times(test_step, task["warmup"], task["test_steps"], sync)
        test_flops = count_flops(test_step)
    train_s, test_s = statistics.fmean(train_times), statistics.fmean(test_times)
    peak = torch.cuda.max_memory_allocated(device) / MiB if device.type == "cuda" else peak_rss_mib()
    result = {
        "params": {name: networks.count_parameters(net) for name, net in model.nets().items()},
        "speed": acceleration.describe_speed(opt), "amp": opt.amp,
        "s_per_step": train_s, "train_steps_per_s": 1 / train_s, "train_img_per_s": bs / train_s,
        "gflop_per_step": train_flops / 1e9, "train_gflops": train_flops / train_s / 1e9,
        "test_s_per_batch": test_s, "test_img_per_s": bs / test_s,
        "test_gflop_per_batch": test_flops / 1e9, "test_gflops": test_flops / test_s / 1e9,
        "peak_mib": peak, "rss_at_start_mib": rss_start if device.type == "cpu" else None,
        "median_s_per_step": statistics.median(train_times), "step_times_s": train_times,
        "median_test_s_per_batch": statistics.median(test_times), "test_times_s": test_times,
    }
    if task.get("profile"):
        result["profile_ms"] = profile_steps(train_step, sync, count=3, gpu=device.type == "cuda")
    if data is not None:
        result["loader_workers"] = 0 if data.cache is not None else opt.num_threads
        result["cache_mib"] = data.cache.nbytes / MiB if data.cache is not None else None
        result["loader_img_per_s"] = loader_images_per_s(data, task["warmup"], max(task["steps"], task["test_steps"]),
                                                         sync)
    return result


# where a training step's time goes: the profiler's operator (or record_function) names that start each category;
# the time of everything an operator calls is counted with it
PROFILE_CATEGORIES = {
    "convolutions": ("aten::convolution", "aten::_convolution", "aten::convolution_backward"),
    "normalisation": ("aten::batch_norm", "aten::instance_norm", "aten::native_batch_norm",
                      "aten::_native_batch_norm_legit", "aten::native_batch_norm_backward"),
    "small convolutions as matrix products": ("aten::im2col", "aten::col2im", "aten::matmul", "aten::mm", "aten::bmm"),
    "dtype and layout copies": ("aten::to", "aten::_to_copy", "aten::contiguous", "aten::copy_"),
    "data (loading, augmentation)": ("data",),
    "compiled graphs": ("CompiledFunction", "CompiledFunctionBackward"),
}
PROFILE_ROOTS = {name: category for category, names in PROFILE_CATEGORIES.items() for name in names}
TRANSPOSED_ARG = {"aten::convolution": 6, "aten::_convolution": 6, "aten::convolution_backward": 7}


def profile_category(event: Any) -> str | None:
    """The category an operator starts, or None (then it counts as its caller's, or as 'other')."""
    name = event.name
    if name.startswith("Optimizer."):
        return "optimizer (step, zero_grad)"
    if name.startswith("Torch-Compiled Region"):
        return "compiled graphs"
    category = PROFILE_ROOTS.get(name)
    if category == "convolutions":
        inputs = getattr(event, "concrete_inputs", None) or []
        index = TRANSPOSED_ARG[name]
        if len(inputs) > index and inputs[index] is True:
            return "transposed convolutions"
    return category


def profile_steps(step: Callable[[], None], sync: Callable[[], None], count: int, gpu: bool) -> dict[str, float]:
    """Milliseconds per training step spent in each category, from torch.profiler over `count` steps: CPU time,
    or on a GPU the time of the kernels each operator launched."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if gpu else [])
    with profile(activities=activities, record_shapes=True) as prof:
        for _ in range(count):
            step()
        sync()
    totals: dict[str, float] = {}
    total, own = ("device_time_total", "self_device_time_total") if gpu else ("cpu_time_total", "self_cpu_time_total")

    def walk(event: Any, inside: bool) -> None:
        category = None if inside else profile_category(event)
        if category is not None:
            totals[category] = totals.get(category, 0.0) + getattr(event, total)
        elif not inside:
            totals["other"] = totals.get("other", 0.0) + getattr(event, own)
        for child in event.cpu_children:
            walk(child, inside or category is not None)

    for event in prof.events():
        if event.cpu_parent is None and event.device_type.name == "CPU":
            walk(event, False)
    return {k: v / 1000 / count for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def worker(task: dict[str, Any]) -> int:
    """Run one task in this (fresh) process and print its result as one marked JSON line."""
    try:
        result = probe(task) if task["kind"] == "probe" else measure(task)
    except torch.cuda.OutOfMemoryError:
        result = {"error": "out of GPU memory"}
    print(RESULT + json.dumps(result), flush=True)
    return 0


# ---- the driver ---------------------------------------------------------------------------------------------

def busy_cpu_fraction(seconds: float = 0.5) -> float | None:
    """Fraction of all CPUs busy over the next `seconds` while this process sleeps (None off Linux)."""
    def sample() -> list[int]:
        return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]

    try:
        before = sample()
        time.sleep(seconds)
        after = sample()
    except (OSError, ValueError):
        return None
    delta = [b - a for a, b in zip(before, after)]
    idle = delta[3] + (delta[4] if len(delta) > 4 else 0)  # idle + iowait
    return 1 - idle / max(1, sum(delta[:8]))


def run_task(task: dict[str, Any], where: str) -> dict[str, Any]:
    """Run a task in a fresh subprocess; its user errors abort the benchmark, a crash becomes an `error`."""
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), WORKER, json.dumps(task)],
                          capture_output=True, text=True)
    if proc.returncode == 2:
        lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("warning:")]
        message = lines[-1].split(": error: ", 1)[-1] if lines else "failed"
        raise UserError(f"{where}: {message}")
    if proc.returncode == 0:
        for line in reversed(proc.stdout.splitlines()):
            if line.startswith(RESULT):
                return json.loads(line[len(RESULT):])
    if proc.returncode == -9:
        return {"error": "killed (out of memory?)"}
    print(f"{where}: the measuring process failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}",
          file=sys.stderr, flush=True)
    return {"error": f"failed (exit {proc.returncode})"}


def fmt(value: float | None, decimals: int = 2) -> str:
    """A figure with thousands separators, '-' when missing."""
    return "-" if value is None else f"{value:,.{decimals}f}"


def table(rows: list[dict[str, Any]], info: dict[str, Any], loader: bool) -> str:
    """The results as an aligned text table."""
    head = ["config", "batch", "train img/s", "s/step", "test img/s", "peak MiB", "GFLOP/step", "GFLOP/s",
            "% peak", "x train", "x test"] + (["loader img/s"] if loader else [])
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append([r["config"], str(r["batch_size"]), r["error"]])
            continue
        cells = [r["config"], str(r["batch_size"]), fmt(r["train_img_per_s"]), fmt(r["s_per_step"], 3),
                 fmt(r["test_img_per_s"]), fmt(r["peak_mib"], 0), fmt(r["gflop_per_step"], 1),
                 fmt(r["train_gflops"], 1), fmt(100 * r["train_gflops"] / peak_for(info, r["amp"]), 1),
                 fmt(r.get("train_ratio")), fmt(r.get("test_ratio"))]
        lines.append(cells + ([fmt(r.get("loader_img_per_s"))] if loader else []))
    return aligned(lines)


def aligned(lines: list[list[str]]) -> str:
    """Rows of cells as columns under the first row and a rule: the first column left-aligned, the others right.
    A shorter row (a failed measurement) is aligned up to its last cell, which is free text."""
    n = len(lines[0])
    widths = [max(len(line[i]) for line in lines if len(line) == n) for i in range(n)]

    def row(line: list[str]) -> str:
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))]
        if len(line) < n:
            cells[-1] = line[-1]
        return "  ".join(cells)

    out = [row(line) for line in lines]
    return "\n".join([out[0], "-" * max(len(x) for x in out), *out[1:]])


def add_ratios(rows: list[dict[str, Any]], first: str) -> None:
    """Give every row its train and test img/s relative to the first config at the same batch size."""
    base = {r["batch_size"]: r for r in rows if r["config"] == first and "error" not in r}
    for r in rows:
        ref = base.get(r["batch_size"])
        if "error" in r or ref is None:
            continue
        r["train_ratio"] = r["train_img_per_s"] / ref["train_img_per_s"]
        r["test_ratio"] = r["test_img_per_s"] / ref["test_img_per_s"]


def describe_device(info: dict[str, Any]) -> str:
    """One line about the device that does the work."""
    if "gpu" in info:
        what = (f"GPU {info['gpu']} ({info['gpu_memory_mib']:,} MiB, CUDA {info['cuda']}; TF32 matmul "
                f"{info['matmul_tf32']}, TF32 cuDNN convs {info['cudnn_tf32']}); host CPU {info['cpu']}")
    else:
        what = f"CPU {info['cpu']} ({info['logical_cpus']} logical CPUs)"
    n = info["matmul_size"]
    peaks = [f"{amp} {info[f'matmul_peak_gflops_{amp}']:,.1f}" for amp in acceleration.AMP_DTYPES
             if f"matmul_peak_gflops_{amp}" in info]
    return (f"device: {what}; torch threads {info['torch_threads']}\n"
            f"matmul peak ({n}x{n}), GFLOP/s: fp32 {info['matmul_peak_gflops']:,.1f}"
            + "".join(f", {p}" for p in peaks))


def print_notes(args: argparse.Namespace, passthrough: list[str], rows: list[dict[str, Any]], device: str) -> None:
    """Explain the table's columns and list the configs' flags."""
    inputs = (f"batches from {args.dataroot}'s data pipeline (loading included)" if args.dataroot
              else "random inputs already on the device")
    print(f"train: one D and one G update per step on {inputs}; test: netG forward without gradients "
          "(model.test()).")
    print("GFLOP/step: forward + backward of one training step, counted by torch.utils.flop_counter; % peak: "
          "achieved GFLOP/s over the matmul peak in the config's dtype (bf16/fp16 with --amp; fp32 configs on "
          "Ampere or newer GPUs run TF32 convolutions, which can pass the fp32 matmul peak).")
    if device == "cpu":
        base = min((r["rss_at_start_mib"] for r in rows if "error" not in r), default=0.0)
        print(f"peak MiB: peak RSS of the measuring process, including ~{base:,.0f} MiB of Python and torch "
              "before the model was built.")
    else:
        print("peak MiB: torch.cuda.max_memory_allocated over training and test.")
    print(f"x train, x test: img/s relative to config {args.configs[0][0]!r} at the same batch size.")
    if args.dataroot:
        print(f"loader img/s: the data pipeline alone on {args.dataroot} (the loader's worker processes, or the "
              "in-memory cache of --cache_dataset); training is data-bound when it is not well above train img/s.")
        for r in rows:
            if r.get("cache_mib") is not None:
                print(f"cache: {r['config']!r} holds the decoded training images in {r['cache_mib']:,.1f} MiB")
                break
    for name, flags in args.configs:
        row = next((r for r in rows if r["config"] == name and "params" in r), {})
        sizes = ", ".join(f"net{k} {v / 1e6:.2f} M" for k, v in row.get("params", {}).items())
        print(f"config {name!r}: {shlex.join(passthrough + flags) or '(no extra flags)'}"
              + (f"  [{row['speed']}; {sizes} parameters]" if row else ""))


def profile_table(rows: list[dict[str, Any]]) -> str:
    """Milliseconds per training step in each category, one column per (config, batch size)."""
    rows = [r for r in rows if "profile_ms" in r]
    categories = sorted({c for r in rows for c in r["profile_ms"]}, key=lambda c: (c == "other", c))
    head = ["ms per step"] + [f"{r['config']} b{r['batch_size']}" for r in rows]
    lines = [head]
    for c in categories:
        lines.append([c] + [fmt(r["profile_ms"].get(c, 0.0), 1) for r in rows])
    lines.append(["total (profiled)"] + [fmt(sum(r["profile_ms"].values()), 1) for r in rows])
    return aligned(lines)


def benchmark(argv: list[str]) -> int:
    """Validate everything, measure each (config, batch size) in its own process, print and save the figures."""
    own, passthrough = split_passthrough(argv)
    args = build_parser().parse_args(own)
    if args.compare_compile and not args.compare:
        raise UserError("--compare_compile adds a config to --compare: pass both")
    given = args.configs or []
    args.configs = given or [("default", [])]
    if args.compare:
        fixed = [("plain", PLAIN_FLAGS), ("fast", [])] + ([("fast+compile", ["--compile", "on"])]
                                                          if args.compare_compile else [])
        clash = {n for n, _ in fixed} & {n for n, _ in given}
        if clash:
            raise UserError(f"--configs: the name {sorted(clash)[0]!r} is taken by --compare; pick another")
        args.configs = fixed + given
    first_bs = args.batch_sizes[0]
    opt = check_flags(args, first_bs, passthrough, "flags after --" if passthrough else "options")
    amps = {check_flags(args, first_bs, passthrough + flags, f"config {name!r}").amp for name, flags in args.configs}

    command = shlex.join([Path(sys.executable).name, *sys.argv])
    print(f"command: {command}")
    print(f"torch {torch.__version__}, Python {platform.python_version()}", flush=True)
    busy = busy_cpu_fraction()
    if busy is not None and busy > 0.25:
        print(f"warning: {busy:.0%} of the CPUs are busy with other processes: the figures will be low and noisy",
              file=sys.stderr, flush=True)
    device = str(run_device(opt.gpu_ids))
    info = run_task({"kind": "probe", "device": device, "matmul_size": args.matmul_size,
                     "amp_dtypes": sorted(amps - {"off"})}, "device probe")
    if "error" in info:
        sys.exit(f"{Path(sys.argv[0]).name}: cannot measure the device's matmul peak: {info['error']}")
    print(describe_device(info), flush=True)

    rows: list[dict[str, Any]] = []
    for name, flags in args.configs:
        for bs in args.batch_sizes:
            print(f"measuring config {name!r} at batch size {bs} ...", end=" ", flush=True)
            start = time.perf_counter()
            task = {"kind": "measure", "flags": toolkit_flags(args, bs, passthrough + flags), "warmup": args.warmup,
                    "steps": args.steps, "test_steps": args.test_steps, "loader": bool(args.dataroot),
                    "profile": args.profile}
            try:
                row = {"config": name, "batch_size": bs, **run_task(task, f"config {name!r}, batch size {bs}")}
            except UserError:
                print("failed", flush=True)
                raise
            rows.append(row)
            print(row.get("error") or f"{time.perf_counter() - start:.0f} s", flush=True)
    add_ratios(rows, args.configs[0][0])

    print()
    print(table(rows, info, bool(args.dataroot)))
    print()
    print_notes(args, passthrough, rows, device)
    if args.profile:
        what = "GPU kernel time" if device != "cpu" else "CPU time"
        print(f"\nwhere a training step's time goes (torch.profiler, {what}, mean of 3 steps; an operator's time "
              "includes what it calls; with --amp, the weights' casts to bf16/fp16 count as copies):")
        print(profile_table(rows))
    if args.json:
        report = {"command": command, "settings": {k: str(v) if isinstance(v, Path) else v
                                                    for k, v in vars(args).items()},
                  "passthrough": passthrough, "device": info, "busy_cpu_fraction_at_start": busy, "results": rows}
        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 1 if any("error" in r for r in rows) else 0


@main_guard
def main(argv: list[str] | None = None) -> int:
    """Entry point: the benchmark, or (internally) one measurement in a worker process."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [WORKER]:
        return worker(json.loads(argv[1]))
    return benchmark(argv)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
