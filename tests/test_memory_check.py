"""The predicted-peak check before the first GPU step (training/memory.py): the probe leaves no trace, the prediction
is the measured line plus Adam's moments, and a run that will not fit gets one warning with the flags that help.
There is no GPU here: the memory counters are a fake; the probe itself runs the real model on the CPU."""
from __future__ import annotations

import torch

from models import create_model
from training import memory
from training.options import TrainOptions
from training.trainer import Trainer
from util.seeding import seed_everything

GiB = memory.GiB


def make_trainer(*flags: str) -> Trainer:
    opt = TrainOptions().parse(["--dataroot", "unused", "--gpu_ids", "-1", "--display_id", "0", "--netG", "unet_128",
                                "--ngf", "8", "--ndf", "8", "--batch_size", "4", "--crop_size", "128", *flags])
    seed_everything(0)
    return Trainer(create_model(opt), opt)


def batch_of(n: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"A": torch.rand(n, 3, 128, 128, generator=g) * 2 - 1, "B": torch.rand(n, 3, 128, 128, generator=g) * 2 - 1,
            "A_paths": [f"{i}.png" for i in range(n)]}


class FakeMeter:
    """Peak readings in turn (bytes), and fixed allocated / available figures."""

    def __init__(self, peaks: list[int], allocated: int = 0, available: int = 0):
        self.peaks, self.resets = list(peaks), 0
        self._allocated, self._available = allocated, available

    def reset_peak(self) -> None:
        self.resets += 1

    def peak(self) -> int:
        return self.peaks.pop(0)

    def allocated(self) -> int:
        return self._allocated

    def available(self) -> int:
        return self._available


def test_the_probe_leaves_the_run_exactly_as_it_was():
    # dropout (random streams), batch norm (running statistics) and an image pool (extra state) all change in a step
    flags = ("--pool_size", "4", "--norm", "batch")
    probed, plain = make_trainer(*flags), make_trainer(*flags)
    for trainer in (probed, plain):
        seed_everything(5)  # torch's, numpy's and Python's (the image pool's) streams
        if trainer is probed:
            memory.predict_peak(probed, batch_of(4, 1), 4, FakeMeter([GiB, 2 * GiB]))
            assert all(p.grad is None for p in probed.model.netG.parameters())
        for seed in (2, 3):
            trainer.train_step(batch_of(4, seed))
    for (name, a), b in zip(probed.model.netG.state_dict().items(), plain.model.netG.state_dict().values()):
        assert torch.equal(a, b), name
    assert torch.equal(probed.model.fake_B, plain.model.fake_B)
    assert probed.current_losses() == plain.current_losses()


def test_prediction_is_the_batch_line_plus_adams_moments():
    trainer = make_trainer()
    weights = sum(p.numel() for name in ("G", "D") for p in trainer.model.net(name).parameters())
    meter = FakeMeter([2 * GiB, 3 * GiB])
    assert memory.predict_peak(trainer, batch_of(4, 1), 4, meter) == 2 * GiB + 3 * GiB + 2 * 4 * weights
    assert meter.resets == 2  # one probe at batch 1, one at batch 2
    assert memory.predict_peak(trainer, batch_of(4, 1), 1, FakeMeter([GiB])) == GiB + 8 * weights


def test_a_run_that_will_not_fit_gets_one_warning_with_the_flags_that_help(capsys):
    trainer = make_trainer()
    opt = trainer.opt
    memory.check_fits(trainer, lambda: batch_of(4, 1), opt, FakeMeter([2 * GiB, 3 * GiB], allocated=GiB // 2,
                                                              available=4 * GiB))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: this run is predicted to need 5.0 GiB")
    assert "has 4.5 GiB" in err[0] and "--batch_size 2, --grad_checkpoint" in err[0]
    memory.check_fits(trainer, lambda: batch_of(4, 1), opt, FakeMeter([2 * GiB, 3 * GiB], available=8 * GiB))
    assert capsys.readouterr().err == ""
    def unread() -> dict:
        raise AssertionError("a CPU run reads no images for the probe")

    memory.check_fits(trainer, unread, opt)  # on the CPU: no probe, no warning
    assert capsys.readouterr().err == ""
