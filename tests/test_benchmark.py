"""scripts/benchmark.py through its command line: the figures of its JSON report, and one-line user errors."""
from __future__ import annotations

import csv
import json
import re

import numpy as np
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
@pytest.mark.slow
def test_user_errors_are_one_line_with_exit_code_2(args, expect, tmp_path):
    proc = run_cli(*TINY_BENCH, *args, "--json", tmp_path / "out.json", env=ONE_THREAD)
    assert expect in one_line_error(proc)
    assert not (tmp_path / "out.json").exists()


@pytest.mark.slow
def test_cost_curves_fit_the_measured_points_and_predict_an_unmeasured_run(tmp_path):
    csv_path, png = tmp_path / "costs.csv", tmp_path / "costs.png"
    args = [a for a in TINY_BENCH if a not in ("--crop_size", "32")]
    proc = run_cli(*args, "--sizes", "32,64x32", "--predict", "128x64,4", "--csv", csv_path, "--plot", png,
                   env=ONE_THREAD, check=True)
    rows = list(csv.DictReader(csv_path.open()))
    assert [(r["width"], r["height"], r["batch_size"]) for r in rows] == [
        ("32", "32", "1"), ("32", "32", "2"), ("64", "32", "1"), ("64", "32", "2")]
    assert [float(r["megapixels"]) for r in rows] == [0.001024, 0.002048, 0.002048, 0.004096]
    assert all(float(r["memory_mib"]) > 0 and float(r["s_per_step"]) > 0 for r in rows)
    # the printed line and the prediction are the least-squares line through the CSV's points
    xs = np.array([float(r["megapixels"]) for r in rows])
    per_mp, fixed = np.polyfit(xs, np.array([float(r["memory_mib"]) for r in rows]), 1)
    printed = re.search(r"default: memory ([-\d,]+) MiB \+ ([-\d,]+) MiB per megapixel of batch", proc.stdout)
    number = lambda text: float(text.replace(",", ""))  # noqa: E731
    assert printed and number(printed[1]) == pytest.approx(fixed, abs=1)
    assert number(printed[2]) == pytest.approx(per_mp, rel=0.01, abs=1)
    predicted = re.search(r"predicted for default at 128x64, batch 4 \(0\.03 megapixels\): peak ([-\d,]+) MiB.*"
                          r"\(an extrapolation to 8x the largest measured run", proc.stdout)
    if fixed + per_mp * 0.032768 > 0 or not predicted:  # a tiny run's memory line may fall below zero there
        assert predicted and number(predicted[1]) == pytest.approx(fixed + per_mp * 0.032768, rel=0.01, abs=1)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predictions_never_print_a_cost_below_zero_and_say_when_they_extrapolate():
    from benchmarking import costs

    line = costs.fit([0.001, 0.002], [100.0, 150.0])  # 50 MiB + 50,000 MiB per megapixel
    falling = costs.fit([0.001, 0.002], [0.3, 0.2])  # time falls with size: noise
    assert line.lo == 0.001 and line.hi == 0.002 and line.worst == pytest.approx(0, abs=1e-9)
    near = costs.predictions({"d": (line, line)}, [((30, 50), 1)])  # 0.0015 megapixels: inside
    assert near.endswith("peak 125 MiB above the baseline, 125.000 s/step")
    far = costs.predictions({"d": (line, line)}, [((64, 64), 4)])  # 0.016: 8x the largest run
    assert "peak 869 MiB" in far and "(an extrapolation to 8x the largest measured run" in far
    negative = costs.predictions({"d": (line, falling)}, [((64, 64), 4)])
    assert "no prediction, the fitted lines give no positive cost there" in negative and "s/step" not in negative
    assert "fits them exactly, so its fit is untested" in costs.curve_table({"d": (line, line)})


@pytest.mark.parametrize("args,expect", [
    (["--sizes", "64x32", "--dataroot", "x"], "non-square sizes need random batches"),
    (["--sizes", "32", "--crop_size", "32"], "--sizes sets --crop_size"),
    (["--sizes", "32x"], "--sizes"),
    (["--plot", "a.png"], "--plot draws the figure from the --csv file"),
    (["--predict", "128"], "--predict"),
    # a line needs two points: one batch size at one size is one
    (["--batch_sizes", "2", "--predict", "64,4"], "--predict reads a line fitted through the measured runs, and "
                                                  "--batch_sizes 2 measures one point"),
    (["--sizes", "64x32,32x64", "--batch_sizes", "2", "--predict", "64,4"], "--batch_sizes 2 with --sizes measures "
                                                                             "one point"),
    (["--batch_sizes", "1,1"], "'1,1' names a batch size twice"),
    (["--sizes", "32,32x32"], "'32,32x32' names a size twice"),
])
@pytest.mark.slow
def test_cost_curve_mistakes_are_one_line_errors(args, expect):
    base = [a for a in TINY_BENCH if a not in ("--crop_size", "32")]
    assert expect in one_line_error(run_cli(*base, *args, env=ONE_THREAD))


@pytest.mark.slow
def test_output_files_that_cannot_be_written_are_refused_before_measuring(tmp_path):
    line = one_line_error(run_cli(*TINY_BENCH, "--json", tmp_path, env=ONE_THREAD))
    assert f"--json {tmp_path} is a folder" in line
    line = one_line_error(run_cli(*TINY_BENCH, "--csv", tmp_path / "c.csv", "--plot", tmp_path / "c.xyz",
                                  env=ONE_THREAD))
    assert "matplotlib draws no .xyz files" in line and ".png" in line
    (tmp_path / "file").write_text("")
    line = one_line_error(run_cli(*TINY_BENCH, "--csv", tmp_path / "file" / "c.csv", env=ONE_THREAD))
    assert "cannot write to" in line and "--csv" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.slow
def test_outputs_are_never_written_over_a_file_benchmark_did_not_make(tmp_path):
    import torch

    mine = tmp_path / "opt.json"
    mine.write_text('{"netG": "unet_256"}')
    line = one_line_error(run_cli(*TINY_BENCH, "--json", mine, env=ONE_THREAD))
    assert f"--json would write over {mine}, which benchmark.py did not write" in line and "--overwrite" in line
    torch.save({"w": torch.zeros(1)}, tmp_path / "latest_checkpoint.pth")
    line = one_line_error(run_cli(*TINY_BENCH, "--csv", tmp_path / "latest_checkpoint.pth", "--overwrite",
                                  env=ONE_THREAD))
    assert "a PyTorch checkpoint or weights file" in line
    assert mine.read_text() == '{"netG": "unet_256"}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest_checkpoint.pth", "opt.json"]
