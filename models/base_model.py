"""What every model shares: its networks by name on the run's device, the input it translates, the images it shows
and the losses it computes. Optimisation (optimizers, schedules, the gradient scaler, DDP) is the Trainer's
(trainer.py); checkpoint files are checkpoint.py's.

A model subclass defines (see template_model.py):
- set_input(batch) and forward(): the translation;
- generator_losses() -> {name: loss}: the terms G minimises, summed by the trainer;
- discriminator_losses(): the terms of the other networks (D), in groups that the trainer backpropagates one at
  a time (one forward pass per backward pass, as DistributedDataParallel needs), scaled by
  discriminator_loss_weight (the terms are logged unscaled).
"""
from __future__ import annotations

import argparse
import contextlib
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from util.util import run_device

from . import acceleration, networks


class BaseModel:
    """Networks by name, input, visuals, losses by name, test passes."""

    discriminator_loss_weight = 1.0  # the discriminators minimise this times the sum of their terms

    def __init__(self, opt: argparse.Namespace):
        self.opt = opt
        self.is_train = opt.is_train
        self.device = run_device(opt.gpu_ids)
        self.model_names: list[str] = []  # net<X> attributes: G, D, ...
        self.trained_names: list[str] = []  # the networks the trainer optimises, G first
        self.visual_names: list[str] = []
        self.output_names: list[str] = []  # visuals that the model generates (test.py --n_samples repeats them)
        self.monitor_loss = ""  # the loss whose epoch mean drives --lr_policy plateau
        self.runners: dict[str, nn.Module] = {}  # compiled nets (--compile), by name
        self.ddp: dict[str, nn.Module] = {}  # DistributedDataParallel wrappers of the trained nets (torchrun)
        self.amp = getattr(opt, "amp", "off")
        self.memory_format = acceleration.memory_format(getattr(opt, "channels_last", "off"))

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """Add model-specific options or change defaults."""
        return parser

    def set_input(self, batch: dict) -> None:
        raise NotImplementedError

    def forward(self) -> None:
        raise NotImplementedError

    def generator_losses(self) -> dict[str, torch.Tensor]:
        """G's loss terms for the current input (after forward()), by name; G minimises their sum."""
        raise NotImplementedError

    def discriminator_losses(self) -> Iterator[dict[str, torch.Tensor]]:
        """The other networks' loss terms, in groups: the trainer backpropagates each group's sum before the next
        group is computed. None by default."""
        return iter(())

    def nets(self) -> dict[str, nn.Module]:
        """The model's networks by name (G, D, ...)."""
        return {name: getattr(self, "net" + name) for name in self.model_names}

    def net(self, name: str) -> nn.Module:
        """The network to run a forward pass with: compiled with --compile, else the network itself."""
        return self.runners.get(name) or getattr(self, "net" + name)

    def trained_net(self, name: str) -> nn.Module:
        """The network to run in a pass whose gradients update it: its DDP wrapper under torchrun, else net(name)."""
        return self.ddp.get(name) or self.net(name)

    def setup(self) -> None:
        """Put the networks on the fast path's layout and kernels and compile them, and print their sizes (test
        time; the trainer does the same for training)."""
        self.runners = acceleration.accelerate(self.nets(), self.opt, eager=self.eager_nets())
        networks.print_summary(self.nets(), getattr(self.opt, "verbose", False))

    def eager_nets(self) -> set[str]:
        """Networks that must not be compiled (their weights change at every pass, say)."""
        return set()

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for forward passes (--amp); losses take the outputs back in float32."""
        return acceleration.autocast(self.device, self.amp)

    def train(self) -> None:
        for net in self.nets().values():
            net.train()

    def eval(self) -> None:
        for net in self.nets().values():
            net.eval()

    @contextlib.contextmanager
    def generating(self) -> Iterator[None]:
        """Around a series of test() calls, during which the weights do not change: with --amp they are cast to
        bf16/fp16 once for the series, not in every call (autocast keeps its casts until its outermost region ends)."""
        with self.autocast(), networks.frozen_weights():
            yield

    def test(self) -> None:
        """Forward pass without gradients (the model's mode decides dropout and batch-norm behaviour)."""
        with torch.no_grad():
            self.forward()

    def is_stochastic(self) -> bool:
        """Whether two forward passes on the same input can give different outputs."""
        return False

    def get_current_visuals(self) -> OrderedDict[str, torch.Tensor]:
        """The current image batches named in visual_names (those that exist for this input)."""
        return OrderedDict((name, getattr(self, name)) for name in self.visual_names if hasattr(self, name))

    def extra_state(self) -> dict[str, Any]:
        """Training state beyond networks and optimizers that a resumed run needs (subclasses add theirs)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what extra_state() returned."""
