"""scripts/gpu_check.sh: its sequence at toy sizes on the CPU (--cpu), and its refusal without CUDA."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import torch
from conftest import REPO

pytestmark = pytest.mark.slow  # end to end: run by python -m pytest -m slow


def gpu_check(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """`bash scripts/gpu_check.sh ARGS` with this interpreter as its python (not whichever is first on PATH)."""
    return subprocess.run(["bash", "scripts/gpu_check.sh", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable})


def test_cpu_mode_runs_every_check_and_prints_one_table(tmp_path):
    proc = gpu_check("--cpu", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = proc.stdout[proc.stdout.index("check "):]
    results = dict(re.findall(r"^(\w+) +(ok|FAILED|skipped)", table, re.M))
    assert results == {"dataset": "ok", "benchmark": "ok", "cost_curve": "ok", "ddp": "ok", "sync_bn": "skipped",
                       "fp16_scaler": "skipped", "train": "ok", "test": "ok", "evaluate": "ok"}
    assert re.search(r"fast +batch +1: +[\d.]+ img/s", proc.stdout)  # the benchmark's figures in the summary
    assert (tmp_path / "costs.png").is_file() and (tmp_path / "results/gpu_check/test_latest/metrics.json").is_file()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_without_cuda_it_says_so_in_one_line():
    proc = gpu_check()
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "no CUDA device" in proc.stderr and "--cpu" in proc.stderr


def test_a_failing_check_fails_the_script(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    # a python that fails the benchmarks and torchrun (the slow checks) and runs the rest
    (fake / "python").write_text('#!/bin/sh\ncase "$*" in *benchmark.py*|*torch.distributed.run*) exit 1;; esac\n'
                                 'exec "$REAL_PYTHON" "$@"\n')
    (fake / "python").chmod(0o755)
    env = {**os.environ, "PYTHON": str(fake / "python"), "REAL_PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", "scripts/gpu_check.sh", "--cpu", "--out", str(tmp_path / "out")], cwd=REPO,
                          capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 1
    assert re.search(r"^benchmark +FAILED", proc.stdout, re.M) and re.search(r"^ddp +FAILED", proc.stdout, re.M)
    assert re.search(r"^train +ok", proc.stdout, re.M) and re.search(r"^evaluate +ok", proc.stdout, re.M)
