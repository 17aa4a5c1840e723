"""The original DLIM project's model variants end to end through the CLI: train.py -> test.py on tiny synthetic data."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import TINY, one_line_error, run_cli, run_cli_in_terminal
from PIL import Image

EPOCH = ["--n_epochs", "1", "--n_epochs_decay", "0", "--print_freq", "4", "--batch_size", "2"]


def train(data, ckpt, name: str, *flags: str):
    return run_cli("train.py", "--dataroot", data, "--name", name, "--checkpoints_dir", ckpt, *TINY, *EPOCH, *flags,
                   check=True)


def run_test(data, ckpt, results, name: str, *flags: str):
    return run_cli("test.py", "--dataroot", data, "--name", name, "--checkpoints_dir", ckpt, "--results_dir",
                   results, *flags, check=True)


def logged_losses(ckpt, name: str) -> set[str]:
    records = [json.loads(line) for line in (ckpt / name / "loss_log.jsonl").read_text().splitlines()]
    return set(records[-1]) - {"epoch", "epoch_iter", "total_iters", "lr", "time_per_image", "data_time", "wall"}


def checkpoint(ckpt, name: str) -> dict:
    return torch.load(ckpt / name / "latest_checkpoint.pth", weights_only=True)


def image(path) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.int16)


VARIANTS = {
    # name: (train.py flags, losses in the log, nets in the checkpoint)
    "perceptual_vgg": (["--model", "perceptual"], {"G_GAN", "G_perceptual", "D_real", "D_fake"}, {"G", "D"}),
    "perceptual_lite0_l1": (["--model", "perceptual", "--perceptual_net", "efficientnet_lite0", "--lambda_L1", "100"],
                            {"G_GAN", "G_L1", "G_perceptual", "D_real", "D_fake"}, {"G", "D"}),
    "adv_original": (["--model", "adversarial_losses", "--gan_mode", "original"],
                     {"G_GAN", "G_L1", "D_real", "D_fake"}, {"G", "D"}),
    "adv_ls": (["--model", "adversarial_losses", "--gan_mode", "ls"], {"G_GAN", "G_L1", "D_real", "D_fake"},
               {"G", "D"}),
    "adv_hinge": (["--model", "adversarial_losses", "--gan_mode", "hinge"], {"G_GAN", "G_L1", "D_real", "D_fake"},
                  {"G", "D"}),
    "adv_w": (["--model", "adversarial_losses", "--gan_mode", "w"], {"G_GAN", "G_L1", "D_real", "D_fake"},
              {"G", "D"}),
    "adv_wgangp": (["--model", "adversarial_losses", "--gan_mode", "wgangp"],
                   {"G_GAN", "G_L1", "D_real", "D_fake", "D_GP"}, {"G", "D"}),
    "no_D": (["--model", "pix2pix", "--netD", "none"], {"G_L1"}, {"G"}),
    "lambda_GAN_0": (["--model", "pix2pix", "--lambda_GAN", "0"], {"G_L1"}, {"G"}),
    "stochastic": (["--model", "stochastic", "--dropout_rate", "0.9"], {"G_GAN", "G_L1", "D_real", "D_fake"},
                   {"G", "D"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_variant_trains_and_tests_through_the_cli(name, synth32, vgg19_random_weights, tmp_path):
    flags, losses, nets = VARIANTS[name]
    if "perceptual" in flags and "efficientnet_lite0" not in flags:
        flags = [*flags, "--vgg_weights", str(vgg19_random_weights)]
    train(synth32, tmp_path, name, *flags)
    assert logged_losses(tmp_path, name) == losses
    state = checkpoint(tmp_path, name)
    assert set(state["nets"]) == nets  # no perceptual network in the checkpoint
    assert len(state["optimizers"]) == len(nets)
    html = (tmp_path / name / "web" / "index.html").read_text()
    assert all(loss in html for loss in losses)
    assert all(np.isfinite(v) for k, v in json.loads(
        (tmp_path / name / "loss_log.jsonl").read_text().splitlines()[-1]).items() if k in losses)
    run_test(synth32, tmp_path, tmp_path / "results", name)  # the model comes from the checkpoint
    assert len(list((tmp_path / "results" / name / "test_latest" / "images").glob("*_fake_B.png"))) == 4


def test_the_progress_bar_shows_each_variants_losses(synth32, tmp_path):
    code, out = run_cli_in_terminal("train.py", "--dataroot", synth32, "--name", "bar", "--checkpoints_dir", tmp_path,
                                    *TINY, *EPOCH, "--model", "adversarial_losses", "--gan_mode", "wgangp")
    assert code == 0, out[-2000:]
    assert "epoch 1/1" in out and "img/s=" in out
    for loss in ("G_GAN=", "G_L1=", "D_real=", "D_fake=", "D_GP="):
        assert loss in out


@pytest.mark.slow
def test_wgangp_defaults_to_a_gradient_penalty_of_10_and_accepts_another(synth32, tmp_path):
    train(synth32, tmp_path, "gp", "--gan_mode", "wgangp")
    assert checkpoint(tmp_path, "gp")["options"]["lambda_gp"] == 10.0
    train(synth32, tmp_path, "nogp", "--gan_mode", "wgangp", "--lambda_gp", "0")
    assert "D_GP" not in logged_losses(tmp_path, "nogp")


def test_gan_mode_hinge_also_works_with_the_pixel_discriminator(synth32, tmp_path):
    train(synth32, tmp_path, "pixel", "--gan_mode", "hinge", "--netD", "pixel")
    assert "D_real" in logged_losses(tmp_path, "pixel")


@pytest.mark.slow
def test_unknown_gan_mode_and_nothing_to_train_are_one_line_errors(synth32, tmp_path):
    proc = run_cli("train.py", "--dataroot", synth32, "--checkpoints_dir", tmp_path, "--gan_mode", "minimax")
    assert "--gan_mode" in one_line_error(proc) and "hinge" in proc.stderr
    proc = run_cli("train.py", "--dataroot", synth32, "--checkpoints_dir", tmp_path, *TINY, "--netD", "none",
                   "--lambda_L1", "0")
    assert "nothing to train" in one_line_error(proc)
    proc = run_cli("train.py", "--dataroot", synth32, "--checkpoints_dir", tmp_path, "--dropout_rate", "1")
    assert "--dropout_rate" in one_line_error(proc)


# ---- the stochastic generator --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stochastic(synth32, tmp_path_factory):
    """A tiny stochastic model trained with dropout (and one trained without, for weight noise)."""
    ckpt = tmp_path_factory.mktemp("stochastic")
    train(synth32, ckpt, "stoch", "--model", "stochastic")
    train(synth32, ckpt, "nodrop", "--model", "stochastic", "--no_dropout", "--weight_noise", "0.1",
          "--weight_noise_in_training")
    return synth32, ckpt


def samples(folder, name: str, image_id: str = "1") -> list[np.ndarray]:
    images = folder / name / "test_latest" / "images"
    return [image(p) for p in sorted(images.glob(f"{image_id}_fake_B_*.png"))]


def test_n_samples_writes_k_different_outputs_side_by_side(stochastic, tmp_path):
    data, ckpt = stochastic
    run_test(data, ckpt, tmp_path, "stoch", "--n_samples", "3", "--eval")
    outs = samples(tmp_path, "stoch")
    assert len(outs) == 3
    assert all(np.abs(outs[i] - outs[j]).sum() > 0 for i, j in [(0, 1), (0, 2), (1, 2)])
    html = (tmp_path / "stoch" / "test_latest" / "index.html").read_text()
    row = html[html.index("1_real_A.png"):html.index("1_real_B.png")]
    assert row.index("1_fake_B_1.png") < row.index("1_fake_B_2.png") < row.index("1_fake_B_3.png")


@pytest.mark.slow
def test_samples_are_reproducible_by_seed(stochastic, tmp_path):
    data, ckpt = stochastic
    for run, seed in [("a", "1"), ("b", "1"), ("c", "2")]:
        run_test(data, ckpt, tmp_path / run, "stoch", "--n_samples", "2", "--seed", seed)
    a, b, c = (samples(tmp_path / run, "stoch") for run in "abc")
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert any(not np.array_equal(x, z) for x, z in zip(a, c))


def test_weight_noise_alone_makes_samples_differ_and_leaves_weights_alone(stochastic, tmp_path):
    data, ckpt = stochastic
    before = checkpoint(ckpt, "nodrop")["nets"]["G"]
    run_test(data, ckpt, tmp_path, "nodrop", "--n_samples", "2", "--eval")  # --weight_noise 0.1 from the checkpoint
    a, b = samples(tmp_path, "nodrop")
    assert np.abs(a - b).sum() > 0
    after = checkpoint(ckpt, "nodrop")["nets"]["G"]
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_no_dropout_and_no_weight_noise_make_outputs_deterministic(stochastic, tmp_path):
    data, ckpt = stochastic
    proc = run_test(data, ckpt, tmp_path, "stoch", "--n_samples", "3", "--dropout_rate", "0", "--weight_noise", "0")
    outs = samples(tmp_path, "stoch")
    assert all(np.array_equal(outs[0], o) for o in outs[1:])
    assert "samples will be identical" in proc.stderr


@pytest.mark.slow
def test_dropout_rate_changes_how_much_samples_differ(stochastic, tmp_path):
    data, ckpt = stochastic
    spread = {}
    for rate in ("0.1", "0.9"):
        run_test(data, ckpt, tmp_path / rate, "stoch", "--n_samples", "2", "--dropout_rate", rate, "--eval")
        a, b = samples(tmp_path / rate, "stoch")
        spread[rate] = np.abs(a - b).mean()
    assert 0 < spread["0.1"] < spread["0.9"]


@pytest.mark.slow
def test_flags_that_do_nothing_without_a_discriminator_are_warned_about(synth32, tmp_path):
    proc = train(synth32, tmp_path, "unused", "--netD", "none", "--lambda_feat", "--gan_mode", "wgangp",
                 "--weight_noise_in_training")
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert any("--lambda_feat" in w and "--lambda_gp" in w and "no discriminator" in w for w in warnings)
    assert any("--weight_noise_in_training" in w for w in warnings)
    proc = run_cli("train.py", "--dataroot", synth32, "--name", "unused", "--checkpoints_dir", tmp_path, *TINY,
                   "--n_epochs", "2", "--netD", "basic", "--continue_train")
    assert "--netD basic: " in one_line_error(proc) and "was trained with --netD none" in one_line_error(proc)
