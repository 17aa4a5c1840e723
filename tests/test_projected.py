"""The projected discriminator (--netD projected) and several discriminators side by side (--netD basic,projected):
a frozen backbone that is neither trained nor saved, seeded fixed projections, the input's projection term, one loss
per discriminator, and the guarantees through train.py (resume, changed options, another backbone file)."""
from __future__ import annotations

import csv
import json
from argparse import Namespace

import pytest
import torch
from conftest import TINY, another_value, one_line_error, run_cli

from metrics.report import is_lite0_trained, lite0_training
from models import create_model
from models.networks import DiscriminatorSet, ProjectedDiscriminator, define_D, discriminator_list, min_input_side
from training.options import TrainOptions
from training.trainer import Trainer
from util.errors import UserError


def options(**kw) -> Namespace:
    base = dict(input_nc=3, output_nc=3, ndf=8, norm="batch", init_type="normal", init_gain=0.02, netD="projected",
                n_layers_D=3, num_D=2, projected_backbone="efficientnet_lite1", projected_channels=16,
                projected_seed=0, projected_size=0)
    return Namespace(**{**base, **kw})


@pytest.fixture(scope="module")
def netD() -> ProjectedDiscriminator:
    torch.manual_seed(0)
    return define_D(options())


def pair(side: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.rand(2, 6, side, side, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_four_patch_maps_ending_at_stride_16_then_32(netD):
    assert [tuple(p.shape) for p in netD(pair(128))] == [(2, 1, 8, 8)] * 3 + [(2, 1, 4, 4)]
    assert min_input_side(netD) == 32


def test_projected_size_resizes_the_photo_for_the_backbone_alone():
    torch.manual_seed(0)
    big = define_D(options(projected_size=224))
    # 128 px photos seen at 224 px: maps at 224 / 16 and 224 / 32; a 16 px photo now fits
    assert [p.shape[-1] for p in big(pair(128))] == [14, 14, 14, 7] and min_input_side(big) == 1
    wide = torch.rand(1, 6, 64, 128) * 2 - 1  # shorter side to 224, the aspect ratio kept
    assert [tuple(p.shape[-2:]) for p in big(wide)][-1] == (7, 14)
    assert [p.shape[-1] for p in big(pair(16))] == [14, 14, 14, 7]
    assert torch.equal(big.resize(pair(224)), pair(224))  # already at that side: untouched
    assert big.resize(pair(256)).shape[-2:] == (224, 224)  # larger photos are reduced, antialiased
    flat = torch.full((1, 6, 256, 256), 0.5)
    assert torch.allclose(big.resize(flat), torch.full((1, 6, 224, 224), 0.5))


def test_a_projected_size_below_the_deepest_stride_is_a_one_line_error(synth32, tmp_path):
    proc = run_cli("train.py", "--dataroot", synth32, "--checkpoints_dir", tmp_path, *TINY, "--netD", "projected",
                   "--projected_size", "16")
    assert "--projected_size" in one_line_error(proc) and "at least 32" in one_line_error(proc)


def test_the_backbone_is_frozen_and_outside_the_state_dict(netD):
    backbone = netD.features
    assert all(not p.requires_grad for p in backbone.parameters()) and not backbone.training
    assert not any(p is q for p in netD.parameters() for q in backbone.parameters())  # not optimised
    keys = set(netD.state_dict())
    assert {"channel_mix0", "scale_mix3", "backbone_digest"} <= keys
    assert not any(k.startswith(("_frozen", "features", "stem", "blocks")) for k in keys)
    netD.train()
    assert not backbone.training  # batch-norm statistics of the backbone never move
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    netD(pair().requires_grad_(True))[0].sum().backward()
    assert all(p.grad is None for p in backbone.parameters())
    assert all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())


def test_the_projections_come_from_their_seed_alone():
    torch.manual_seed(1)
    a = define_D(options())
    torch.manual_seed(2)  # the heads differ, the fixed projections do not
    b = define_D(options())
    c = define_D(options(projected_seed=1))
    assert torch.equal(a.channel_mix2, b.channel_mix2) and torch.equal(a.scale_mix0, b.scale_mix0)
    assert not torch.equal(a.channel_mix2, c.channel_mix2)
    state = torch.random.get_rng_state()
    define_D(options(projected_seed=5))
    c.load_state_dict(a.state_dict())  # a checkpoint restores them exactly
    assert torch.equal(c.channel_mix2, a.channel_mix2)
    assert not torch.equal(torch.random.get_rng_state(), state)  # (init_weights draws the heads: only those)


def test_the_input_changes_the_verdict_through_the_projection_term(netD):
    x = pair()
    other = x.clone()
    other[:, :3] = -other[:, :3]  # same photo, another input
    assert all(not torch.allclose(a, b) for a, b in zip(netD(x), netD(other)))


def test_a_checkpoint_of_other_backbone_weights_is_refused(netD):
    state = netD.state_dict()
    state["backbone_digest"] = state["backbone_digest"].clone()
    state["backbone_digest"][0] ^= 1
    with pytest.raises(UserError, match="SHA-256.*install the weights it was trained with"):
        define_D(options()).load_state_dict(state)


def train_options(*extra: str) -> Namespace:
    return TrainOptions().parse(["--dataroot", "unused", "--gpu_ids", "-1", "--display_id", "0", "--netG",
                                 "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--projected_channels", "8", *extra])


@pytest.mark.parametrize("flags", [["--gan_mode", "hinge", "--diffaug", "color,translation,cutout", "--lambda_feat"],
                                   ["--gan_mode", "wgangp", "--norm", "instance"]])
def test_each_discriminator_has_its_own_losses_and_only_the_heads_learn(flags):
    torch.manual_seed(0)
    opt = train_options("--netD", "basic,projected", *flags)
    trainer = Trainer(create_model(opt), opt)
    model = trainer.model
    assert isinstance(model.netD, DiscriminatorSet) and list(model.netD.nets) == ["basic", "projected"]
    projected = model.netD.nets["projected"]
    backbone = {k: v.clone() for k, v in projected.features.state_dict().items()}
    heads = [p.clone() for p in projected.heads.parameters()]
    batch = {"A": torch.rand(2, 3, 32, 32) * 2 - 1, "B": torch.rand(2, 3, 32, 32) * 2 - 1, "A_paths": ["a", "b"]}
    trainer.train_step(batch)
    losses = trainer.current_losses()
    expected = {"G_GAN_basic", "G_GAN_projected", "D_fake_basic", "D_fake_projected", "D_real_basic",
                "D_real_projected", "G_L1"}
    assert expected <= set(losses) and "G_GAN" not in losses
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert any(not torch.equal(a, b) for a, b in zip(heads, projected.heads.parameters()))
    assert all(torch.equal(backbone[k], v) for k, v in projected.features.state_dict().items())


@pytest.mark.parametrize("value, canonical", [("projected", "projected"), ("basic,projected", "basic,projected"),
                                              ("sesam,projected", "sesame,projected"), ("none", "none")])
def test_netD_takes_one_name_or_several(value, canonical):
    assert discriminator_list(value) == canonical


@pytest.mark.parametrize("value, message", [("basic,patch", "invalid choice: 'patch'"),
                                            ("none,basic", "cannot be one of several"),
                                            ("basic,basic", "names a discriminator twice")])
def test_bad_netD_lists_are_one_line_errors(synth32, tmp_path, value, message):
    proc = run_cli("train.py", "--dataroot", synth32, "--checkpoints_dir", tmp_path, *TINY, "--netD", value)
    assert message in one_line_error(proc)


def test_a_lite0_backbone_marks_the_run_as_trained_against_the_lite0_metrics():
    base = {"netD": "basic,projected", "projected_backbone": "efficientnet_lite0", "lambda_GAN": 1.0}
    assert lite0_training(base) == ["a projected discriminator on EfficientNet-Lite0"]
    assert not is_lite0_trained({**base, "projected_backbone": "efficientnet_lite1"})
    assert not is_lite0_trained({**base, "netD": "basic"})
    assert not is_lite0_trained({**base, "lambda_GAN": 0})


# ---- through train.py, test.py and evaluate.py ---------------------------------------------------------------

EPOCH = ["--n_epochs", "1", "--n_epochs_decay", "0", "--print_freq", "4"]
EXACT = ["--norm", "instance", "--no_dropout", "--serial_batches", "--no_flip", "--amp", "off", "--seed", "3"]


@pytest.mark.slow
def test_train_resume_and_score_with_basic_and_projected(synth32, tmp_path):
    common = ["--dataroot", synth32, "--checkpoints_dir", tmp_path, *TINY, *EXACT, "--netD", "basic,projected",
              "--projected_channels", "8", "--projected_size", "64", "--diffaug", "color,translation,cutout",
              "--ema", "0.9"]
    run_cli("train.py", *common, "--name", "straight", "--n_epochs", "2", "--n_epochs_decay", "0", check=True)
    proc = run_cli("train.py", *common, "--name", "resumed", *EPOCH, check=True)
    assert "[netD.projected] ProjectedDiscriminator" in proc.stdout and "not trained, not saved" in proc.stdout
    state = torch.load(tmp_path / "resumed" / "latest_checkpoint.pth", weights_only=True)
    assert not any("blocks" in k or "stem" in k for k in state["nets"]["D"])  # the backbone is not saved
    logged = json.loads((tmp_path / "resumed" / "loss_log.jsonl").read_text().splitlines()[-1])
    assert {"D_fake_basic", "D_real_projected", "G_GAN_projected"} <= set(logged)
    # a new seed of the projections cannot take effect in the run: refused; the same flags resume exactly
    line = one_line_error(run_cli("train.py", *common, "--name", "resumed", "--n_epochs", "2", "--n_epochs_decay",
                                  "0", "--projected_seed", "4", "--continue_train"))
    assert "--projected_seed 4" in line
    run_cli("train.py", *common, "--name", "resumed", "--n_epochs", "2", "--n_epochs_decay", "0",
            "--continue_train", check=True)
    straight, resumed = (torch.load(tmp_path / n / "latest_checkpoint.pth", weights_only=True)["nets"]
                         for n in ("straight", "resumed"))
    for net in straight:
        for key in straight[net]:
            torch.testing.assert_close(resumed[net][key], straight[net][key], rtol=1e-4, atol=1e-5, msg=key)
    # a checkpoint whose D lost the record of its backbone cannot say which weights it judged with: refused
    path = tmp_path / "straight" / "latest_checkpoint.pth"
    state = torch.load(path, weights_only=True)
    state["nets"]["D"] = {k: v for k, v in state["nets"]["D"].items() if not k.endswith("backbone_digest")}
    torch.save(state, path)
    line = one_line_error(run_cli("train.py", *common, "--name", "straight", "--n_epochs", "3", "--n_epochs_decay",
                                  "0", "--continue_train"))
    assert "does not fit netD (basic,projected)" in line and "backbone_digest" in line
    assert "--projected_backbone" in line and "--ngf" not in line  # D's own flags, not G's


@pytest.mark.slow
def test_evaluate_warns_when_the_projected_backbone_is_the_metrics_network(synth32, tmp_path):
    run_cli("train.py", "--dataroot", synth32, "--checkpoints_dir", tmp_path, *TINY, *EPOCH, "--name", "lite0",
            "--netD", "projected", "--projected_backbone", "efficientnet_lite0", "--projected_channels", "8",
            "--projected_size", "64", check=True)
    run_cli("test.py", "--dataroot", synth32, "--checkpoints_dir", tmp_path, "--name", "lite0", "--direction",
            "BtoA", "--results_dir", tmp_path / "results", check=True)
    images = tmp_path / "results" / "lite0" / "test_latest" / "images"
    proc = run_cli("evaluate.py", "--results_dir", images, "--metrics", "kid_lite0", "--table",
                   tmp_path / "table.csv", check=True)
    assert "a projected discriminator on EfficientNet-Lite0" in proc.stderr and "flatter it" in proc.stderr
    row = next(csv.DictReader((tmp_path / "table.csv").open()))
    assert "lite0_trained" in row  # and the row says how D saw the photos and how wide it was
    assert (row["projected_size"], row["projected_channels"], row["ndf"]) == ("64", "8", "8")
    # scored as two plain folders, the test.py run's images still name the model that made them
    proc = run_cli("evaluate.py", "--fake", images, "--real", images, "--metrics", "kid_lite0", "--no_table",
                   "--json", tmp_path / "plain.json", check=True)
    assert "a projected discriminator on EfficientNet-Lite0" in proc.stderr


@pytest.mark.parametrize("kind, registry_name", [("netD", "DISCRIMINATORS"), ("netG", "GENERATORS")])
def test_a_flag_of_a_network_that_is_not_chosen_is_a_warning(capsys, kind, registry_name):
    """Generated from the registries: every flag a generator or discriminator owns, given with another one."""
    import models.networks as networks
    from util.registry import owned_options

    registry = getattr(networks, registry_name)
    other = {"netD": "pixel", "netG": "resnet_6blocks"}[kind]  # owns no flags
    checked = 0
    for entry in registry.values():
        for option in sorted(owned_options(entry) - owned_options(registry[other])):
            action = next(a for a in TrainOptions()._parser()._actions if a.dest == option)
            value = another_value(action, action.default)[1:]
            try:
                TrainOptions().parse(["--dataroot", "unused", "--gpu_ids", "-1", f"--{kind}", other,
                                      action.option_strings[0], *value])
            except UserError as error:  # some are refused outright, which is stronger (--use_vae)
                assert f"--{option}" in str(error)
                continue
            assert f"--{option} is unused: it is a flag of --{kind} " in capsys.readouterr().err, option
            checked += 1
    assert checked >= 3
