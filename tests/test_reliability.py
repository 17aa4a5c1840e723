"""Hostile but realistic use, through the entry points a user runs: resumed and extended runs, odd images,
half-written folders, two runs at once, killed runs, full disks, files that would run code, hand-edited tables."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, TINY, one_line_error, run_cli
from PIL import Image

FAULTS = REPO / "tests" / "faults"  # sitecustomize that makes writes under $DLIM_TEST_FULL_DISK fail with ENOSPC
RUN = [*TINY, "--batch_size", "2", "--print_freq", "2"]


def full_disk(folder: Path, after: int = 0) -> dict[str, str]:
    """Environment in which every write under `folder` fails as on a full disk (once `after` bytes are written)."""
    return {"PYTHONPATH": str(FAULTS), "DLIM_TEST_FULL_DISK": str(folder), "DLIM_TEST_FULL_DISK_AFTER": str(after)}


def lr_by_epoch(experiment: Path) -> dict[int, float]:
    """The learning rate logged in each epoch (loss_log.jsonl)."""
    records = [json.loads(line) for line in (experiment / "loss_log.jsonl").read_text().splitlines()]
    return {r["epoch"]: r["lr"] for r in records}


class Payload:
    """Unpickling this runs a shell command: what a planted checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


# ---- silently wrong results ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_extending_a_finished_run_trains_the_new_epochs_at_the_schedules_rate(synth32, tmp_path):
    args = ["train.py", "--dataroot", synth32, *RUN, "--name", "run", "--checkpoints_dir", tmp_path]
    run_cli(*args, "--n_epochs", "1", "--n_epochs_decay", "1", "--lambda_L1", "50", check=True)
    # the finished run cannot be resumed as it is: nothing is left to train, and it says how to extend it
    line = one_line_error(run_cli(*args, "--continue_train"))
    assert "trained all 2 epochs" in line and "--n_epochs" in line
    proc = run_cli(*args, "--continue_train", "--n_epochs", "2", "--n_epochs_decay", "2", check=True)
    # linear schedule of 2 + 2 epochs: epoch 3 is the first decaying one, at 1 - 1/3 of --lr, epoch 4 at 1/3
    assert "--n_epochs 2 (was 1)" in proc.stdout and "resuming at epoch 3" in proc.stdout
    assert "learning rate 0.0001333333" in proc.stdout
    lrs = lr_by_epoch(tmp_path / "run")
    assert lrs[3] == pytest.approx(2e-4 * 2 / 3) and lrs[4] == pytest.approx(2e-4 / 3)
    state = torch.load(tmp_path / "run" / "latest_checkpoint.pth", weights_only=True)
    assert state["options"]["lambda_L1"] == 50  # options not given again are the checkpoint's, not the defaults


@pytest.mark.slow
def test_resuming_with_another_beta1_uses_it(synth32, tmp_path):
    args = ["train.py", "--dataroot", synth32, *RUN, "--name", "run", "--checkpoints_dir", tmp_path,
            "--n_epochs", "1", "--n_epochs_decay", "0", "--save_latest_freq", "4"]
    run_cli(*args, check=True)
    run_cli(*args, "--continue_train", "--n_epochs", "2", "--beta1", "0.9", check=True)
    state = torch.load(tmp_path / "run" / "latest_checkpoint.pth", weights_only=True)
    assert [g["betas"][0] for o in state["optimizers"] for g in o["param_groups"]] == [0.9, 0.9]


@pytest.mark.parametrize("flags, fragment", [
    (["--max_dataset_size", "2.5"], "--max_dataset_size"),
    (["--epoch_count", "5", "--n_epochs", "2", "--n_epochs_decay", "2"], "--epoch_count 5 is past the last epoch"),
])
def test_counts_that_cannot_be_trained_are_refused(synth32, tmp_path, flags, fragment):
    line = one_line_error(run_cli("train.py", "--dataroot", synth32, *TINY, "--checkpoints_dir", tmp_path, *flags))
    assert fragment in line
    assert not list(tmp_path.rglob("*.pth"))


def ramp_16bit(width: int, height: int) -> np.ndarray:
    return np.tile(np.linspace(0, 65535, width).round().astype(np.uint16), (height, 1))


@pytest.mark.slow
def test_a_16_bit_image_reaches_the_network_as_a_ramp(tiny_checkpoint, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    Image.fromarray(ramp_16bit(32, 32)).save(inputs / "ramp.png")
    assert Image.open(inputs / "ramp.png").mode == "I;16"
    run_cli("test.py", "--dataroot", inputs, "--name", "tiny", "--checkpoints_dir", tiny_checkpoint,
            "--dataset_mode", "single", "--results_dir", tmp_path / "res", check=True)
    seen = np.asarray(Image.open(tmp_path / "res/tiny/test_latest/images/ramp_real_A.png"))[..., 0].astype(int)
    expected = np.tile(np.linspace(0, 255, 32).round(), (32, 1))  # 16 bits scaled to 8, not clipped to white
    assert np.abs(seen - expected).max() <= 1


def test_a_float_image_outside_0_to_1_is_named(tiny_checkpoint, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    Image.fromarray(np.full((32, 32), 300.0, dtype=np.float32)).save(inputs / "depth.tif")
    line = one_line_error(run_cli("test.py", "--dataroot", inputs, "--name", "tiny", "--checkpoints_dir",
                                  tiny_checkpoint, "--dataset_mode", "single", "--results_dir", tmp_path / "res"))
    assert "depth.tif" in line and "0..1" in line


def test_evaluate_reads_16_bit_images_as_the_8_bit_values_they_stand_for(tmp_path):
    ramp = ramp_16bit(64, 48)
    for folder in ("fake", "real"):
        (tmp_path / folder).mkdir()
    Image.fromarray((ramp / 257).round().astype(np.uint8)).save(tmp_path / "fake" / "a.png")
    Image.fromarray(ramp).save(tmp_path / "real" / "a.png")
    run_cli("evaluate.py", "--fake", tmp_path / "fake", "--real", tmp_path / "real", "--metrics", "l1,psnr",
            "--json", tmp_path / "m.json", "--no_table", check=True)
    scores = json.loads((tmp_path / "m.json").read_text())["metrics"]
    assert scores["l1"]["value"] == 0 and scores["psnr"]["value"] == 100  # clipped to white, l1 would be ~0.5


def test_same_file_names_in_subfolders_get_distinct_results(tiny_checkpoint, synth32, tmp_path):
    data = tmp_path / "data"
    for site in ("siteA", "siteB"):
        (data / "test" / site).mkdir(parents=True)
        for name in ("1.jpg", "2.jpg"):
            (data / "test" / site / name).write_bytes((synth32 / "test" / name).read_bytes())
    run_cli("test.py", "--dataroot", data, "--name", "tiny", "--checkpoints_dir", tiny_checkpoint,
            "--results_dir", tmp_path / "res", check=True)
    out = tmp_path / "res" / "tiny" / "test_latest"
    fakes = sorted(p.name for p in (out / "images").glob("*_fake_B.png"))
    assert fakes == ["siteA_1_fake_B.png", "siteA_2_fake_B.png", "siteB_1_fake_B.png", "siteB_2_fake_B.png"]
    assert json.loads((out / "checkpoint.json").read_text())["translated"] == 4


@pytest.mark.slow
def test_evaluate_refuses_a_folder_that_test_py_left_half_written(tiny_checkpoint, synth32, tmp_path):
    data = tmp_path / "data"
    (data / "test").mkdir(parents=True)
    (data / "test" / "1.jpg").write_bytes((synth32 / "test" / "1.jpg").read_bytes())
    good = (synth32 / "test" / "2.jpg").read_bytes()
    (data / "test" / "2.jpg").write_bytes(good[: len(good) // 2])  # truncated: test.py fails on it
    test = ["test.py", "--dataroot", data, "--name", "tiny", "--checkpoints_dir", tiny_checkpoint,
            "--results_dir", tmp_path / "res"]
    assert "2.jpg" in one_line_error(run_cli(*test))
    out = tmp_path / "res" / "tiny" / "test_latest"
    assert (out / "images" / "1_fake_B.png").is_file()  # written before the failure
    line = one_line_error(run_cli("evaluate.py", "--results_dir", out, "--metrics", "l1"))
    assert "incomplete" in line and "python test.py --dataroot" in line
    (data / "test" / "2.jpg").write_bytes(good)
    run_cli(*test, check=True)
    run_cli("evaluate.py", "--results_dir", out, "--metrics", "l1", check=True)
    assert not (out / ".test_in_progress").exists()


def test_evaluate_refuses_a_folder_test_py_is_writing(tmp_path):
    from util.locks import FolderLock

    images = tmp_path / "exp" / "test_latest" / "images"
    images.mkdir(parents=True)
    for label in ("fake_B", "real_B"):
        Image.new("RGB", (16, 16)).save(images / f"1_{label}.png")
    with FolderLock(images.parent / ".test_in_progress").acquire("results", ""):
        line = one_line_error(run_cli("evaluate.py", "--results_dir", images.parent, "--metrics", "l1"))
    assert "being written by test.py" in line and f"pid {os.getpid()}" in line


def test_fake_pointed_at_a_results_folder_uses_only_its_generated_images(tmp_path):
    images = tmp_path / "res" / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        photo = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(photo).save(images / f"{i}_fake_B.png")
        Image.fromarray(photo).save(images / f"{i}_real_B.png")
        Image.fromarray(255 - photo).save(images / f"{i}_real_A.png")  # label maps: must not count
    (tmp_path / "photos").mkdir()
    for i in range(3):
        (tmp_path / "photos" / f"{i}.png").write_bytes((images / f"{i}_real_B.png").read_bytes())
    proc = run_cli("evaluate.py", "--fake", images, "--real", tmp_path / "photos", "--metrics", "l1", "--no_table",
                   "--json", tmp_path / "m.json", check=True)
    assert "using only its 3 *_fake_B images" in proc.stderr
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["metrics"]["l1"] == {"value": 0.0, "std": 0.0, "n_images": 3, "n_samples": 1}  # each with its photo


# ---- nothing lost ------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_second_train_py_of_the_same_experiment_is_refused_and_a_killed_one_leaves_no_lock(synth32, tmp_path):
    args = ["train.py", "--dataroot", str(synth32), *RUN, "--name", "run", "--checkpoints_dir", str(tmp_path)]
    first = subprocess.Popen([sys.executable, *args, "--n_epochs", "200"], cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        log = tmp_path / "run" / "loss_log.jsonl"
        deadline = time.time() + 120
        while not log.exists() and time.time() < deadline:
            time.sleep(0.1)
        line = one_line_error(run_cli(*args, "--n_epochs", "1"))
        assert "in use by" in line and f"pid {first.pid}" in line and "--name" in line
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # the kernel released the lock (the killed run's checkpoints are replaced on request)
    run_cli(*args, "--n_epochs", "1", "--n_epochs_decay", "0", "--overwrite", check=True)
    assert not (tmp_path / "run" / ".train.lock").exists()


@pytest.mark.slow
def test_temporary_files_of_a_killed_save_are_removed_by_the_next_run(synth32, tmp_path):
    args = ["train.py", "--dataroot", synth32, *RUN, "--name", "run", "--checkpoints_dir", tmp_path,
            "--n_epochs", "1", "--n_epochs_decay", "0"]
    run_cli(*args, check=True)
    stale = tmp_path / "run" / ".latest_checkpoint.pth.k9x2_a1b.tmp"  # what kill -9 during a save leaves
    stale.write_bytes(b"half a checkpoint")
    proc = run_cli(*args, "--continue_train", "--n_epochs", "2", check=True)
    assert "removed 1 unfinished temporary file" in proc.stdout and not stale.exists()
    assert not list((tmp_path / "run").glob(".*.tmp"))


def test_files_get_the_permissions_of_the_umask(synth32, tmp_path):
    subprocess.run([sys.executable, "train.py", "--dataroot", str(synth32), *RUN, "--name", "run",
                    "--checkpoints_dir", str(tmp_path), "--n_epochs", "1", "--n_epochs_decay", "0"], cwd=REPO,
                   check=True, capture_output=True, preexec_fn=lambda: os.umask(0o027))
    for name in ("latest_checkpoint.pth", "opt.json", "web/index.html"):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o640, name


def exif_turned(path: Path, pixels: np.ndarray) -> None:
    """Save pixels with EXIF orientation 6: a viewer shows them turned by 90 degrees clockwise."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pixels).save(path, exif=exif)


def test_combine_honours_exif_orientation(tmp_path):
    rng = np.random.default_rng(0)
    stored = {side: rng.integers(0, 256, (8, 6, 3), dtype=np.uint8) for side in "AB"}
    for side, pixels in stored.items():
        (tmp_path / side / "train").mkdir(parents=True)
        exif_turned(tmp_path / side / "train" / "1.png", pixels)
    run_cli("datasets/combine_A_and_B.py", "--fold_A", tmp_path / "A", "--fold_B", tmp_path / "B", "--fold_AB",
            tmp_path / "AB", "--no_multiprocessing", check=True)
    shown = [np.rot90(stored[side], k=-1) for side in "AB"]  # 90 degrees clockwise, as a viewer shows it
    assert np.array_equal(np.asarray(Image.open(tmp_path / "AB" / "train" / "1.png")), np.concatenate(shown, 1))


def test_combine_refuses_an_output_inside_an_input(tmp_path):
    for side in "AB":
        (tmp_path / side / "train").mkdir(parents=True)
        Image.new("RGB", (4, 4)).save(tmp_path / side / "train" / "1.png")
    line = one_line_error(run_cli("datasets/combine_A_and_B.py", "--fold_A", tmp_path / "A", "--fold_B",
                                  tmp_path / "B", "--fold_AB", tmp_path / "A" / "combined"))
    assert "--fold_AB puts files into" in line and "where combine_A_and_B.py reads its inputs" in line
    assert not (tmp_path / "A" / "combined").exists()


@pytest.mark.parametrize("workers", [[], ["--no_multiprocessing"]])
def test_combine_writes_nothing_of_a_split_with_a_truncated_file(tmp_path, workers):
    rng = np.random.default_rng(0)
    for split, n in (("test", 2), ("train", 4)):
        for side in "AB":
            (tmp_path / side / split).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
                    tmp_path / side / split / f"{i}.png")
    broken = tmp_path / "B" / "train" / "2.png"
    broken.write_bytes(broken.read_bytes()[:200])  # the header is intact, the pixels are not
    line = one_line_error(run_cli("datasets/combine_A_and_B.py", "--fold_A", tmp_path / "A", "--fold_B",
                                  tmp_path / "B", "--fold_AB", tmp_path / "AB", *workers))
    assert str(broken) in line
    assert sorted(os.listdir(tmp_path / "AB")) == [".dlim-outputs.json", "test"]  # the good split, nothing half-done
    assert sorted(os.listdir(tmp_path / "AB" / "test")) == ["0.png", "1.png"]


# ---- no code from a file -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_checkpoint_with_a_payload_is_refused_and_never_runs(tiny_checkpoint, synth32, tmp_path):
    marker = tmp_path / "pwned"
    folder = tmp_path / "ckpt" / "tiny"
    folder.mkdir(parents=True)
    state = torch.load(tiny_checkpoint / "tiny" / "latest_checkpoint.pth", weights_only=True)
    state["extra"] = {"fake_pool": Payload(marker)}
    torch.save(state, folder / "latest_checkpoint.pth")
    for args in (["test.py", "--dataroot", synth32, "--results_dir", tmp_path / "res"],
                 ["train.py", "--dataroot", synth32, *TINY, "--continue_train"]):
        line = one_line_error(run_cli(*args, "--name", "tiny", "--checkpoints_dir", tmp_path / "ckpt"))
        assert "refusing to load" in line and "latest_checkpoint.pth" in line and "posix.system" in line
    assert not marker.exists()


@pytest.mark.slow
def test_checkpoints_of_the_first_format_still_resume(synth32, tmp_path):
    """v1 checkpoints held numpy's random state as a numpy array: still readable weights-only."""
    args = ["train.py", "--dataroot", synth32, *RUN, "--name", "run", "--checkpoints_dir", tmp_path,
            "--n_epochs", "1", "--n_epochs_decay", "0"]
    run_cli(*args, check=True)
    path = tmp_path / "run" / "latest_checkpoint.pth"
    state = torch.load(path, weights_only=True)
    state["format"], state["rng"]["numpy"] = "dlim-checkpoint-v1", np.random.RandomState(3).get_state()
    torch.save(state, path)
    proc = run_cli(*args, "--continue_train", "--n_epochs", "2", check=True)
    assert "resuming at epoch 2" in proc.stdout


def test_upstream_weights_with_a_payload_are_refused(synth32, tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "up").mkdir()
    torch.save({"model.0.weight": Payload(marker)}, tmp_path / "up" / "latest_net_G.pth")
    line = one_line_error(run_cli("test.py", "--dataroot", synth32, "--name", "up", "--checkpoints_dir", tmp_path,
                                  "--results_dir", tmp_path / "res"))
    assert "refusing to load" in line and "latest_net_G.pth" in line
    assert not marker.exists()


@pytest.mark.slow
def test_a_planted_feature_cache_or_inception_file_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    for folder in ("fake", "real"):
        (tmp_path / folder).mkdir()
        for i in range(4):
            Image.fromarray(np.full((32, 32, 3), 40 * i, np.uint8)).save(tmp_path / folder / f"{i}.png")
    torch.save({"w": Payload(marker)}, tmp_path / "weights.pth")
    line = one_line_error(run_cli("evaluate.py", "--fake", tmp_path / "fake", "--real", tmp_path / "real",
                                  "--metrics", "fid", "--inception_weights", tmp_path / "weights.pth", "--no_table"))
    assert "refusing to load" in line and "weights.pth" in line
    cache = tmp_path / "cache"
    evaluate = ["evaluate.py", "--fake", tmp_path / "fake", "--real", tmp_path / "real", "--metrics", "fd_lite0",
                "--cache_dir", cache, "--no_table"]
    run_cli(*evaluate, check=True)  # fills the cache with the real images' features
    for file in cache.glob("*.pt"):
        torch.save({"mu": Payload(marker)}, file)
    line = one_line_error(run_cli(*evaluate))
    assert "refusing to load the cached features" in line and "--no_cache" in line
    assert not marker.exists()


# ---- one-line errors ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_full_disk_is_one_line_naming_the_file(synth32, tiny_checkpoint, tmp_path):
    line = one_line_error(run_cli("train.py", "--dataroot", synth32, *RUN, "--name", "run", "--checkpoints_dir",
                                  tmp_path / "ckpt", env=full_disk(tmp_path / "ckpt")))
    assert line.startswith("train.py: error: no space left on device writing " + str(tmp_path / "ckpt" / "run"))
    line = one_line_error(run_cli("test.py", "--dataroot", synth32, "--name", "tiny", "--checkpoints_dir",
                                  tiny_checkpoint, "--results_dir", tmp_path / "res", env=full_disk(tmp_path / "res")))
    assert "no space left on device writing " + str(tmp_path / "res" / "tiny" / "test_latest") in line
    line = one_line_error(run_cli("datasets/make_synthetic_dataset.py", "--out", tmp_path / "data", "--size", "16",
                                  env=full_disk(tmp_path / "data")))
    assert "no space left on device writing " + str(tmp_path / "data") in line
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.slow
def test_a_disk_that_fills_inside_torchs_writer_is_one_line_and_keeps_the_last_checkpoint(synth32, tmp_path):
    args = ["train.py", "--dataroot", synth32, *RUN, "--name", "run", "--checkpoints_dir", tmp_path / "ckpt",
            "--n_epochs", "1", "--n_epochs_decay", "0"]
    run_cli(*args, check=True)
    latest = tmp_path / "ckpt" / "run" / "latest_checkpoint.pth"
    before = latest.read_bytes()
    # room for the zip writer's first records, not for the weights: torch itself reports 'unexpected pos'
    line = one_line_error(run_cli(*args, "--continue_train", "--n_epochs", "2",
                                  env=full_disk(tmp_path / "ckpt", after=65536)))
    assert line == f"train.py: error: no space left on device writing {latest}: free some space, or write to " \
                   f"another disk"
    assert latest.read_bytes() == before and not list(tmp_path.rglob("*.tmp"))


def test_evaluate_checks_its_outputs_before_computing(tmp_path):
    images = tmp_path / "res" / "exp" / "test_latest" / "images"
    images.mkdir(parents=True)
    for label in ("fake_B", "real_B"):
        Image.new("RGB", (16, 16)).save(images / f"1_{label}.png")
    (tmp_path / "file").write_text("not a folder")
    line = one_line_error(run_cli("evaluate.py", "--results_dir", images.parent, "--metrics", "l1",
                                  "--table", tmp_path / "file" / "metrics.csv"))
    assert "--table" in line and str(tmp_path / "file") in line
    assert not (images.parent / "metrics.json").exists()
    line = one_line_error(run_cli("evaluate.py", "--results_dir", images.parent, "--metrics", "l1",
                                  env=full_disk(tmp_path / "res")))
    assert "no space left on device writing " + str(images.parent) in line  # its record of metrics.json, first


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_results_folder_is_named(tmp_path):
    images = tmp_path / "exp" / "test_latest" / "images"
    images.mkdir(parents=True)
    for label in ("fake_B", "real_B"):
        Image.new("RGB", (16, 16)).save(images / f"1_{label}.png")
    images.parent.chmod(0o555)
    try:
        line = one_line_error(run_cli("evaluate.py", "--results_dir", images.parent, "--metrics", "l1",
                                      "--no_table"))
    finally:
        images.parent.chmod(0o755)
    assert str(images.parent) in line and ".tmp" not in line and "lock" not in line


def bomb(path: Path) -> Path:
    """A 20000x10000 PNG of 24 KB: above PIL's decompression-bomb limit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("1", (20000, 10000)).save(path)
    return path


@pytest.mark.slow
def test_an_image_above_the_decompression_bomb_limit_is_named_with_its_size(synth32, tmp_path):
    data = tmp_path / "data"
    (data / "train").mkdir(parents=True)
    for name in ("1.jpg", "2.jpg"):
        (data / "train" / name).write_bytes((synth32 / "train" / name).read_bytes())
    huge = bomb(data / "train" / "3.png")
    line = one_line_error(run_cli("train.py", "--dataroot", data, *TINY, "--checkpoints_dir", tmp_path / "ckpt"))
    assert str(huge) in line and "20000x10000" in line and "downscale" in line
    (tmp_path / "real").mkdir()
    for name in ("1.png", "2.png"):
        Image.new("RGB", (16, 16)).save(tmp_path / "real" / name)
    line = one_line_error(run_cli("evaluate.py", "--fake", data / "train", "--real", tmp_path / "real",
                                  "--metrics", "fd_lite0", "--no_table"))
    assert str(huge) in line and "downscale" in line


@pytest.mark.parametrize("flag, value", [("--beta1", "1"), ("--beta1", "-0.1"), ("--lr", "0"), ("--lr", "nan"),
                                         ("--lr", "inf"), ("--init_gain", "0"), ("--lambda_L1", "inf"),
                                         ("--num_threads", "-2"), ("--display_port", "70000")])
def test_out_of_range_training_flags_are_argparse_errors(flag, value):
    from training.options import TrainOptions

    with pytest.raises(SystemExit) as stop:
        TrainOptions().parse(["--dataroot", "x", flag, value])
    assert stop.value.code == 2


@pytest.mark.slow
def test_out_of_range_flags_stop_the_tools_in_one_line(synth32):
    assert "--beta1" in one_line_error(run_cli("train.py", "--dataroot", synth32, "--beta1", "1.5"))
    assert "--aspect_ratio" in one_line_error(run_cli("test.py", "--dataroot", synth32, "--aspect_ratio", "0"))
    assert "--name '../escape'" in one_line_error(run_cli("train.py", "--dataroot", synth32, "--name", "../escape"))


def plot(tmp_path: Path, table: Path) -> subprocess.CompletedProcess:
    return run_cli("scripts/plot_results.py", "--table", table, "--kind", "bars", "--out", tmp_path / "plots")


@pytest.mark.parametrize("content, fragment", [
    ("setting,fd_lite0\na,1\n", "no 'experiment' column"),
    (b"\x89PNG\r\n\x1a\n\x00\x00binary", "not a text file"),
])
def test_plot_results_names_a_table_it_cannot_read(tmp_path, content, fragment):
    table = tmp_path / "t.csv"
    table.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert fragment in one_line_error(plot(tmp_path, table))


def test_plot_results_reads_hand_written_tables(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("experiment;fd_lite0;psnr\nbaseline;210.5;12.9\nnew;n/a;13.4\n")
    proc = plot(tmp_path, table)
    assert proc.returncode == 0, proc.stderr
    assert "line 3: fd_lite0 is 'n/a', not a number: left out" in proc.stderr
    markdown = (tmp_path / "plots" / "plots_table.md").read_text()
    assert "| baseline | 210.5 | 12.9 |" in markdown and "| new | – | 13.4 |" in markdown


def test_evaluate_never_overwrites_a_hand_edited_table_it_cannot_read(tmp_path):
    images = tmp_path / "res" / "exp" / "test_latest" / "images"
    images.mkdir(parents=True)
    for label in ("fake_B", "real_B"):
        Image.new("RGB", (16, 16)).save(images / f"1_{label}.png")
    table = tmp_path / "res" / "metrics.csv"
    table.write_text("experiment,run,l1\nold,test_latest,0.5\nmine,test_latest,0.4,extra,cells\n")
    before = table.read_bytes()
    line = one_line_error(run_cli("evaluate.py", "--results_dir", images.parent, "--metrics", "l1"))
    assert str(table) in line and "line 3" in line
    assert table.read_bytes() == before and not (images.parent / "metrics.json").exists()


def test_translator_accepts_what_the_loaders_read_and_names_its_arguments(tiny_checkpoint):
    from models.inference import Generator
    from models.options import DemoOptions

    translator = Generator(DemoOptions().parse_with_checkpoint(
        ["--name", "tiny", "--checkpoints_dir", str(tiny_checkpoint), "--eval"]))
    rgb = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    reference = translator(rgb)[0]
    gray = rgb[..., 0]
    accepted = [gray, gray[..., None], np.dstack([rgb, np.full((32, 32), 255, np.uint8)]), Image.fromarray(rgb),
                Image.fromarray(gray.astype(np.uint16) * 257)]
    outputs = [translator(x)[0] for x in accepted]
    assert all(o.shape == (32, 32, 3) and o.dtype == np.uint8 for o in outputs)
    assert np.array_equal(outputs[2], reference) and np.array_equal(outputs[3], reference)  # alpha dropped
    assert np.array_equal(outputs[0], outputs[1]) and np.array_equal(outputs[0], outputs[4])  # 16-bit as 8-bit
    for bad, fragment in [(rgb.astype(np.float32) / 255, "uint8"), (rgb.tolist(), "numpy array"),
                          (rgb[..., :2], "C = 1, 3 or 4"), (np.zeros((0, 4), np.uint8), "shape")]:
        with pytest.raises(ValueError, match=fragment):
            translator(bad)
    with pytest.raises(ValueError, match="n_samples"):
        translator(rgb, n_samples=0)


def test_calculate_metrics_names_python_arguments(tmp_path):
    from metrics import calculate_metrics

    with pytest.raises(ValueError, match="input1 must be a folder path"):
        calculate_metrics(123, l1=True)
    with pytest.raises(ValueError, match="l1 must be True or False"):
        calculate_metrics(str(tmp_path), l1="yes")
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        calculate_metrics(str(tmp_path), l1=True, batch_size=0)
    with pytest.raises(ValueError, match=r"^input1 .* is not a folder") as missing:
        calculate_metrics(tmp_path / "missing", l1=True)
    with pytest.raises(ValueError, match="metrics: unknown metric 'fidd'") as unknown:
        calculate_metrics(str(tmp_path), metrics="fidd")
    assert "--" not in str(missing.value) + str(unknown.value)


def test_the_lite0_extractor_is_registered_in_torch_fidelity_once_metrics_fidelity_is_imported(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        for i in range(4):
            Image.fromarray(np.full((32, 32, 3), 30 * i + (folder == "b") * 7, np.uint8)).save(
                tmp_path / folder / f"{i}.png")
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    code = (f"import metrics.fidelity, torch_fidelity; "
            f"print(torch_fidelity.calculate_metrics(input1={a!r}, input2={b!r}, fid=True, "
            f"feature_extractor='efficientnet-lite0', cache=False, cuda=False)"
            f"['frechet_inception_distance'])")
    proc = run_cli("-c", code, check=True)
    assert float(proc.stdout.strip().splitlines()[-1]) > 0


# ---- found by a hostile review of the above --------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["{name.upper}", "{gpu_ids[0]}", "{}", "{netG"])
def test_a_suffix_names_options_only(synth32, suffix):
    line = one_line_error(run_cli("train.py", "--dataroot", synth32, "--suffix", suffix))
    assert "--suffix" in line and "{netG}_bs{batch_size}" in line


@pytest.mark.parametrize("value", ["-1", str(2**32)])
def test_a_seed_out_of_range_is_an_argparse_error(value):
    from training.options import TrainOptions

    with pytest.raises(SystemExit) as stop:
        TrainOptions().parse(["--dataroot", "x", "--seed", value])
    assert stop.value.code == 2


def test_a_failed_start_leaves_no_empty_experiment_folder(synth32, tmp_path):
    line = one_line_error(run_cli("train.py", "--dataroot", synth32, *TINY, "--name", "nothing", "--continue_train",
                                  "--checkpoints_dir", tmp_path / "ckpt"))
    assert "no checkpoint" in line and not (tmp_path / "ckpt").exists()


@pytest.mark.slow
def test_switching_a_finished_run_to_plateau_starts_from_lr(synth32, tmp_path):
    args = ["train.py", "--dataroot", synth32, *RUN, "--name", "run", "--checkpoints_dir", tmp_path]
    run_cli(*args, "--n_epochs", "1", "--n_epochs_decay", "1", check=True)  # ends at learning rate 0
    proc = run_cli(*args, "--continue_train", "--n_epochs", "2", "--lr_policy", "plateau", check=True)
    assert "learning rate 0.0002 (plateau" in proc.stdout
    assert lr_by_epoch(tmp_path / "run")[3] == pytest.approx(2e-4)


def test_linked_subfolders_of_a_dataset_are_read(tiny_checkpoint, synth32, tmp_path):
    data = tmp_path / "data" / "test"
    (tmp_path / "elsewhere").mkdir()
    for name in ("1.jpg", "2.jpg"):
        (tmp_path / "elsewhere" / name).write_bytes((synth32 / "test" / name).read_bytes())
    data.mkdir(parents=True)
    (data / "3.jpg").write_bytes((synth32 / "test" / "3.jpg").read_bytes())
    (data / "linked").symlink_to(tmp_path / "elsewhere")
    (data / "linked" / "loop").symlink_to(data)  # a link back up the tree is not followed twice
    run_cli("test.py", "--dataroot", tmp_path / "data", "--name", "tiny", "--checkpoints_dir", tiny_checkpoint,
            "--results_dir", tmp_path / "res", check=True)
    fakes = sorted(p.name for p in (tmp_path / "res/tiny/test_latest/images").glob("*_fake_B.png"))
    assert fakes == ["3_fake_B.png", "linked_1_fake_B.png", "linked_2_fake_B.png"]


@pytest.mark.slow
def test_test_py_refuses_another_direction_and_warns_about_another_size(tiny_checkpoint, synth32, tmp_path):
    test = ["test.py", "--dataroot", synth32, "--name", "tiny", "--checkpoints_dir", tiny_checkpoint,
            "--results_dir", tmp_path / "res"]
    line = one_line_error(run_cli(*test, "--direction", "AtoB"))
    assert "translates BtoA, not AtoB" in line
    proc = run_cli(*test, "--crop_size", "64", "--eval", check=True)
    assert "warning: --crop_size 64: the checkpoint was trained with --crop_size 32" in proc.stderr


def test_results_inside_the_dataset_folder_are_refused(tiny_checkpoint, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    Image.new("RGB", (32, 32)).save(inputs / "1.png")
    line = one_line_error(run_cli("test.py", "--dataroot", inputs, "--name", "tiny", "--checkpoints_dir",
                                  tiny_checkpoint, "--dataset_mode", "single", "--results_dir", inputs / "out"))
    assert "where test.py reads its inputs" in line and not (inputs / "out").exists()


@pytest.mark.slow
def test_fake_folders_of_two_experiments_get_rows_of_their_own(tmp_path):
    for experiment in ("one", "two"):
        images = tmp_path / "res" / experiment / "test_latest" / "images"
        images.mkdir(parents=True)
        (images.parent / "checkpoint.json").write_text("{}")
        for label in ("fake_B", "real_B"):
            Image.new("RGB", (16, 16), (10, 20, 30)).save(images / f"1_{label}.png")
        run_cli("evaluate.py", "--fake", images, "--real", images, "--metrics", "l1", "--table", tmp_path / "t.csv",
                check=True)
    rows = (tmp_path / "t.csv").read_text().splitlines()[1:]
    assert [row.split(",")[:2] for row in rows] == [["one", "test_latest"], ["two", "test_latest"]]


def test_plot_results_tells_rows_of_one_experiment_apart(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("experiment,run,fd_lite0\nbase,test_latest,200\nbase,test_5,250\nother,test_latest,190\n")
    proc = plot(tmp_path, table)
    assert proc.returncode == 0, proc.stderr
    markdown = (tmp_path / "plots" / "plots_table.md").read_text()
    assert "| base/test_latest | 200 |" in markdown and "| base/test_5 | 250 |" in markdown
    assert "| other | 190 |" in markdown
    proc = run_cli("scripts/plot_results.py", "--table", table, "--kind", "bars", "--out", tmp_path / "p2",
                   "--settings", "base/test_5,other", check=True)
    assert "| base/test_5 | 250 |" in (tmp_path / "p2" / "p2_table.md").read_text()
    assert "base" in one_line_error(run_cli("scripts/plot_results.py", "--table", table, "--kind", "bars", "--out",
                                            tmp_path / "p3", "--settings", "base"))


def test_combine_with_nothing_to_pair_says_why(tmp_path):
    (tmp_path / "A" / "train").mkdir(parents=True)
    (tmp_path / "B" / "val").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(tmp_path / "A" / "train" / "1.png")
    line = one_line_error(run_cli("datasets/combine_A_and_B.py", "--fold_A", tmp_path / "A", "--fold_B",
                                  tmp_path / "B", "--fold_AB", tmp_path / "AB"))
    assert "no pairs to combine" in line and "has no train folder" in line


def test_evaluate_on_results_without_ground_truth_points_to_fake_and_real(tmp_path):
    images = tmp_path / "res" / "test_latest" / "images"
    images.mkdir(parents=True)
    Image.new("RGB", (16, 16)).save(images / "1_fake_B.png")
    Image.new("RGB", (16, 16)).save(images / "1_real_A.png")
    line = one_line_error(run_cli("evaluate.py", "--results_dir", images.parent))
    assert "no *_real_B ground truth" in line and "--real DIR" in line


def test_translator_takes_numpy_integers_and_refuses_unreadable_images(tiny_checkpoint):
    from models.inference import Generator
    from models.options import DemoOptions

    translator = Generator(DemoOptions().parse_with_checkpoint(
        ["--name", "tiny", "--checkpoints_dir", str(tiny_checkpoint)]))
    rgb = np.zeros((32, 32, 3), np.uint8)
    assert len(translator(rgb, n_samples=np.int64(2), seed=np.int32(3))) == 2
    with pytest.raises(ValueError, match="0..1"):
        translator(Image.fromarray(np.full((8, 8), 5.0, np.float32)))
    with pytest.raises(ValueError, match="seed"):
        translator(rgb, seed=1.5)


# ---- the second hostile review's weak cases -------------------------------------------------------------------

def test_a_second_ctrl_c_waits_while_a_checkpoint_is_written():
    from conftest import load_script

    stop = load_script(REPO / "train.py").StopRequest()
    try:
        stop._handle(signal.SIGINT, None)  # the first asks for a save and stop
        with stop.protect():
            stop._handle(signal.SIGINT, None)  # the second, during the save: no interruption
        with pytest.raises(KeyboardInterrupt):
            stop._handle(signal.SIGINT, None)  # the second, at any other time: quit at once
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.mark.slow
def test_resuming_an_older_epoch_warns_about_the_later_checkpoints_and_refuses_epoch_count(synth32, tmp_path):
    args = ["--dataroot", synth32, *TINY, "--name", "run", "--checkpoints_dir", tmp_path, "--save_epoch_freq", "1",
            "--n_epochs", "2", "--n_epochs_decay", "0"]
    run_cli("train.py", *args, check=True)
    # upstream's habit of passing --epoch_count with --continue_train: the checkpoint's own position decides
    line = one_line_error(run_cli("train.py", *args, "--continue_train", "--epoch", "1", "--epoch_count", "9"))
    assert line.startswith("train.py: error: --epoch_count 9:") and "leave --epoch_count out to resume" in line
    proc = run_cli("train.py", *args, "--continue_train", "--epoch", "1", "--n_epochs", "3", check=True)
    assert "resuming at epoch 2" in proc.stdout
    assert "checkpoints of later epochs (2)" in proc.stderr


def test_a_plain_pickle_with_a_payload_is_refused_without_torchs_warning(tmp_path, recwarn):
    import pickle

    from util.errors import UserError
    from util.weights import safe_load

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    path = tmp_path / "latest_net_G.pth"
    path.write_bytes(pickle.dumps({"w": Payload()}, protocol=4))
    with pytest.raises(UserError, match="refusing to load"):
        safe_load(path)
    assert not (tmp_path / "ran").exists()
    assert not [w for w in recwarn if "pickle protocol" in str(w.message)]


def test_a_very_large_image_gets_one_line_of_warning(tmp_path, monkeypatch, capsys):
    from util.images import open_image

    path = tmp_path / "big.png"
    Image.new("RGB", (20, 20)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)  # PIL warns above this, refuses above twice this
    assert open_image(path).size == (20, 20)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "big.png is 20x20" in err and "downscale it" in err


def test_hand_tables_with_short_rows_say_so(tmp_path, capsys):
    from conftest import load_script

    table = tmp_path / "t.csv"
    table.write_text("experiment,run,psnr,ssim\na,test_latest,12.5,0.3\nb,test_latest\n")
    rows = load_script(REPO / "scripts" / "plot_results.py").read_table(table, None)
    assert [r["psnr"] for r in rows] == ["12.5", ""]
    assert "line 3 has fewer cells than the header" in capsys.readouterr().err


@pytest.mark.slow
def test_combining_a_folder_with_itself_and_scoring_a_results_folder_as_fake_are_explained(tiny_checkpoint, synth32,
                                                                                             tmp_path):
    fold = tmp_path / "A" / "train"
    fold.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(fold / "1.png")
    proc = run_cli("datasets/combine_A_and_B.py", "--fold_A", tmp_path / "A", "--fold_B", tmp_path / "A",
                   "--fold_AB", tmp_path / "AB", check=True)
    assert "--fold_A and --fold_B are the same folder" in proc.stderr
    run_cli("test.py", "--dataroot", synth32, "--name", "tiny", "--checkpoints_dir", tiny_checkpoint, "--results_dir",
            tmp_path / "res", check=True)
    folder = tmp_path / "res" / "tiny" / "test_latest"
    line = one_line_error(run_cli("evaluate.py", "--fake", folder, "--real", folder, "--metrics", "l1"))
    assert f"pass --results_dir {folder}" in line
    proc = run_cli("test.py", "--dataroot", synth32, "--name", "tiny", "--checkpoints_dir", tiny_checkpoint,
                   "--results_dir", tmp_path / "single", "--dataset_mode", "single", check=True)
    assert "like A|B pairs" in proc.stderr


def test_out_of_memory_is_one_line_with_the_flags_that_need_less_and_keeps_the_checkpoint(synth32, tmp_path):
    # 8 images in batches of 2: 4 steps an epoch, each with 3 backward passes (D, G); the 20th is in the second epoch
    env = {"PYTHONPATH": str(FAULTS), "DLIM_TEST_OOM_AT_BACKWARD": "20"}
    line = one_line_error(run_cli("train.py", "--dataroot", synth32, *RUN, "--n_epochs", "3", "--n_epochs_decay",
                                  "0", "--save_epoch_freq", "1", "--name", "oom", "--checkpoints_dir", tmp_path,
                                  env=env))
    assert re.search(r"out of memory on the CPU with --netG resnet_6blocks, --netD basic, --batch_size 2 at "
                     r"--crop_size 32: try --batch_size 1, --grad_checkpoint, a smaller --crop_size than 32; "
                     r"the checkpoints saved so far are intact", line), line
    state = torch.load(tmp_path / "oom" / "latest_checkpoint.pth", weights_only=True)
    assert state["progress"]["epoch"] == 2 and state["progress"]["total_iters"] == 8  # the first epoch's save
