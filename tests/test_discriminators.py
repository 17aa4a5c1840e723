"""Discriminators: multiscale and SESAME shapes, spectral norm, fusion, feature matching, and every gan_mode with
every discriminator; trainSesame.py end to end."""
from __future__ import annotations

import json
from argparse import Namespace

import pytest
import torch
from conftest import TINY, one_line_error, run_cli
from torch import nn
from torch.nn.utils import parametrize

from models import create_model
from models.networks import (
    DISCRIMINATORS,
    GAN_MODES,
    MultiscaleDiscriminator,
    SesameDiscriminator,
    count_parameters,
    define_D,
    feature_matching_loss,
    min_input_side,
    receptive_fields,
)
from training.options import TrainOptions
from training.trainer import Trainer


def options(**kw) -> Namespace:
    base = dict(input_nc=3, output_nc=3, ndf=8, norm="batch", init_type="normal", init_gain=0.02, netD="basic",
                n_layers_D=3, num_D=2)
    return Namespace(**{**base, **kw})


# PatchGAN (pix2pix layout, 3 layers): side s -> s/8 after three stride-2 convs, then two stride-1 4x4 convs: -2
@pytest.mark.parametrize("side", [128, 256])
@pytest.mark.parametrize("netD", ["multiscale", "sesame"])
@pytest.mark.parametrize("num_D", [1, 2, 3])
def test_every_scale_judges_patches_of_a_smaller_copy(netD, side, num_D):
    net = define_D(options(netD=netD, num_D=num_D))
    outs = net(torch.randn(2, 6, side, side))
    assert isinstance(outs, list) and len(outs) == num_D
    expected = [side // 8 - 2, side // 16 - 2, side // 32 - 2][:num_D]
    assert [tuple(o.shape) for o in outs] == [(2, 1, e, e) for e in expected]


def test_multiscale_is_num_D_patchgans_and_pools_3x3_without_counting_padding():
    basic, multi = define_D(options()), define_D(options(netD="multiscale", num_D=3))
    assert count_parameters(multi) == 3 * count_parameters(basic)
    x = torch.ones(1, 6, 8, 8)  # with count_include_pad=False, pooling a constant image keeps it constant
    assert torch.equal(MultiscaleDiscriminator.downsample(x), torch.ones(1, 6, 4, 4))
    assert receptive_fields(multi) == [70, 141, 283]


def test_features_give_each_scales_activations_then_its_prediction():
    net = define_D(options(netD="sesame")).eval()
    x = torch.randn(1, 6, 128, 128)
    features = net(x, features=True)
    assert len(features) == 2 and [len(f) for f in features] == [5, 5]
    assert [f.shape[1] for f in features[0]] == [8, 16, 32, 64, 1]
    for scale, prediction in zip(features, net(x)):
        assert torch.allclose(scale[-1], prediction, atol=1e-6)
    basic = define_D(options()).eval()
    (only,) = basic(x, features=True)
    assert torch.allclose(only[-1], basic(x), atol=1e-6)


def test_spectral_norm_is_on_the_normalised_convs_of_both_sesame_streams_only():
    net = define_D(options(netD="sesame", num_D=1)).scales[0]
    for stream in (net.semantic, net.image):
        convs = [m for m in stream if isinstance(m, nn.Conv2d)]
        assert [parametrize.is_parametrized(c, "weight") for c in convs] == [False, True, True, True]
        assert sum(isinstance(m, nn.InstanceNorm2d) for m in stream) == 3
        slopes = {m.negative_slope for m in stream if isinstance(m, nn.LeakyReLU)}
        assert slopes == {0.2}
    assert not parametrize.is_parametrized(net.last, "weight")
    assert not any(parametrize.is_parametrized(m, "weight") for m in define_D(options(netD="multiscale")).modules())
    # initialisation reaches the raw weights behind the spectral norm
    raw = net.image[2].parametrizations.weight.original
    assert raw.std().item() == pytest.approx(0.02, rel=0.2)


def test_sesame_fusion_reduces_to_the_image_stream_when_semantic_features_are_zero():
    image = torch.randn(2, 16, 5, 5)
    assert torch.equal(SesameDiscriminator.fuse(image, torch.zeros(2, 32, 5, 5)), image)
    assert torch.allclose(SesameDiscriminator.fuse(image, torch.full((2, 4, 5, 5), 0.5)), image * 3)
    net = SesameDiscriminator(semantic_nc=2, image_nc=3, ndf=8).eval()
    for p in net.semantic[0].parameters():  # a zero first conv: the (bias-free) stream then outputs zeros
        nn.init.zeros_(p)
    x = torch.randn(1, 5, 64, 64)
    assert torch.allclose(net(x), net.last(net.image(x[:, 2:])), atol=1e-6)


@pytest.mark.parametrize("semantic_nc,image_nc", [(1, 3), (3, 1), (3, 3), (5, 3)])
def test_sesame_takes_any_channel_counts(semantic_nc, image_nc):
    net = SesameDiscriminator(semantic_nc, image_nc, ndf=8)
    assert net(torch.randn(1, semantic_nc + image_nc, 64, 64)).shape == (1, 1, 6, 6)
    net = define_D(options(netD="sesame", input_nc=1, output_nc=3))
    assert len(net(torch.randn(1, 4, 64, 64))) == 2


def test_feature_matching_is_zero_for_identical_inputs_and_only_moves_the_fake():
    net = define_D(options(netD="multiscale"))
    x = torch.randn(2, 6, 64, 64)
    same = feature_matching_loss(net(x, features=True), net(x, features=True))
    assert same.item() == 0
    fake_input = x.clone().requires_grad_(True)
    real_input = (x + torch.randn_like(x)).requires_grad_(True)
    loss = feature_matching_loss(net(fake_input, features=True), net(real_input, features=True))
    assert loss.item() > 0
    loss.backward()
    assert fake_input.grad.abs().sum() > 0 and real_input.grad is None


def test_sesam_is_the_seeds_spelling_of_sesame():
    assert train_options("--netD", "sesam").netD == "sesame"
    assert "sesam" not in DISCRIMINATORS


def test_too_small_images_for_the_discriminator_are_caught():
    assert min_input_side(define_D(options())) == 24
    assert min_input_side(define_D(options(netD="multiscale"))) == 47
    assert min_input_side(define_D(options(netD="sesame", num_D=3))) == 93


def train_options(*extra: str) -> Namespace:
    return TrainOptions().parse(["--dataroot", "unused", "--gpu_ids", "-1", "--display_id", "0", "--netG",
                                 "resnet_6blocks", "--ngf", "4", "--ndf", "4", *extra])


@pytest.mark.parametrize("netD", sorted(DISCRIMINATORS))
@pytest.mark.parametrize("gan_mode", sorted(GAN_MODES))
def test_every_gan_mode_trains_with_every_discriminator(netD, gan_mode):
    torch.manual_seed(0)
    # OASIS's segmentation discriminator needs class inputs (and trains with its own loss whatever --gan_mode says)
    classes = ["--label_nc", "12", "--palette", "facades", "--oasis_levels", "3"] if netD == "oasis" else []
    opt = train_options("--netD", netD, "--gan_mode", gan_mode, "--lambda_feat", *classes)
    trainer = Trainer(create_model(opt), opt)
    model = trainer.model
    A = torch.rand(2, 3, 48, 48) * 2 - 1
    if classes:
        A = torch.nn.functional.one_hot(torch.randint(0, 12, (2, 48, 48)), 12).movedim(-1, 1).float()
    batch = {"A": A, "B": torch.rand(2, 3, 48, 48) * 2 - 1, "A_paths": ["a", "b"]}
    before = [p.clone() for p in model.netD.parameters()]
    trainer.train_step(batch)
    losses = trainer.current_losses()
    assert {"G_GAN", "G_feat", "D_real", "D_fake"} <= set(losses) and all(torch.isfinite(torch.tensor(v))
                                                                            for v in losses.values())
    assert losses["G_feat"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.netD.parameters()))


def test_lambda_feat_flag_alone_means_pix2pixhds_10():
    assert train_options().lambda_feat == 0
    assert train_options("--lambda_feat").lambda_feat == 10.0
    assert train_options("--lambda_feat", "2").lambda_feat == 2.0


# ---- through the command line --------------------------------------------------------------------------------

# the tiny flags at 48 px: two scales of 3 layers need 47 px
TINY48 = [f for f in TINY if f not in ("--load_size", "--crop_size", "32")] + ["--load_size", "48", "--crop_size", "48"]

@pytest.mark.slow
def test_trainsesame_runs_the_seeds_command_then_test_py(synth32, tmp_path):
    proc = run_cli("trainSesame.py", "--dataroot", synth32, "--model", "pix2pix", "--name", "classic", "--direction",
                   "BtoA", "--netD", "sesam", "--checkpoints_dir", tmp_path, *TINY48, "--n_epochs", "1",
                   "--n_epochs_decay", "0", "--print_freq", "4", "--lambda_feat", check=True)
    exp = tmp_path / "classic"
    assert "[netD] MultiscaleDiscriminator" in proc.stdout and "receptive field 70x70, 141x141 px" in proc.stdout
    summary = (exp / "networks.txt").read_text()
    assert "receptive field 70x70, 141x141 px (2 scales)" in summary and "SesameDiscriminator" in summary
    saved = json.loads((exp / "opt.json").read_text())
    assert (saved["netD"], saved["num_D"], saved["lambda_feat"]) == ("sesame", 2, 10.0)  # sesam is an alias
    state = torch.load(exp / "latest_checkpoint.pth", weights_only=True)
    assert any("parametrizations.weight.original" in k for k in state["nets"]["D"])
    logged = json.loads((exp / "loss_log.jsonl").read_text().splitlines()[-1])
    assert {"G_GAN", "G_feat", "G_L1", "D_real", "D_fake"} <= set(logged)
    run_cli("test.py", "--dataroot", synth32, "--direction", "BtoA", "--model", "pix2pix", "--name", "classic",
            "--checkpoints_dir", tmp_path, "--results_dir", tmp_path / "results", check=True)
    assert len(list((tmp_path / "results" / "classic" / "test_latest" / "images").glob("*_fake_B.png"))) == 4
    # the same defaults without --netD, and resuming keeps the discriminator
    proc = run_cli("trainSesame.py", "--dataroot", synth32, "--name", "classic", "--checkpoints_dir", tmp_path,
                   *TINY48, "--n_epochs", "2", "--n_epochs_decay", "0", "--continue_train", check=True)
    assert "resuming at epoch 2" in proc.stdout


def test_images_too_small_for_the_multiscale_discriminator_get_a_one_line_error(synth32, tmp_path):
    proc = run_cli("train.py", "--dataroot", synth32, "--checkpoints_dir", tmp_path, *TINY, "--netD", "multiscale")
    line = one_line_error(proc)
    assert "--netD multiscale" in line and "47x47" in line and "--num_D" in line


@pytest.mark.slow
def test_resume_checks_only_the_options_that_shape_the_saved_discriminator(synth32, tmp_path):
    common = ["--dataroot", synth32, "--checkpoints_dir", tmp_path, *TINY48, "--n_epochs_decay", "0"]
    run_cli("train.py", *common, "--name", "basic", "--n_epochs", "1", check=True)
    # --num_D does not shape a basic PatchGAN, but a new value cannot take effect in its run either: refused
    line = one_line_error(run_cli("train.py", *common, "--name", "basic", "--n_epochs", "2", "--num_D", "3",
                                  "--continue_train"))
    assert "--num_D 3: " in line and "leave --num_D out to resume" in line
    run_cli("train.py", *common, "--name", "multi", "--n_epochs", "1", "--netD", "multiscale", "--num_D", "1",
            check=True)
    proc = run_cli("train.py", *common, "--name", "multi", "--n_epochs", "2", "--num_D", "2", "--continue_train")
    assert "--num_D 2: " in one_line_error(proc) and "trained with --num_D 1" in one_line_error(proc)
    # what is not given again is the checkpoint's: the resume goes on with its 1-scale discriminator
    run_cli("train.py", *common, "--name", "multi", "--n_epochs", "2", "--continue_train", check=True)
