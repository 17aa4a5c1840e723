"""Better images for the same compute: --ema, --diffaug, --upsample, validation during training, --model
pix2pix_plus, and seeds as a dimension of the experiment scripts."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from argparse import Namespace

import numpy as np
import pytest
import torch
from conftest import REPO, TINY, load_script, one_line_error, run_cli
from PIL import Image
from torch import nn

from models.networks import count_parameters, define_G
from models.networks.diffaug import PairAugment, _translate
from models.networks.generators import upsampling_conv
from training.ema import GeneratorAverage

RUN = [*TINY, "--n_epochs", "1", "--n_epochs_decay", "1", "--batch_size", "2", "--num_threads", "0"]
TINY48 = [f for f in TINY if f not in ("--load_size", "--crop_size", "32")] + ["--load_size", "48", "--crop_size", "48"]


def checkpoint(folder, label="latest") -> dict:
    return torch.load(folder / f"{label}_checkpoint.pth", weights_only=True)


def assert_same_nets(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for net in a:
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), f"{net}.{key} differs"


# ---- the moving average of G ----------------------------------------------------------------------------------

def test_the_average_follows_the_warm_up_then_the_decay():
    net = nn.Linear(1, 1, bias=False)
    average = GeneratorAverage(net, decay=0.999)
    weight = average.module.weight
    for value in (1.0, 0.0, 1.0):
        net.weight.data.fill_(value)
        average.update(net)
    # update 0 copies (1); update 1 keeps 2/11 of the average (0 in); update 2 keeps 3/12 (1 in)
    assert weight.item() == pytest.approx(0.25 * (2 / 11) + 0.75)
    average.averaged.n_averaged.fill_(100_000)  # long after the warm-up: the decay itself
    before = weight.item()
    net.weight.data.fill_(0.0)
    average.update(net)
    assert weight.item() == pytest.approx(0.999 * before)
    assert average.updates == 100_001


@pytest.fixture(scope="module")
def ema_run(synth32, tmp_path_factory):
    """Two epochs with --ema and --diffaug (8 images, batches of 2), keeping a mid-run checkpoint (iter_6)."""
    ckpt = tmp_path_factory.mktemp("ema")
    run_cli("train.py", "--dataroot", synth32, *RUN, "--name", "run", "--checkpoints_dir", ckpt, "--ema",
            "--diffaug", "color,translation,cutout", "--save_latest_freq", "6", "--save_by_iter", check=True)
    return ckpt / "run"


def test_checkpoints_hold_the_average_with_its_own_batch_norm_statistics(ema_run):
    state = checkpoint(ema_run)
    assert state["ema"] == {"decay": 0.999, "updates": 8}  # 2 epochs x 4 steps
    raw, averaged = state["nets"]["G"], state["nets"]["G_ema"]
    counters = [k for k in raw if k.endswith("num_batches_tracked")]
    assert counters
    # the raw G counted its 8 training batches; the average's statistics were estimated afresh on the first
    # training images, in batches of 2 (the 8 images: 4 batches)
    assert all(raw[k].item() == 8 and averaged[k].item() == 4 for k in counters)
    assert not torch.equal(raw["model.1.weight"], averaged["model.1.weight"])


@pytest.mark.slow
def test_test_py_translates_with_the_average_unless_told_raw(ema_run, synth32, tmp_path):
    outputs = {}
    for weights in ("", "raw"):
        folder = tmp_path / (weights or "default")
        run_cli("test.py", "--dataroot", synth32, "--name", "run", "--checkpoints_dir", ema_run.parent,
                "--results_dir", folder, *(["--weights", weights] if weights else []), check=True)
        run = "test_latest" + (f"_{weights}" if weights else "")  # not the checkpoint's default: kept apart
        info = json.loads((folder / "run" / run / "checkpoint.json").read_text())
        first = sorted((synth32 / "test").iterdir())[0].stem
        outputs[info["weights"]] = np.asarray(Image.open(folder / "run" / run / "images" / f"{first}_fake_B.png"))
    assert set(outputs) == {"ema", "raw"}
    assert not np.array_equal(outputs["ema"], outputs["raw"])
    proc = run_cli("evaluate.py", "--results_dir", tmp_path / "default" / "run" / "test_latest", "--metrics", "l1",
                   "--table", tmp_path / "table.csv", check=True)
    assert proc.returncode == 0
    assert "weights" in (tmp_path / "table.csv").read_text().splitlines()[0]


def test_weights_ema_of_a_run_without_average_is_a_one_line_error(tiny_checkpoint, synth32, tmp_path):
    proc = run_cli("test.py", "--dataroot", synth32, "--name", "tiny", "--checkpoints_dir", tiny_checkpoint,
                   "--results_dir", tmp_path, "--weights", "ema")
    line = one_line_error(proc)
    assert "--weights ema" in line and "without --ema" in line and "--weights raw" in line


def test_a_resumed_run_with_average_and_augmentation_matches_an_uninterrupted_one(ema_run, synth32, tmp_path):
    resumed = tmp_path / "run"
    resumed.mkdir()
    (resumed / "iter_6_checkpoint.pth").write_bytes((ema_run / "iter_6_checkpoint.pth").read_bytes())
    run_cli("train.py", "--dataroot", synth32, *RUN, "--name", "run", "--checkpoints_dir", tmp_path, "--ema",
            "--diffaug", "color,translation,cutout", "--continue_train", "--load_iter", "6", check=True)
    assert_same_nets(checkpoint(ema_run)["nets"], checkpoint(resumed)["nets"])


# ---- discriminator augmentation -------------------------------------------------------------------------------

def test_translation_moves_whole_pixels_and_fills_with_zeros():
    x = torch.arange(1.0, 10.0).view(1, 1, 3, 3)
    down_left = _translate(x, torch.tensor([[1, -1]]))
    assert down_left[0, 0].tolist() == [[0, 0, 0], [2, 3, 0], [5, 6, 0]]


def test_pairs_stay_aligned_and_colour_changes_only_the_photo():
    torch.manual_seed(0)
    label_map = (torch.rand(8, 3, 32, 32) > 0.5).float() * 2 - 1
    AB = torch.cat((label_map, label_map), 1)  # a photo identical to its label map
    moved = PairAugment("translation,cutout", 1.0, 3)(AB)
    assert torch.equal(moved[:, :3], moved[:, 3:]) and not torch.equal(moved, AB)
    coloured = PairAugment("color", 1.0, 3)(AB)
    assert torch.equal(coloured[:, :3], label_map) and not torch.equal(coloured[:, 3:], label_map)
    assert torch.allclose(PairAugment("color,translation,cutout", 0.0, 3)(AB), AB, atol=1e-6)  # p = 0: none


def test_one_draw_applies_alike_to_several_batches_and_passes_gradients():
    augment = PairAugment("color,translation,cutout", 1.0, 3)
    fake = torch.randn(4, 6, 16, 16, requires_grad=True)
    draw = augment.draw(fake)
    assert torch.equal(augment.apply(fake, draw), augment.apply(fake.detach().clone(), draw))
    augment.apply(fake, draw).square().sum().backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


@pytest.mark.slow
@pytest.mark.parametrize("netD, flags", [
    ("basic", ["--gan_mode", "wgangp", "--norm", "instance"]),  # with the gradient penalty
    ("sesame", []),  # multiscale with feature matching and the penalty: tests/test_distributed.py, under torchrun
])
def test_diffaug_trains_with_every_discriminator(synth32, tmp_path, netD, flags):
    proc = run_cli("train.py", "--dataroot", synth32, *TINY48, "--n_epochs", "1", "--n_epochs_decay", "0",
                   "--batch_size", "2", "--num_threads", "0", "--name", "aug", "--checkpoints_dir", tmp_path,
                   "--print_freq", "2", "--netD", netD, *flags, "--diffaug", "color,translation,cutout",
                   "--diffaug_p", "0.5", check=True)
    assert "Traceback" not in proc.stderr
    records = [json.loads(line) for line in (tmp_path / "aug" / "loss_log.jsonl").read_text().splitlines()]
    assert records and all(np.isfinite(v) for r in records for k, v in r.items() if k.startswith(("G_", "D_")))
    assert json.loads((tmp_path / "aug" / "opt.json").read_text())["diffaug"] == "color,translation,cutout"


@pytest.mark.parametrize("flag, value, expected", [
    ("--diffaug", "colour", "unknown augmentation 'colour'"),
    ("--diffaug", "none,color", "unknown augmentation 'none' (choose from color, translation, cutout; or none alone)"),
    ("--diffaug_p", "1.5", "must be from 0 to 1"),
    ("--ema", "1", "must be at least 0 and below 1"),
])
def test_bad_technique_values_are_one_line_errors(synth32, tmp_path, flag, value, expected):
    line = one_line_error(run_cli("train.py", "--dataroot", synth32, *RUN, "--checkpoints_dir", tmp_path,
                                  flag, value))
    assert flag in line and expected in line


# ---- upsampling ------------------------------------------------------------------------------------------------

def generator(netG: str, upsample: str) -> nn.Module:
    return define_G(Namespace(input_nc=3, output_nc=3, ngf=64, norm="batch", no_dropout=False, init_type="normal",
                              init_gain=0.02, netG=netG, upsample=upsample))


@pytest.mark.parametrize("netG", ["unet_128", "resnet_6blocks"])
def test_resize_upsampling_builds_no_transposed_convolutions(netG):
    transpose, resize = generator(netG, "transpose"), generator(netG, "resize")
    assert any(isinstance(m, nn.ConvTranspose2d) for m in transpose.modules())
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in resize.modules())
    x = torch.randn(1, 3, 128, 128)
    assert resize(x).shape == transpose(x).shape == x.shape
    assert count_parameters(transpose) == {"unet_128": 41_828_995, "resnet_6blocks": 7_841_411}[netG]  # upstream's


def test_a_transposed_convolution_draws_a_checkerboard_where_a_resize_convolution_does_not():
    """resnet's 3x3 stride-2 transposed convolution covers output pixels 1, 2 or 4 times: with equal weights, a
    flat input comes out as a checkerboard; a resize-convolution keeps it flat (away from the zero-padded border)."""
    flat = torch.ones(1, 1, 8, 8)
    outputs = {}
    for kind in ("transpose", "resize"):
        layer = upsampling_conv(1, 1, kind, bias=False, kernel_size=3, output_padding=1,
                                transpose_class=nn.ConvTranspose2d)
        for p in layer.parameters():
            nn.init.constant_(p, 1.0)
        outputs[kind] = layer(flat)[0, 0, 2:-2, 2:-2].detach()
    assert set(outputs["transpose"].unique().tolist()) == {1.0, 2.0, 4.0}
    assert outputs["resize"].unique().tolist() == [9.0]


# ---- validation during training --------------------------------------------------------------------------------

@pytest.mark.slow
def test_validation_logs_scores_keeps_the_best_and_changes_nothing_in_training(synth32, tmp_path):
    common = ["--dataroot", synth32, *RUN, "--name", "run"]
    run_cli("train.py", *common, "--checkpoints_dir", tmp_path / "plain", check=True)
    proc = run_cli("train.py", *common, "--checkpoints_dir", tmp_path / "val", "--val_freq", "1",
                   "--val_metrics", "l1,psnr", "--val_metric", "psnr", check=True)
    run = tmp_path / "val" / "run"
    assert_same_nets(checkpoint(tmp_path / "plain" / "run")["nets"], checkpoint(run)["nets"])

    records = [json.loads(line) for line in (run / "validation.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert all(set(r["scores"]) == {"l1", "psnr"} for r in records)
    best = max(records, key=lambda r: r["scores"]["psnr"])
    saved = checkpoint(run, "best")["progress"]["best"]
    assert saved == {"metric": "psnr", "phase": "val", "images": 2, "value": pytest.approx(best["scores"]["psnr"]),
                     "epoch": best["epoch"]}
    assert "validation after epoch 1: l1" in proc.stdout and "images, " in proc.stdout  # with its cost
    assert "validation after epoch 2" in (run / "loss_log.txt").read_text()
    assert "validation: l1" in (run / "web" / "index.html").read_text()
    run_cli("test.py", "--dataroot", synth32, "--name", "run", "--checkpoints_dir", tmp_path / "val", "--epoch",
            "best", "--results_dir", tmp_path / "res", check=True)


@pytest.mark.parametrize("flags, expected", [
    (["--val_metrics", "l1", "--val_metric", "psnr"], "--val_metric psnr is not among --val_metrics l1"),
    (["--val_phase", "holdout"], "--val_phase holdout"),
    (["--val_metrics", "fid,sharpness"], "--val_metrics: unknown metric 'sharpness'"),
])
def test_validation_flags_are_checked_before_training(synth32, tmp_path, flags, expected):
    line = one_line_error(run_cli("train.py", "--dataroot", synth32, *RUN, "--checkpoints_dir", tmp_path,
                                  "--val_freq", "1", *flags))
    assert expected in line
    assert not (tmp_path / "experiment_name").exists()


# ---- the preset --------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_pix2pix_plus_is_pix2pix_with_the_techniques_on(synth32, tmp_path):
    run_cli("train.py", "--dataroot", synth32, *TINY48, "--model", "pix2pix_plus", "--n_epochs", "1",
            "--n_epochs_decay", "0", "--batch_size", "2", "--num_threads", "0", "--name", "plus",
            "--checkpoints_dir", tmp_path, check=True)
    opt = json.loads((tmp_path / "plus" / "opt.json").read_text())
    assert {k: opt[k] for k in ("ema", "diffaug", "upsample", "gan_mode", "netD", "lambda_L1")} == {
        "ema": 0.999, "diffaug": "color,translation,cutout", "upsample": "resize", "gan_mode": "vanilla",
        "netD": "basic", "lambda_L1": 100.0}
    assert "G_ema" in checkpoint(tmp_path / "plus")["nets"]
    run_cli("test.py", "--dataroot", synth32, "--name", "plus", "--checkpoints_dir", tmp_path, "--results_dir",
            tmp_path / "res", check=True)
    info = json.loads((tmp_path / "res" / "plus" / "test_latest" / "checkpoint.json").read_text())
    assert info["weights"] == "ema"
    # test.py built G with resize upsampling, as the checkpoint says; asking for another is an error
    line = one_line_error(run_cli("test.py", "--dataroot", synth32, "--name", "plus", "--checkpoints_dir", tmp_path,
                                  "--results_dir", tmp_path / "res", "--upsample", "transpose"))
    assert "--upsample resize" in line


# ---- seeds in the experiment scripts ---------------------------------------------------------------------------

def test_seeds_run_each_setting_once_per_seed(tmp_path):
    """With a stand-in python that records its arguments."""
    log, stub = tmp_path / "calls.txt", tmp_path / "python"
    stub.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    stub.chmod(0o755)
    proc = subprocess.run(["bash", str(REPO / "scripts" / "experiments" / "recipe.sh"), "--rows", "defaults,plus",
                           "--seeds", "0,2", "--epochs", "2", "--gpu_ids", "-1", "--out", "out"], cwd=tmp_path,
                          env={**os.environ, "PYTHON": str(stub)}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    trains = [line.split() for line in log.read_text().splitlines() if line.startswith("train.py")]
    assert [(t[t.index("--name") + 1], t[-1]) for t in trains] == [
        ("defaults_s0", "0"), ("defaults_s2", "2"), ("plus_s0", "0"), ("plus_s2", "2")]
    plots = [line for line in log.read_text().splitlines() if line.startswith("scripts/plot_results.py")]
    assert plots and "--settings defaults,plus" in plots[0]
    proc = subprocess.run(["bash", str(REPO / "scripts" / "experiments" / "recipe.sh"), "--seeds", "one"],
                          cwd=tmp_path, env={**os.environ, "PYTHON": str(stub)}, capture_output=True, text=True)
    assert proc.returncode == 2 and "--seeds one" in proc.stderr


SEEDED = """experiment,run,seed,kid_lite0,kid_lite0_std,psnr,train_seconds,n_images
defaults_s0,test_latest,0,0.335,0.002,12.9,600,106
defaults_s1,test_latest,1,0.279,0.002,12.8,610,106
defaults_s2,test_latest,2,0.300,0.003,13.0,590,106
plus_s0,test_latest,0,0.200,0.002,13.5,800,106
"""


def test_plot_results_shows_mean_and_spread_over_seeds(tmp_path):
    table = tmp_path / "metrics.csv"
    table.write_text(SEEDED)
    run_cli("scripts/plot_results.py", "--table", table, "--kind", "bars", "--out", tmp_path / "recipe", check=True)
    lines = (tmp_path / "recipe" / "recipe_table.md").read_text().splitlines()
    assert lines[0] == "| setting | seeds | kid_lite0 | psnr | train_seconds | images |"
    # mean of 0.335, 0.279, 0.300 = 0.3047, sample std 0.0283; psnr 12.9 ± 0.1; 600 ± 10 s
    assert lines[2] == "| defaults | 0,1,2 | 0.3047 ± 0.028 | 12.9 ± 0.1 | 600 ± 10 | 106 |"
    assert lines[3] == "| plus | 0 | 0.2 ± 0.002 | 13.5 | 800 | 106 |"  # one seed: the run's own spread
    assert "mean ± standard deviation over the seeds" in "\n".join(lines)
    plot_results = load_script(REPO / "scripts" / "plot_results.py")
    rows = plot_results.read_table(table, None)
    assert plot_results.spread_note(rows).startswith("error bars: std over 3 training seeds")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
