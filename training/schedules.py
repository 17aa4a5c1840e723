"""Learning-rate schedules, stepped once per epoch (--lr_policy), and how a resumed run takes up its schedule."""
from __future__ import annotations

import argparse
import math
import warnings
from typing import Any

import torch
from torch.optim import lr_scheduler

LR_POLICIES = ["linear", "step", "plateau", "cosine"]


def lr_factor(opt: argparse.Namespace, epochs_done: int) -> float:
    """The learning rate of the epoch after `epochs_done` completed epochs, as a multiple of --lr.

    linear: constant for n_epochs, then linear decay that reaches 0 after n_epochs_decay more epochs;
    step: x0.1 every lr_decay_iters epochs; cosine: cosine annealing to 0 over all epochs. A closed form of the
    epoch, so that a resumed run whose schedule was changed (extended) trains at the rate its schedule gives.
    """
    if opt.lr_policy == "linear":
        return 1.0 - max(0, epochs_done + opt.epoch_count - opt.n_epochs) / float(opt.n_epochs_decay + 1)
    if opt.lr_policy == "step":
        return 0.1 ** (epochs_done // opt.lr_decay_iters)
    total = max(1, opt.n_epochs + opt.n_epochs_decay)
    return (1 + math.cos(math.pi * min(epochs_done, total) / total)) / 2


def get_scheduler(optimizer: torch.optim.Optimizer, opt: argparse.Namespace) -> lr_scheduler.LRScheduler:
    """lr_factor's schedule, or x0.2 when the epoch's monitored loss stops improving (plateau)."""
    if opt.lr_policy == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.2, threshold=0.01, patience=5)
    return lr_scheduler.LambdaLR(optimizer, lr_lambda=lambda epochs_done: lr_factor(opt, epochs_done))


def step(scheduler: Any, metric: float) -> None:
    """One epoch's step (the plateau policy needs the epoch's monitored loss)."""
    with warnings.catch_warnings():  # a run resumed at the very end of an epoch steps no optimizer before this
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
        if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
            scheduler.step(metric)
        else:
            scheduler.step()


def resume(scheduler: Any, saved: dict[str, Any], lr_ratio: float) -> None:
    """Put a fresh scheduler at the saved one's epoch and set its optimizer's learning rate to what the current
    schedule gives there. A plateau schedule keeps its saved (reduced) rate, times lr_ratio when --lr changed; one
    that replaces another policy starts from --lr."""
    if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
        if "patience" not in saved:  # the run switches to plateau: it starts again from --lr
            for group in scheduler.optimizer.param_groups:
                group["lr"] = group["initial_lr"]
            return
        scheduler.load_state_dict(saved)
        for group in scheduler.optimizer.param_groups:
            group["lr"] *= lr_ratio
        return
    scheduler.last_epoch, scheduler._step_count = saved.get("last_epoch", 0), saved.get("_step_count", 1)
    for group, base, rule in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
        group["lr"] = base * rule(scheduler.last_epoch)
    scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]
