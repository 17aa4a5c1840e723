"""The pix2pix model and its trainer: losses as a dict, one training step, learning-rate schedules, and that it
learns; the template model."""
from __future__ import annotations

import pytest
import torch
from conftest import TINY, run_cli

from data import create_dataset
from models import create_model
from models.networks import GANLoss
from training.options import TrainOptions
from training.trainer import Trainer


def train_options(*extra: str):
    return TrainOptions().parse(["--dataroot", "unused", "--gpu_ids", "-1", "--display_id", "0", "--netG",
                                 "resnet_6blocks", "--ngf", "8", "--ndf", "8", *extra])


def trainer_for(*extra: str) -> Trainer:
    opt = train_options(*extra)
    return Trainer(create_model(opt), opt)


@pytest.mark.parametrize("mode", ["vanilla", "lsgan"])
def test_gan_loss_rewards_the_right_answer(mode):
    loss = GANLoss(mode)
    confident_real, confident_fake = torch.full((2, 1, 4, 4), 5.0), torch.full((2, 1, 4, 4), -5.0)
    if mode == "lsgan":
        confident_real, confident_fake = torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
    assert loss(confident_real, True) < 0.01 and loss(confident_fake, False) < 0.01
    assert loss(confident_real, False) > 0.9 and loss(confident_fake, True) > 0.9


def test_pix2pix_defaults_are_upstreams():
    opt = train_options()
    trainer = Trainer(create_model(opt), opt)
    assert (opt.norm, opt.gan_mode, opt.pool_size, opt.lambda_L1, opt.lr, opt.beta1) == (
        "batch", "vanilla", 0, 100.0, 0.0002, 0.5)
    assert TrainOptions().parse(["--dataroot", "x", "--gpu_ids", "-1"]).netG == "unet_256"
    assert trainer.optimizers["G"].defaults["betas"] == (0.5, 0.999)


def test_one_step_updates_both_networks_and_reports_losses():
    torch.manual_seed(0)
    trainer = trainer_for("--gan_mode", "lsgan")
    model = trainer.model
    before = {n: [p.clone() for p in net.parameters()] for n, net in model.nets().items()}
    batch = {"A": torch.rand(2, 3, 32, 32) * 2 - 1, "B": torch.rand(2, 3, 32, 32) * 2 - 1, "A_paths": ["a", "b"]}
    trainer.train_step(batch)
    for name, net in model.nets().items():
        assert any(not torch.equal(p, q) for p, q in zip(before[name], net.parameters())), name
    losses = trainer.current_losses()
    assert list(losses) == ["G_GAN", "G_L1", "D_fake", "D_real"]
    assert all(v > 0 for v in losses.values())
    assert list(model.get_current_visuals()) == ["real_A", "fake_B", "real_B"]


def lr_curve(policy: str, n_epochs: int = 4, n_decay: int = 4, **kw) -> list[float]:
    trainer = trainer_for("--lr_policy", policy, "--n_epochs", str(n_epochs), "--n_epochs_decay", str(n_decay),
                          *[a for k, v in kw.items() for a in (f"--{k}", str(v))])
    lrs = []
    for _ in range(n_epochs + n_decay):
        lrs.append(trainer.learning_rate)
        trainer.monitor_sum.fill_(1.0)  # the plateau policy's epoch mean: 1 per image, never improving
        trainer.end_epoch(images=1)
    return lrs + [trainer.learning_rate]


def test_linear_policy_holds_then_decays_to_zero():
    lrs = lr_curve("linear")  # 4 epochs at 2e-4, 4 decaying ones, then the value after the last epoch
    assert lrs == pytest.approx([2e-4] * 4 + [1.6e-4, 1.2e-4, 0.8e-4, 0.4e-4, 0.0], abs=1e-12)


def test_step_cosine_and_plateau_policies():
    step = lr_curve("step", lr_decay_iters=3)
    assert step[2] == pytest.approx(2e-4) and step[3] == pytest.approx(2e-5)
    cosine = lr_curve("cosine")
    assert cosine[0] == pytest.approx(2e-4) and cosine[4] == pytest.approx(1e-4) and cosine[-1] == pytest.approx(0)
    plateau = lr_curve("plateau", 10, 0)
    assert plateau[0] == pytest.approx(2e-4) and plateau[-1] == pytest.approx(4e-5)


@pytest.mark.slow
def test_small_unet_learns_synthetic_pairs(synth128, tmp_path):
    """A few hundred steps lower the held-out L1 clearly below its value at initialization."""
    common = ["--dataroot", str(synth128), "--gpu_ids", "-1", "--display_id", "0", "--netG", "unet_128",
              "--ngf", "8", "--ndf", "8", "--load_size", "128", "--crop_size", "128", "--direction", "BtoA",
              "--checkpoints_dir", str(tmp_path)]
    torch.manual_seed(0)
    opt = TrainOptions().parse([*common, "--preprocess", "none", "--no_flip"])
    trainer = Trainer(create_model(opt), opt)
    model = trainer.model
    test_opt = TrainOptions().parse([*common, "--phase", "test", "--preprocess", "none", "--serial_batches"])
    held_out = list(create_dataset(test_opt))

    def held_out_l1() -> float:
        model.eval()
        errors = []
        for batch in held_out:
            model.set_input(batch)
            model.test()
            errors.append((model.fake_B - model.real_B).abs().mean().item())
        model.train()
        return sum(errors) / len(errors)

    start = held_out_l1()
    data = create_dataset(opt)
    for epoch in range(19):  # 16 training pairs x 19 = 304 steps
        data.set_epoch(epoch)
        for batch in data:
            trainer.train_step(batch)
    end = held_out_l1()
    assert end < 0.7 * start, (start, end)


def batch_of(n: int = 2, size: int = 32) -> dict:
    return {"A": torch.rand(n, 3, size, size) * 2 - 1, "B": torch.rand(n, 3, size, size) * 2 - 1,
            "A_paths": [str(i) for i in range(n)]}


def test_perceptual_preset_trains_g_and_d_only_and_keeps_the_loss_network_frozen():
    trainer = trainer_for("--model", "perceptual", "--perceptual_net", "efficientnet_lite0")
    model = trainer.model
    assert (model.opt.lambda_perceptual, model.opt.lambda_L1) == (10.0, 0.0)
    assert set(model.nets()) == {"G", "D"}
    optimised = {id(p) for group in trainer.optimizers["G"].param_groups for p in group["params"]}
    assert optimised == {id(p) for p in model.netG.parameters()}
    loss_net = model.loss_networks["perceptual"]
    frozen = [p.clone() for p in loss_net.parameters()]
    model.train()
    assert not any(m.training for m in loss_net.modules())
    trainer.train_step(batch_of())
    assert all(torch.equal(a, b) for a, b in zip(frozen, loss_net.parameters()))
    assert trainer.current_losses()["G_perceptual"] > 0


def test_without_discriminator_only_the_generator_exists_and_learns():
    trainer = trainer_for("--netD", "none")
    model = trainer.model
    assert set(model.nets()) == {"G"} and not hasattr(model, "netD") and list(trainer.optimizers) == ["G"]
    before = [p.clone() for p in model.netG.parameters()]
    trainer.train_step(batch_of())
    assert list(trainer.current_losses()) == ["G_L1"]
    assert any(not torch.equal(a, b) for a, b in zip(before, model.netG.parameters()))


def test_weight_noise_in_training_draws_fresh_noise_and_still_trains_the_weights():
    trainer = trainer_for("--no_dropout", "--weight_noise", "0.1", "--weight_noise_in_training")
    model = trainer.model
    model.set_input(batch_of())
    model.forward()
    first = model.fake_B.detach().clone()
    model.forward()
    assert not torch.equal(first, model.fake_B)
    before = [p.clone() for p in model.netG.parameters()]
    trainer.train_step(batch_of())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.netG.parameters()))
    plain = create_model(train_options("--no_dropout", "--weight_noise", "0.1"))  # noise only at test time
    plain.set_input(batch_of())
    plain.forward()
    out = plain.fake_B.detach().clone()
    plain.forward()
    assert torch.equal(out, plain.fake_B)


def test_stochastic_eval_keeps_dropout_but_uses_running_batch_norm_statistics():
    from models.options import TestOptions

    opt = TestOptions().parse(["--dataroot", "unused", "--gpu_ids", "-1", "--model", "stochastic", "--netG",
                               "unet_256", "--ngf", "4", "--dropout_rate", "0.95"])
    model = create_model(opt)
    model.eval()
    dropouts = [m for m in model.netG.modules() if isinstance(m, torch.nn.Dropout)]
    norms = [m for m in model.netG.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert dropouts and all(m.training and m.p == 0.95 for m in dropouts)
    assert norms and not any(m.training for m in norms)
    assert model.is_stochastic()
    pix2pix = create_model(TestOptions().parse(["--dataroot", "unused", "--gpu_ids", "-1", "--ngf", "4"]))
    pix2pix.eval()
    assert not pix2pix.is_stochastic()


def test_the_losses_are_a_dict_whose_sum_g_minimises():
    trainer = trainer_for("--lambda_feat", "--netD", "multiscale", "--num_D", "1")
    model = trainer.model
    model.set_input(batch_of())
    model.forward()
    losses = model.generator_losses()
    assert list(losses) == ["G_GAN", "G_feat", "G_L1"] and all(v.requires_grad for v in losses.values())
    groups = list(model.discriminator_losses())  # the fake term first, then the real one
    assert [list(g) for g in groups] == [["D_fake"], ["D_real"]] and model.discriminator_loss_weight == 0.5


@pytest.mark.slow
def test_template_model_trains_through_train_py(synth32, tmp_path):
    proc = run_cli("train.py", "--dataroot", synth32, "--model", "template", *TINY, "--checkpoints_dir", tmp_path,
                   "--name", "tpl", "--n_epochs", "1", "--n_epochs_decay", "0", "--print_freq", "4",
                   "--lambda_regression", "2", check=True)
    assert "G_regression" in proc.stdout and "model [TemplateModel]" in proc.stdout
    run_cli("test.py", "--dataroot", synth32, "--name", "tpl", "--checkpoints_dir", tmp_path, "--results_dir",
            tmp_path / "res", check=True)
    assert (tmp_path / "res" / "tpl" / "test_latest" / "images" / "1_fake_B.png").is_file()
