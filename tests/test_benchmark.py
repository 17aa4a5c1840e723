"""scripts/benchmark.py through its command line: the figures of its JSON report, and one-line user errors."""
from __future__ import annotations

import json

import pytest
from conftest import one_line_error, run_cli

TINY_BENCH = ["scripts/benchmark.py", "--netG", "resnet_6blocks", "--ngf", "8", "--ndf", "8", "--crop_size", "32",
              "--gpu_ids", "-1", "--batch_sizes", "1,2", "--warmup", "1", "--steps", "2", "--test_steps", "2",
              "--matmul_size", "512"]
# one torch thread: on 2 shared cores, two threads stall on each other's small ops whenever anything else runs
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def bench(synth32, tmp_path_factory):
    """Two configs at batch sizes 1 and 2, with the loader timed on a synthetic dataset."""
    out = tmp_path_factory.mktemp("bench") / "out.json"
    proc = run_cli(*TINY_BENCH, "--configs", "a=;b=--no_dropout", "--dataroot", synth32, "--json", out,
                   "--", "--direction", "BtoA", "--load_size", "32", env=ONE_THREAD, check=True)
    return json.loads(out.read_text()), proc.stdout


def rows_of(report: dict) -> dict[tuple[str, int], dict]:
    return {(r["config"], r["batch_size"]): r for r in report["results"]}


def test_every_config_and_batch_size_has_positive_figures(bench):
    report, _ = bench
    rows = rows_of(report)
    assert set(rows) == {("a", 1), ("a", 2), ("b", 1), ("b", 2)}
    for row in rows.values():
        assert "error" not in row, row
        for key in ("train_img_per_s", "train_steps_per_s", "test_img_per_s", "peak_mib", "gflop_per_step",
                    "train_gflops", "test_gflop_per_batch", "loader_img_per_s"):
            assert row[key] > 0, (key, row)
        assert row["train_img_per_s"] == pytest.approx(row["batch_size"] * row["train_steps_per_s"])
    assert report["device"]["matmul_peak_gflops"] > 0 and report["device"]["torch_threads"] == 1
    assert report["train_flags"][-4:] == ["--direction", "BtoA", "--load_size", "32"]  # given after --
    assert "--netG" in report["train_flags"] and "--dataroot" in report["train_flags"]  # given among its own


def test_flops_scale_with_the_batch_size(bench):
    rows = rows_of(bench[0])
    for config in ("a", "b"):
        assert rows[config, 2]["gflop_per_step"] == pytest.approx(2 * rows[config, 1]["gflop_per_step"], rel=0.1)
        assert rows[config, 2]["test_gflop_per_batch"] == pytest.approx(
            2 * rows[config, 1]["test_gflop_per_batch"], rel=0.1)


def test_ratios_are_relative_to_the_first_config(bench):
    rows = rows_of(bench[0])
    for bs in (1, 2):
        assert rows["a", bs]["train_ratio"] == 1.0 and rows["a", bs]["test_ratio"] == 1.0
        assert rows["b", bs]["train_ratio"] == pytest.approx(
            rows["b", bs]["train_img_per_s"] / rows["a", bs]["train_img_per_s"])
        assert rows["b", bs]["test_ratio"] > 0


def test_prints_the_command_device_and_table(bench):
    _, stdout = bench
    assert stdout.startswith("command: ") and "--configs 'a=;b=--no_dropout'" in stdout.splitlines()[0]
    assert "torch threads" in stdout and "matmul peak" in stdout
    header = next(line for line in stdout.splitlines() if line.startswith("config "))
    for column in ("train img/s", "s/step", "test img/s", "peak MiB", "GFLOP/step", "% peak", "x train",
                   "loader img/s"):
        assert column in header


@pytest.mark.parametrize("args,expect", [
    (["--configs", "a=;b=--no_such_flag"], "config 'b': unrecognized arguments: --no_such_flag"),
    (["--configs", "a=--batch_size 8"], "set batch sizes with --batch_sizes"),
])
def test_user_errors_are_one_line_with_exit_code_2(args, expect, tmp_path):
    proc = run_cli(*TINY_BENCH, *args, "--json", tmp_path / "out.json", env=ONE_THREAD)
    assert expect in one_line_error(proc)
    assert not (tmp_path / "out.json").exists()
