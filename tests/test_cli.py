"""End to end through the command line: train.py -> test.py on synthetic data, and user errors."""
from __future__ import annotations

import json
import re

import pytest
import torch
from conftest import TINY, one_line_error, run_cli


@pytest.fixture(scope="module")
def trained(synth32, tmp_path_factory):
    """A tiny pix2pix trained for 2 epochs with the original DLIM project's command shape."""
    ckpt = tmp_path_factory.mktemp("checkpoints")
    proc = run_cli("train.py", "--dataroot", synth32, "--model", "pix2pix", "--name", "tiny", *TINY,
                   "--checkpoints_dir", ckpt, "--n_epochs", "1", "--n_epochs_decay", "1", "--print_freq", "4",
                   "--batch_size", "2", check=True)
    return synth32, ckpt, proc


def test_training_writes_checkpoints_options_logs_and_html(trained):
    _, ckpt, proc = trained
    exp = ckpt / "tiny"
    for name in ["latest_checkpoint.pth", "2_checkpoint.pth", "opt.txt", "opt.json", "loss_log.txt",
                 "loss_log.jsonl", "web/index.html"]:
        assert (exp / name).is_file(), name
    assert not list(exp.glob("*.tmp")) and not list(exp.glob(".*.tmp"))
    saved = json.loads((exp / "opt.json").read_text())
    assert saved["netG"] == "resnet_6blocks" and saved["batch_size"] == 2 and saved["direction"] == "BtoA"
    assert "netG: resnet_6blocks" in (exp / "opt.txt").read_text().replace("  ", "")
    records = [json.loads(line) for line in (exp / "loss_log.jsonl").read_text().splitlines()]
    assert {"G_GAN", "G_L1", "D_real", "D_fake", "lr", "epoch"} <= set(records[0])
    assert [r["epoch"] for r in records] == [1, 1, 2, 2]
    html = (exp / "web" / "index.html").read_text()
    assert "epoch [2]" in html and "epoch002_fake_B.png" in html
    assert (exp / "web" / "images" / "epoch002_fake_B.png").is_file()
    assert "done: checkpoints" in proc.stdout


def test_checkpoint_holds_the_full_training_state(trained):
    _, ckpt, _ = trained
    state = torch.load(ckpt / "tiny" / "latest_checkpoint.pth", weights_only=True)
    assert set(state["nets"]) == {"G", "D"}
    assert len(state["optimizers"]) == 2 and len(state["schedulers"]) == 2
    assert state["progress"]["epoch"] == 3 and state["progress"]["total_iters"] == 16
    assert {"torch", "numpy", "python"} <= set(state["rng"])
    assert state["options"]["netG"] == "resnet_6blocks"
    assert state["optimizers"][0]["param_groups"][0]["lr"] == 0.0  # linear decay has reached zero


def test_test_py_takes_the_architecture_from_the_checkpoint(trained, tmp_path):
    data, ckpt, _ = trained
    proc = run_cli("test.py", "--dataroot", data, "--name", "tiny", "--model", "pix2pix", "--direction", "BtoA",
                   "--checkpoints_dir", ckpt, "--results_dir", tmp_path, check=True)
    out = tmp_path / "tiny" / "test_latest"
    ids = sorted(p.stem for p in (data / "test").iterdir())
    for i in ids:
        for label in ("real_A", "fake_B", "real_B"):
            assert (out / "images" / f"{i}_{label}.png").is_file()
    html = (out / "index.html").read_text()
    assert all(f"{i}_fake_B.png" in html for i in ids)
    assert re.search(r"results: .*index\.html", proc.stdout)


def test_test_py_loads_a_numbered_epoch_and_num_test(trained, tmp_path):
    data, ckpt, _ = trained
    proc = run_cli("test.py", "--dataroot", data, "--name", "tiny", "--epoch", "2", "--num_test", "2", "--eval",
                   "--checkpoints_dir", ckpt, "--results_dir", tmp_path, check=True)
    assert len(list((tmp_path / "tiny" / "test_2" / "images").glob("*_fake_B.png"))) == 2
    assert "translated 2 of 4" in proc.stdout


def test_single_dataset_mode_translates_a_folder_of_inputs(trained, tmp_path):
    data, ckpt, _ = trained
    from PIL import Image

    inputs = tmp_path / "labels"
    inputs.mkdir()
    for p in sorted((data / "test").iterdir())[:2]:
        ab = Image.open(p)
        ab.crop((ab.width // 2, 0, ab.width, ab.height)).save(inputs / f"{p.stem}.png")
    run_cli("test.py", "--dataroot", inputs, "--dataset_mode", "single", "--name", "tiny", "--checkpoints_dir", ckpt,
            "--results_dir", tmp_path / "res", check=True)
    images = sorted(p.name for p in (tmp_path / "res" / "tiny" / "test_latest" / "images").iterdir())
    assert images == ["1_fake_B.png", "1_real_A.png", "2_fake_B.png", "2_real_A.png"]


def test_explicit_architecture_that_contradicts_the_checkpoint_is_refused(trained, tmp_path):
    data, ckpt, _ = trained
    line = one_line_error(run_cli("test.py", "--dataroot", data, "--name", "tiny", "--netG", "resnet_9blocks",
                                  "--checkpoints_dir", ckpt, "--results_dir", tmp_path))
    assert "--netG resnet_6blocks" in line and "latest_checkpoint.pth" in line


def test_results_dir_that_is_a_file_is_a_one_line_error(trained, tmp_path):
    data, ckpt, _ = trained
    (tmp_path / "results").write_text("")
    line = one_line_error(run_cli("test.py", "--dataroot", data, "--name", "tiny", "--checkpoints_dir", ckpt,
                                  "--results_dir", tmp_path / "results"))
    assert "results" in line


@pytest.mark.slow
def test_missing_checkpoint_is_a_one_line_error(synth32, tmp_path):
    line = one_line_error(run_cli("test.py", "--dataroot", synth32, "--name", "nothing_here",
                                  "--checkpoints_dir", tmp_path))
    assert "nothing_here" in line and "train first" in line


@pytest.mark.slow
def test_corrupt_checkpoint_is_a_one_line_error(synth32, tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "latest_checkpoint.pth").write_bytes(b"PK\x03\x04 not really a zip")
    line = one_line_error(run_cli("test.py", "--dataroot", synth32, "--name", "broken", "--checkpoints_dir", tmp_path))
    assert "latest_checkpoint.pth" in line


@pytest.mark.parametrize("args,expect", [
    (["--dataroot", "/no/such/folder"], "/no/such/folder"),
    (["--netG", "unet_1024"], "--netG"),
    (["--model", "cyclegan"], "--model"),
    (["--netD", "huge"], "--netD"),
    (["--load_size", "16", "--crop_size", "32"], "--crop_size"),
    (["--gan_mode", "nope"], "--gan_mode"),
    (["--phase", "missing"], "missing"),
    (["--suffix", "{nope}"], "--suffix"),
    (["--dataset_mode", "single"], "single"),
    (["--save_epoch_freq", "0"], "--save_epoch_freq"),
    (["--input_nc", "4"], "--input_nc"),
])
@pytest.mark.slow
def test_bad_training_input_is_a_one_line_error(synth32, tmp_path, args, expect):
    argv = ["--dataroot", synth32, *TINY, "--checkpoints_dir", tmp_path, *args]
    line = one_line_error(run_cli("train.py", *argv))
    assert expect in line


@pytest.mark.slow
def test_gpu_asked_without_cuda_is_a_one_line_error(synth32, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    line = one_line_error(run_cli("train.py", "--dataroot", synth32, "--gpu_ids", "0", "--checkpoints_dir", tmp_path))
    assert "--gpu_ids -1" in line


@pytest.mark.slow
def test_generator_size_mismatch_is_a_one_line_error(synth32, tmp_path):
    line = one_line_error(run_cli("train.py", "--dataroot", synth32, "--netG", "unet_256", "--ngf", "4",
                                  "--load_size", "32", "--crop_size", "32", "--display_id", "0",
                                  "--checkpoints_dir", tmp_path))
    assert "multiples of 256" in line


@pytest.mark.slow
def test_without_visdom_server_training_warns_once_and_goes_on(synth32, tmp_path):
    argv = [*TINY, "--display_id", "1", "--display_port", "9", "--n_epochs", "1", "--n_epochs_decay", "0"]
    proc = run_cli("train.py", "--dataroot", synth32, *argv, "--checkpoints_dir", tmp_path, "--max_dataset_size", "2",
                   check=True)
    warnings = [line for line in proc.stderr.splitlines() if "visdom" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning:"), proc.stderr
    assert (tmp_path / "experiment_name" / "latest_checkpoint.pth").is_file()


@pytest.mark.slow
def test_help_lists_the_registered_choices():
    out = run_cli("train.py", "--help", check=True).stdout
    for name in ["--lambda_L1", "unet_256", "resnet_9blocks", "pixel", "n_layers", "lsgan", "vanilla", "cosine",
                 "plateau", "scale_width_and_crop", "instance", "orthogonal", "aligned", "single", "hinge", "wgangp",
                 "--lambda_gp", "--lambda_GAN", "--lambda_perceptual", "efficientnet_lite0", "--vgg_weights",
                 "--weight_noise", "--dropout_rate", "perceptual", "adversarial_losses", "stochastic"]:
        assert name in out
    out = run_cli("test.py", "--help", check=True).stdout
    assert "--n_samples" in out and "--weight_noise" in out and "--lambda_L1" not in out
