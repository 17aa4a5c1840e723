"""Options: upstream names and defaults, presets, saved copies, and the checkpoint's options at test time."""
from __future__ import annotations

import pytest

from models.options import TestOptions
from training.options import TrainOptions
from util.errors import UserError

UPSTREAM_TRAIN_DEFAULTS = {
    "name": "experiment_name", "checkpoints_dir": "./checkpoints", "input_nc": 3, "output_nc": 3, "ngf": 64,
    "ndf": 64, "netD": "basic", "n_layers_D": 3, "init_type": "normal", "init_gain": 0.02, "no_dropout": False,
    "direction": "AtoB", "serial_batches": False, "batch_size": 1, "load_size": 286, "crop_size": 256,
    "max_dataset_size": float("inf"), "preprocess": "resize_and_crop", "no_flip": False, "display_winsize": 256,
    "epoch": "latest", "load_iter": 0, "verbose": False, "suffix": "", "display_freq": 400, "display_ncols": 4,
    "display_id": 1, "display_server": "http://localhost", "display_env": "main", "display_port": 8097,
    "update_html_freq": 1000, "print_freq": 100, "no_html": False, "save_latest_freq": 5000, "save_epoch_freq": 5,
    "save_by_iter": False, "continue_train": False, "epoch_count": 1, "phase": "train", "n_epochs": 100,
    "n_epochs_decay": 100, "beta1": 0.5, "lr": 0.0002, "lr_policy": "linear", "lr_decay_iters": 50,
    # pix2pix's own defaults
    "model": "pix2pix", "netG": "unet_256", "norm": "batch", "dataset_mode": "aligned", "gan_mode": "vanilla",
    "pool_size": 0, "lambda_L1": 100.0,
}


def test_train_defaults_match_upstream_pix2pix():
    opt = vars(TrainOptions().parse(["--dataroot", "d", "--gpu_ids", "-1"]))
    assert {k: opt[k] for k in UPSTREAM_TRAIN_DEFAULTS} == UPSTREAM_TRAIN_DEFAULTS


def test_test_defaults_match_upstream():
    opt = TestOptions().parse(["--dataroot", "d", "--gpu_ids", "-1"])
    assert (opt.results_dir, opt.aspect_ratio, opt.phase, opt.eval, opt.num_test) == ("./results/", 1.0, "test",
                                                                                       False, 50)
    assert opt.serial_batches and opt.no_flip and opt.load_size == opt.crop_size == 256


def test_small_cpus_get_no_loader_workers_by_default(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert TrainOptions().parse(["--dataroot", "d", "--gpu_ids", "-1"]).num_threads == 0
    assert TrainOptions().parse(["--dataroot", "d", "--gpu_ids", "-1", "--num_threads", "3"]).num_threads == 3


def test_presets_change_defaults_but_the_command_line_wins():
    opt = TrainOptions().parse(["--dataroot", "d", "--gpu_ids", "-1"], defaults={"netD": "pixel", "lr": 0.1})
    assert (opt.netD, opt.lr) == ("pixel", 0.1)
    opt = TrainOptions().parse(["--dataroot", "d", "--gpu_ids", "-1", "--netD", "basic"], defaults={"netD": "pixel"})
    assert opt.netD == "basic" and "netD" in opt.explicit


def test_variant_presets_set_the_seeds_defaults():
    def parse(*argv):
        return TrainOptions().parse(["--dataroot", "d", "--gpu_ids", "-1", *argv])

    assert (parse().lambda_perceptual, parse().lambda_GAN, parse().lambda_gp, parse().dropout_rate) == (0, 1, 0, 0.5)
    perceptual = parse("--model", "perceptual")
    assert (perceptual.lambda_perceptual, perceptual.lambda_L1, perceptual.perceptual_net) == (10.0, 0.0, "vgg19")
    assert parse("--model", "perceptual", "--lambda_L1", "100").lambda_L1 == 100.0
    assert parse("--model", "adversarial_losses").gan_mode == "hinge"
    assert parse("--model", "adversarial_losses", "--gan_mode", "w").gan_mode == "w"
    assert parse("--gan_mode", "wgangp").lambda_gp == 10.0
    assert parse("--gan_mode", "wgangp", "--lambda_gp", "1").lambda_gp == 1.0
    assert parse("--gan_mode", "hinge", "--lambda_gp", "5").lambda_gp == 5.0
    stochastic = parse("--model", "stochastic", "--dropout_rate", "0.95", "--weight_noise", "0.05")
    assert (stochastic.dropout_rate, stochastic.weight_noise, stochastic.weight_noise_in_training) == (0.95, 0.05,
                                                                                                       False)


def test_suffix_is_formatted_with_the_options():
    argv = ["--dataroot", "d", "--gpu_ids", "-1", "--name", "f", "--suffix", "{netG}_bs{batch_size}"]
    opt = TrainOptions().parse(argv)
    assert opt.name == "f_unet_256_bs1"


def test_gpu_ids_parse():
    assert TrainOptions().parse(["--dataroot", "d", "--gpu_ids", "-1"]).gpu_ids == []
    with pytest.raises(UserError, match="--gpu_ids"):
        TrainOptions().parse(["--dataroot", "d", "--gpu_ids", "zero"])


def test_crop_larger_than_load_is_rejected():
    with pytest.raises(UserError, match="--crop_size 300 is larger than --load_size 286"):
        TrainOptions().parse(["--dataroot", "d", "--gpu_ids", "-1", "--crop_size", "300"])


def test_saved_options_name_non_defaults(tmp_path):
    options = TrainOptions()
    opt = options.parse(["--dataroot", "d", "--gpu_ids", "-1", "--batch_size", "4"])
    options.save_options(opt, tmp_path)
    text = (tmp_path / "opt.txt").read_text()
    assert "batch_size: 4" in text and "[default: 1]" in text
    assert (tmp_path / "opt.json").read_text().count('"batch_size": 4') == 1
