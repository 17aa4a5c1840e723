"""The benchmark's command line and driver: validate the flags, run each measurement in a fresh process, print
and save the figures. The model, data and speed flags are train.py's own (parsed by TrainOptions)."""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from options.types import nonnegative_int, positive_int
from training.options import TrainOptions
from util.errors import ArgumentParser, HelpFormatter, UserError
from util.fileio import atomic_write_text, check_writable
from util.outputs import OutputGuard
from util.util import run_device

from . import costs, report

PLAIN_FLAGS = ["--amp", "off", "--channels_last", "off", "--compile", "off", "--kernels", "torch",
               "--allocator", "system", "--cache_dataset", "off"]
WORKER = "--worker"  # internal: `benchmark.py --worker TASK_JSON` measures one task and prints RESULT + json
RESULT = "@@benchmark-result "


def positive_ints(text: str) -> list[int]:
    """'1,4' -> [1, 4]; every value must be a positive integer."""
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers, e.g. 1,4") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive integers, e.g. 1,4")
    if len(set(values)) < len(values):
        raise argparse.ArgumentTypeError(f"{text!r} names a batch size twice: give each once")
    return values


def parse_configs(text: str) -> list[tuple[str, list[str]]]:
    """'plain=;fast=--amp --channels_last' -> [('plain', []), ('fast', ['--amp', '--channels_last'])]."""
    configs: list[tuple[str, list[str]]] = []
    for item in (i for i in text.split(";") if i.strip()):
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
    """The benchmark's own options; every other flag is train.py's (model, data, device, speed)."""
    parser = ArgumentParser(description="Measure training and test-time speed, peak memory and FLOP use of DLIM "
                                        "models; other flags are train.py's (e.g. --netG, --crop_size, --gpu_ids, "
                                        "--dataroot) and apply to every config",
                            usage="%(prog)s [options] [train.py flags] [-- train.py flags]",
                            formatter_class=HelpFormatter)
    parser.add_argument("--batch_sizes", type=positive_ints, default="1,4", metavar="B1,B2,...",
                        help="batch sizes to measure, for training and test-time generation")
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
                        help="also profile a few training steps and print where their time goes")
    parser.add_argument("--matmul_size", type=nonnegative_int, default=0,
                        help="side of the fp32 matmul that measures the device's peak; 0: 2048 on CPU, 8192 on GPU")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every figure to this JSON file")
    parser.add_argument("--overwrite", action="store_true",
                        help="write --json, --csv or --plot over a file benchmark.py did not make")
    g = parser.add_argument_group("cost curves")
    g.add_argument("--sizes", type=costs.sizes, metavar="S1,S2,...",
                   help="image sizes to measure each config at, SIDE or WIDTHxHEIGHT (e.g. 128,256,512,1024x512; "
                        "non-square sizes need random batches, no --dataroot); memory and time are then fitted "
                        "against the megapixels of a batch")
    g.add_argument("--predict", type=costs.prediction_point, action="append", default=[], metavar="SIZE,BATCH",
                   help="print the fitted peak memory and step time of an unmeasured run, e.g. 1024x512,4 "
                        "(repeatable)")
    g.add_argument("--csv", type=Path, metavar="PATH", help="write the cost curves' points to this CSV file")
    g.add_argument("--plot", type=Path, metavar="PATH", help="draw the cost curves into this image (needs --csv)")
    return parser


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The benchmark's options, and train.py's flags (those it does not know, and those after `--`)."""
    cut = argv.index("--") if "--" in argv else len(argv)
    args, unknown = build_parser().parse_known_args(argv[:cut])
    if args.compare_compile and not args.compare:
        raise UserError("--compare_compile adds a config to --compare: pass both")
    if args.plot and not args.csv:
        raise UserError("--plot draws the figure from the --csv file: pass --csv PATH too")
    check_outputs(args, dataroot(unknown + argv[cut + 1:]))
    points = {w * h * b for w, h in (args.sizes or [(1, 1)]) for b in args.batch_sizes}
    if args.predict and len(points) < 2:
        raise UserError(f"--predict reads a line fitted through the measured runs, and --batch_sizes "
                        f"{','.join(map(str, args.batch_sizes))}{' with --sizes' if args.sizes else ''} measures one "
                        f"point (one number of megapixels per batch): measure two or more, e.g. --batch_sizes 1,4 or "
                        f"--sizes 128,256")
    given = args.configs or []
    args.configs = given or [("default", [])]
    if args.compare:
        fixed = [("plain", PLAIN_FLAGS), ("fast", [])] + ([("fast+compile", ["--compile", "on"])]
                                                          if args.compare_compile else [])
        clash = {n for n, _ in fixed} & {n for n, _ in given}
        if clash:
            raise UserError(f"--configs: the name {sorted(clash)[0]!r} is taken by --compare; pick another")
        args.configs = fixed + given
    flags = unknown + argv[cut + 1:]
    args.config_sizes = {}
    if args.sizes:
        if dataroot(flags) and any(w != h for w, h in args.sizes):
            raise UserError("--sizes: non-square sizes need random batches: leave out --dataroot")
        if any(f in ("--crop_size", "--load_size") or f.startswith(("--crop_size=", "--load_size=")) for f in flags):
            raise UserError("--sizes sets --crop_size and --load_size: leave them out of the train.py flags")
        args.configs, base = [], args.configs
        for name, config in base:
            for w, h in args.sizes:
                sized = f"{name}{costs.SIZE_SEP}{w}x{h}"
                args.configs.append((sized, [*config, "--load_size", str(w), "--crop_size", str(w)]))
                args.config_sizes[sized] = (w, h)
    return args, flags


def check_outputs(args: argparse.Namespace, data: str | None) -> None:
    """Before anything is measured: the --json, --csv and --plot files can be written, and --plot's extension is
    a format matplotlib draws."""
    for flag in ("json", "csv", "plot"):
        path = getattr(args, flag)
        if path is None:
            continue
        if path.is_dir():
            raise UserError(f"--{flag} {path} is a folder: pass a file path")
        reads = (Path(data),) if data else ()  # the dataset whose batches it times
        OutputGuard(tool="benchmark.py", flag=f"--{flag}", reads=reads, overwrite=args.overwrite).claim([path])
        check_writable(path.parent, f"--{flag} {path}")
    if args.plot and args.plot.suffix:
        from matplotlib.figure import Figure

        formats = Figure().canvas.get_supported_filetypes()
        if args.plot.suffix[1:].lower() not in formats:
            raise UserError(f"--plot {args.plot}: matplotlib draws no {args.plot.suffix} files: end it in one of "
                            f"{', '.join('.' + f for f in sorted(formats))}")


def dataroot(flags: list[str]) -> str | None:
    """The --dataroot among train.py's flags (its batches are then timed), else None (random tensors)."""
    for i, flag in enumerate(flags):
        if flag.startswith("--dataroot="):
            return flag.split("=", 1)[1]
        if flag == "--dataroot" and i + 1 < len(flags):
            return flags[i + 1]
    return None


def toolkit_flags(flags: list[str], batch_size: int, config: list[str]) -> list[str]:
    """train.py's command line for one measurement (a dataset named only when batches come from one)."""
    root = [] if dataroot(flags) else ["--dataroot", "unused"]
    return ["--batch_size", str(batch_size), "--display_id", "0", *root, *flags, *config]


def check_flags(flags: list[str], config: list[str], where: str) -> argparse.Namespace:
    """Parse one config's flags as train.py would; a mistake becomes a one-line UserError that names `where`."""
    if any(f == "--batch_size" or f.startswith("--batch_size=") for f in flags + config):
        raise UserError(f"{where}: set batch sizes with --batch_sizes, not among the train.py flags")
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            return TrainOptions().parse(toolkit_flags(flags, 1, config))
    except SystemExit as exc:
        if exc.code == 0:  # --help among the flags: train.py's help was printed
            raise
        message = captured.getvalue().strip().split(": error: ", 1)[-1]
        message = message.removesuffix(f" (see {Path(sys.argv[0]).name} --help)")
        raise UserError(f"{where}: {message} (these are train.py's flags: see python train.py --help)") from None
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None


def run_task(task: dict[str, Any], where: str) -> dict[str, Any]:
    """Run a task in a fresh subprocess; its user errors abort the benchmark, a crash becomes an `error`."""
    proc = subprocess.run([sys.executable, "-m", "benchmarking.worker", json.dumps(task)], capture_output=True,
                          text=True)
    if proc.returncode == 2:
        lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("warning:")]
        raise UserError(f"{where}: {lines[-1].split(': error: ', 1)[-1] if lines else 'failed'}")
    if proc.returncode == 0:
        for line in reversed(proc.stdout.splitlines()):
            if line.startswith(RESULT):
                return json.loads(line[len(RESULT):])
    if proc.returncode == -9:
        return {"error": "killed (out of memory?)"}
    print(f"{where}: the measuring process failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}",
          file=sys.stderr, flush=True)
    return {"error": f"failed (exit {proc.returncode})"}


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


def measure_all(args: argparse.Namespace, flags: list[str]) -> list[dict[str, Any]]:
    """Each (config, batch size) measured in its own process, in order."""
    rows = []
    for name, config in args.configs:
        for bs in args.batch_sizes:
            print(f"measuring config {name!r} at batch size {bs} ...", end=" ", flush=True)
            start = time.perf_counter()
            task = {"kind": "measure", "flags": toolkit_flags(flags, bs, config), "warmup": args.warmup,
                    "steps": args.steps, "test_steps": args.test_steps, "loader": dataroot(flags) is not None,
                    "profile": args.profile, "size": args.config_sizes.get(name)}
            try:
                row = {"config": name, "batch_size": bs, **run_task(task, f"config {name!r}, batch size {bs}")}
            except UserError:
                print("failed", flush=True)
                raise
            rows.append(row)
            print(row.get("error") or f"{time.perf_counter() - start:.0f} s", flush=True)
    report.add_ratios(rows, args.configs[0][0])
    return rows


def benchmark(argv: list[str]) -> int:
    """Validate everything, measure each (config, batch size) in its own process, print and save the figures."""
    args, flags = parse(argv)
    opt = check_flags(flags, [], "train.py flags")
    amps = {check_flags(flags, config, f"config {name!r}").amp for name, config in args.configs}
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    print(f"command: {command}\ntorch {__import__('torch').__version__}, Python {platform.python_version()}",
          flush=True)
    busy = busy_cpu_fraction()
    if busy is not None and busy > 0.25:
        print(f"warning: {busy:.0%} of the CPUs are busy with other processes: the figures will be low and noisy",
              file=sys.stderr, flush=True)
    device = str(run_device(opt.gpu_ids))
    info = run_task({"kind": "probe", "device": device, "matmul_size": args.matmul_size,
                     "amp_dtypes": sorted(amps - {"off"})}, "device probe")
    if "error" in info:
        raise UserError(f"cannot measure the device's matmul peak: {info['error']}")
    print(report.describe_device(info), flush=True)
    rows = measure_all(args, flags)
    print(f"\n{report.table(rows, info, dataroot(flags) is not None)}\n")
    print(report.notes(args.configs, flags, dataroot(flags), rows, device))
    if args.profile:
        what = "GPU kernel time" if device != "cpu" else "CPU time"
        print(f"\nwhere a training step's time goes (torch.profiler, {what}, mean of 3 steps; an operator's time "
              f"includes what it calls; with --amp, the weights' casts to bf16/fp16 count as copies):\n"
              f"{report.profile_table(rows)}")
    report_costs(args, rows)
    if args.json:
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        atomic_write_text(args.json, json.dumps({"command": command, "settings": settings, "train_flags": flags,
                                                 "device": info, "busy_cpu_fraction_at_start": busy,
                                                 "results": rows}, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 1 if any("error" in r for r in rows) else 0


def report_costs(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    """The fitted cost curves, the --predict answers, the --csv and --plot files (with several sizes or batches)."""
    if not (args.sizes or len(args.batch_sizes) > 1 or args.predict or args.csv):
        return
    fitted = costs.curves(rows)
    print(f"\n{costs.curve_table(fitted)}")
    if args.predict:
        print(costs.predictions(fitted, args.predict) or "nothing to predict from: measure at least two batch "
              "sizes in megapixels (--sizes, --batch_sizes)")
    if args.csv:
        costs.write_csv(rows, args.csv)
        print(f"wrote {args.csv}")
    if args.plot:
        costs.plot(args.csv, args.plot, shlex.join(["benchmark.py", *sys.argv[1:]])[:600])
        print(f"wrote {args.plot}")
