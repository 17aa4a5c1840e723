"""--grad_checkpoint: the same training step (losses, gradients, buffers) as without it, for every kind of block."""
from __future__ import annotations

import pytest
import torch
from conftest import TINY, run_cli
from torch.utils.checkpoint import checkpoint

from models import create_model
from models.networks import checkpointing
from training.options import TrainOptions
from training.trainer import Trainer


def one_step(flags: tuple[str, ...], side: int, grad_checkpoint: bool) -> dict[str, torch.Tensor]:
    """Losses, gradients and buffers of every network after one training step from seeded weights and batch."""
    torch.manual_seed(0)
    opt = TrainOptions().parse(["--dataroot", "unused", "--gpu_ids", "-1", "--display_id", "0", "--ngf", "8",
                                "--ndf", "8", "--amp", "off", *flags, *(["--grad_checkpoint"] * grad_checkpoint)])
    trainer = Trainer(create_model(opt), opt)
    batch = {"A": torch.rand(2, 3, side, side) * 2 - 1, "B": torch.rand(2, 3, side, side) * 2 - 1, "A_paths": ["a"]}
    trainer.train_step(batch)
    found = {f"loss {k}": v for k, v in trainer.losses.items()}
    for name, net in trainer.model.nets().items():
        found.update((f"grad {name}.{k}", p.grad) for k, p in net.named_parameters() if p.grad is not None)
        found.update((f"buffer {name}.{k}", b) for k, b in net.named_buffers())
    return found


def assert_same_step(flags: tuple[str, ...], side: int, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    plain = one_step(flags, side, False)
    calls = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checkpointing, "checkpoint", lambda fn, *args, **kw: calls.append(fn) or checkpoint(
            fn, *args, **kw))
        checkpointed = one_step(flags, side, True)
    assert len(calls) > 3  # the blocks were checkpointed
    assert plain.keys() == checkpointed.keys()
    assert any(k.startswith("grad D") for k in plain) and any(k.startswith("grad G") for k in plain)
    for key, value in plain.items():
        torch.testing.assert_close(checkpointed[key].float(), value.float(), rtol=rtol, atol=atol, msg=key)


@pytest.mark.parametrize("flags, side", [
    (("--netG", "unet_128", "--netD", "basic"), 128),  # dropout in the deepest levels
    (("--netG", "resnet_6blocks", "--netD", "multiscale", "--num_D", "2", "--n_layers_D", "2"), 32),
    (("--netG", "spade", "--netD", "basic", "--crop_size", "32", "--batch_size", "2"), 32),
    (("--netG", "resnet_6blocks", "--netD", "sesame", "--num_D", "2", "--n_layers_D", "2"), 32),
    (("--netG", "resnet_6blocks", "--netD", "basic,projected", "--projected_channels", "8"), 32),  # the backbone
])
def test_checkpointed_step_is_the_plain_step(flags, side):
    assert_same_step(flags, side)


def test_weight_noise_is_the_same_in_the_recomputation():
    assert_same_step(("--netG", "resnet_6blocks", "--weight_noise", "0.1", "--weight_noise_in_training"), 32)


def test_gradient_penalty_backpropagates_through_the_recomputation():
    assert_same_step(("--netG", "resnet_6blocks", "--netD", "basic", "--norm", "instance", "--lambda_gp", "10"), 32)


def test_amp_bf16():
    assert_same_step(("--netG", "resnet_6blocks", "--netD", "multiscale", "--n_layers_D", "2",
                     "--amp", "bf16"), 32, rtol=2e-2, atol=2e-3)


def test_inference_is_unchanged_and_keeps_no_checkpoints():
    opt = TrainOptions().parse(["--dataroot", "unused", "--gpu_ids", "-1", "--display_id", "0", "--ngf", "8",
                                "--netG", "resnet_6blocks", "--grad_checkpoint"])
    net = Trainer(create_model(opt), opt).model.netG
    assert all(m.grad_checkpoint for m in net.modules() if hasattr(type(m), "grad_checkpoint"))
    x = torch.rand(2, 3, 32, 32)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checkpointing, "checkpoint", None)  # never called
        with torch.no_grad():
            net(x)
        net.eval()
        net(x)


@pytest.mark.slow
def test_train_py_with_grad_checkpoint_saves_a_checkpoint_that_test_py_loads(synth32, tmp_path):
    args = ("--dataroot", synth32, "--name", "gc", "--checkpoints_dir", tmp_path, *TINY, "--n_epochs", "1",
            "--n_epochs_decay", "0", "--batch_size", "4")
    run_cli("train.py", *args, "--grad_checkpoint", check=True)
    assert list((tmp_path / "gc").glob("latest*"))
    run_cli("test.py", "--dataroot", synth32, "--name", "gc", "--checkpoints_dir", tmp_path, "--results_dir",
            tmp_path / "results", check=True)
