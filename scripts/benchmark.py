"""Measure training and test-time speed, peak memory and FLOP use of DLIM models.

    python scripts/benchmark.py --netG unet_256 --netD basic --batch_sizes 1,4 --crop_size 256
    python scripts/benchmark.py --compare --profile --dataroot ./datasets/facades --direction BtoA
    python scripts/benchmark.py --configs 'vanilla=;lsgan=--gan_mode lsgan' --json bench.json

A config is a named list of extra train.py flags; every other train.py flag (given anywhere, or after `--`) goes to
every config. --compare measures the plain path (fp32, NCHW, eager, images decoded from disk every epoch, as
upstream pix2pix) against the fast path that train.py picks for the device. Training steps take their batches from
--dataroot's data pipeline (the loader, or the in-memory cache) when it is given, else random tensors already on
the device; --dataroot also times the pipeline on its own. Every (config, batch size) is measured in a fresh
subprocess, so its peak memory (GPU: allocated by torch; CPU: the process's peak RSS) is its own.
"""
from __future__ import annotations

import sys

from benchmarking.cli import benchmark
from util.errors import main_guard


@main_guard
def main(argv: list[str] | None = None) -> int:
    return benchmark(sys.argv[1:] if argv is None else list(argv))


if __name__ == "__main__":
    sys.exit(main())
