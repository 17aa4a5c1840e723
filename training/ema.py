"""--ema: an exponential moving average of the generator's weights, the network test.py and the demo use.

The average is torch.optim.swa_utils.AveragedModel, updated after every step of G with a warm-up: the decay of
update n is min(decay, (1 + n) / (10 + n)), so that the random initial weights are forgotten within the first
hundred steps rather than dominating for thousands (TensorFlow's ExponentialMovingAverage with num_updates).
Its step counter stays on the CPU, so updates never wait for the GPU. Under torchrun every process holds the same
average, since every process holds the same G after each step.

Batch-norm statistics are not averaged: before the average is saved or validated, they are estimated again on
training images with swa_utils.update_bn (imaginaire does the same), without touching the random streams of the
run, so that a resumed run continues exactly.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, update_bn

from util.seeding import preserved_rng

DEFAULT_DECAY = 0.999  # --ema alone
WARMUP = 10  # the decay of update n is at most (1 + n) / (WARMUP + n)
STATISTICS_IMAGES = 100  # training images on which the average's batch-norm statistics are estimated


class GeneratorAverage:
    """An fp32 moving average of `net`'s weights (a copy of it: `module`)."""

    def __init__(self, net: nn.Module, decay: float = DEFAULT_DECAY):
        self.decay = decay
        net = getattr(net, "module", net)
        self.averaged = AveragedModel(net, multi_avg_fn=self._average, use_buffers=False)  # copies net
        self.averaged.module.float().requires_grad_(False)  # fp32 in any case
        self._estimated_at = -1  # the update whose batch-norm statistics were last estimated

    @property
    def module(self) -> nn.Module:
        """The averaged generator, a network like G."""
        return self.averaged.module

    @property
    def updates(self) -> int:
        return int(self.averaged.n_averaged)  # a CPU tensor: reading it does not synchronise a GPU

    def update(self, net: nn.Module) -> None:
        """Fold G's current weights into the average (call after each optimizer step of G)."""
        self.averaged.update_parameters(getattr(net, "module", net))

    def _average(self, averaged: list[torch.Tensor], current: list[torch.Tensor], _: torch.Tensor) -> None:
        n = self.updates
        decay = min(self.decay, (1 + n) / (WARMUP + n))
        torch._foreach_lerp_(averaged, [c.to(a.dtype) for a, c in zip(averaged, current)], 1 - decay)

    def estimate_statistics(self, inputs: Callable[[], Iterable[torch.Tensor]], devices: list[int]) -> None:
        """Estimate the average's batch-norm statistics on the batches `inputs()` yields (once per update; nothing
        to do for a network without batch norm). The run's random state is left as it was."""
        has_batch_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.module.modules())
        if not has_batch_norm or self._estimated_at == self.updates:
            return
        with preserved_rng(devices), torch.autocast(self._device().type, enabled=False):
            update_bn(inputs(), self.module, self._device())
        self._estimated_at = self.updates

    def _device(self) -> torch.device:
        return next(self.module.parameters()).device

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates}

    def load_state_dict(self, weights: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        """Restore the average from a checkpoint's weights (nets['G_ema']) and its state."""
        self.module.load_state_dict(weights)
        self.averaged.n_averaged.fill_(int(state.get("updates", 0)))
        self._estimated_at = self.updates  # the checkpoint holds estimated statistics
