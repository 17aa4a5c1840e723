"""The trainer: everything about optimising a model that is not the model's losses.

It owns the optimizers (Adam, one per trained network), the learning-rate schedules, the gradient scaler of
--amp fp16, the fast path's compiled networks and the DistributedDataParallel wrappers under torchrun, and the order
of a step: G's forward pass, D's update from D's loss groups, then G's update from G's losses, and with --ema the
moving average of G's weights (ema.py). Losses stay on the device between log steps: nothing in a step waits for
the GPU.

    trainer = Trainer(model, opt, world)
    for batch in data:
        trainer.train_step(batch)
    trainer.current_losses()        # {name: float}: synchronises, so only at --print_freq
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from models import acceleration, checkpoint
from models.base_model import BaseModel
from util import distributed
from util.seeding import rng_state, set_rng_state
from util.util import options_to_dict

from . import schedules
from .ema import GeneratorAverage


def learning_rate(opt: argparse.Namespace, name: str) -> float:
    """The initial learning rate of network `name`: --lr_G / --lr_D (which --ttur sets), else --lr."""
    return getattr(opt, f"lr_{name}", None) or opt.lr


class Trainer:
    """Optimises `model` with the options' optimizer, schedule and fast path, on one process or under torchrun."""

    def __init__(self, model: BaseModel, opt: argparse.Namespace, world: distributed.World | None = None,
                 training_inputs: Callable[[], Iterable[torch.Tensor]] | None = None):
        """training_inputs: batches of training inputs (real_A) on which the average of G (--ema) estimates its
        batch-norm statistics before it is saved or used."""
        world = world or distributed.World()
        self.model, self.opt = model, opt
        nets = model.nets()
        self.ema = GeneratorAverage(model.netG, opt.ema) if getattr(opt, "ema", 0) > 0 else None
        self.training_inputs = training_inputs
        self.optimizers = {name: acceleration.adam(nets[name].parameters(), lr=learning_rate(opt, name),
                                                   betas=(opt.beta1, getattr(opt, "beta2", 0.999)),
                                                   fused=opt.kernels != "torch") for name in model.trained_names}
        # fp16 needs its gradients scaled up against underflow; bf16 has fp32's range and needs no scaler
        self.scaler = torch.amp.GradScaler(model.device.type, enabled=model.amp == "fp16")
        self.schedulers = {name: schedules.get_scheduler(o, opt) for name, o in self.optimizers.items()}
        if world.distributed and opt.sync_bn:  # batch norm over the global batch; keeps the optimizers' Parameters
            for name, net in nets.items():
                setattr(model, "net" + name, nn.SyncBatchNorm.convert_sync_batchnorm(net))
        model.runners = acceleration.accelerate(model.nets(), opt, eager=model.eager_nets())
        if world.distributed:
            self._distribute()
        self.world_size = world.size
        self.carried: dict[str, dict] = {}  # nets of the resumed checkpoint this run does not train (kept as they are)
        self.losses: dict[str, torch.Tensor] = {}  # the last step's, on the device
        self.monitor_sum = torch.zeros((), device=model.device)  # this epoch's sum of monitor_loss x images

    def _distribute(self) -> None:
        """Wrap each trained network in DistributedDataParallel.

        model.net<X> stays the plain module (checkpoints, test passes, D inside G's loss); passes whose gradients
        must be averaged across processes go through model.trained_net(name).
        """
        from torch.nn.parallel import DistributedDataParallel

        model = self.model
        devices = [model.device.index] if model.device.type == "cuda" else None
        model.ddp = {name: DistributedDataParallel(model.net(name), device_ids=devices)
                     for name in model.trained_names}

    # ---- one step ----------------------------------------------------------------------------------------------

    def train_step(self, batch: dict, update: bool = True) -> None:
        """One training step on a batch: G's forward pass, an update of the other networks, an update of G.
        update=False: the losses and their gradients only, no optimizer step (memory.py's probe)."""
        self.model.set_input(batch)
        self.model.forward()
        losses = self._update_discriminators(update)
        self.losses = {**self._update_generator(update), **losses}
        if not update:
            return
        self.scaler.update()
        if self.model.monitor_loss in self.losses:  # weighted by the step's images in all processes
            self.monitor_sum += self.losses[self.model.monitor_loss] * (len(batch["A"]) * self.world_size)

    def _update_discriminators(self, update: bool) -> dict[str, torch.Tensor]:
        others = [name for name in self.model.trained_names if name != "G"]
        if not others:
            return {}
        nets = self.model.nets()
        _requires_grad([nets[n] for n in others], True)
        for name in others:
            self.optimizers[name].zero_grad(set_to_none=True)
        logged = {}
        for group in self.model.discriminator_losses():
            self.scaler.scale(sum(group.values()) * self.model.discriminator_loss_weight).backward()
            logged.update((k, v.detach()) for k, v in group.items())
        for name in others if update else ():
            self.scaler.step(self.optimizers[name])
        _requires_grad([nets[n] for n in others], False)
        return logged

    def _update_generator(self, update: bool) -> dict[str, torch.Tensor]:
        self.optimizers["G"].zero_grad(set_to_none=True)
        losses = self.model.generator_losses()
        self.scaler.scale(sum(losses.values())).backward()
        if update:
            self.scaler.step(self.optimizers["G"])
            if self.ema is not None:
                self.ema.update(self.model.netG)
        return {k: v.detach() for k, v in losses.items()}

    def current_losses(self) -> dict[str, float]:
        """The last step's losses as numbers (this waits for the device: call it at log time only)."""
        return {name: value.item() for name, value in self.losses.items()}

    # ---- epochs and schedules ----------------------------------------------------------------------------------

    @property
    def learning_rate(self) -> float:
        """G's current learning rate."""
        return self.optimizers["G"].param_groups[0]["lr"]

    @property
    def learning_rates(self) -> dict[str, float]:
        """Each trained network's current learning rate, by name (G, D)."""
        return {name: optimizer.param_groups[0]["lr"] for name, optimizer in self.optimizers.items()}

    def end_epoch(self, images: int) -> float:
        """Step the schedules at the end of an epoch of `images` images (the plateau policy averages the monitored
        loss over them and over processes); returns the next epoch's learning rate."""
        metric = distributed.mean(self.monitor_sum.item() / max(1, images))
        for scheduler in self.schedulers.values():
            schedules.step(scheduler, metric)
        self.monitor_sum.zero_()
        return self.learning_rate

    # ---- checkpoints -------------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The optimisation state a checkpoint holds (lists in the order of model.trained_names)."""
        state = {"optimizers": [o.state_dict() for o in self.optimizers.values()],
                 "schedulers": [s.state_dict() for s in self.schedulers.values()],
                 "scaler": self.scaler.state_dict(), "monitor_sum": self.monitor_sum.item()}
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        return state

    def averaged_generator(self) -> nn.Module | None:
        """The moving average of G (--ema), its batch-norm statistics estimated for its current weights; None
        without --ema."""
        if self.ema is None:
            return None
        if self.training_inputs is not None:
            self.ema.estimate_statistics(self.training_inputs, self.opt.gpu_ids)
        return self.ema.module

    def checkpoint_state(self, progress: dict[str, Any]) -> dict[str, Any]:
        """Everything a full checkpoint holds to resume exactly (checkpoint.write saves it); with --ema, the
        averaged generator as nets['G_ema']."""
        nets = {**self.carried, **{name: checkpoint.plain_state(net) for name, net in self.model.nets().items()}}
        averaged = self.averaged_generator()
        if averaged is not None:
            nets[checkpoint.AVERAGED_G] = checkpoint.plain_state(averaged)
        return {"options": options_to_dict(self.opt), "progress": dict(progress), **self.state_dict(), "nets": nets,
                "rng": rng_state(self.opt.gpu_ids), "extra": self.model.extra_state()}

    def resume(self, found: checkpoint.Checkpoint) -> dict[str, Any]:
        """Load a checkpoint to continue training from: the networks, and with a full checkpoint everything else;
        returns where training stood ({} for upstream's weight files)."""
        checkpoint.load_nets(self.model.nets(), found, self.opt)
        if found.state is not None:
            self.load_state_dict(found.state)
            # a run that stops training D (--lambda_GAN 0) keeps it for a later run that trains it again
            self.carried = {name: state for name, state in found.state["nets"].items()
                            if name not in self.model.nets() and name != checkpoint.AVERAGED_G}
        return found.progress

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from a full checkpoint: moments, positions and random states from it; hyperparameters (--lr,
        --beta1, the schedule) from the options, so that a resumed run may change them."""
        saved_options = argparse.Namespace(**{"lr": self.opt.lr, **state["options"]})
        lr_ratios = [learning_rate(self.opt, name) / float(learning_rate(saved_options, name))
                     for name in self.optimizers]
        for optimizer, saved in zip(self.optimizers.values(), state["optimizers"]):
            fresh = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
            optimizer.load_state_dict(saved)
            for group, hyper in zip(optimizer.param_groups, fresh):
                group.update(betas=hyper["betas"], initial_lr=hyper.get("initial_lr", hyper["lr"]))
            _match_layouts(optimizer)
        if self.scaler.is_enabled() and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        for scheduler, saved, lr_ratio in zip(self.schedulers.values(), state["schedulers"], lr_ratios):
            schedules.resume(scheduler, saved, lr_ratio)
        self.monitor_sum.fill_(float(state.get("monitor_sum", state["progress"].get("l1_sum", 0.0))))
        set_rng_state(state["rng"], self.opt.gpu_ids)
        self.model.load_extra_state(state.get("extra", {}))
        if self.ema is not None:
            self._resume_average(state)

    def _resume_average(self, state: dict[str, Any]) -> None:
        if checkpoint.AVERAGED_G in state["nets"]:
            self.ema.load_state_dict(state["nets"][checkpoint.AVERAGED_G], state.get("ema", {}))
        else:  # --ema added to a run trained without it: the first update copies G's weights
            print("--ema: the checkpoint has no averaged generator; the average starts from its weights")


class Meter:
    """Time and images between two log steps; on a GPU the clock is read after the device has finished."""

    def __init__(self, device: torch.device):
        self.device = device
        self.reset()

    def reset(self) -> None:
        self._sync()
        self.start = self.waited_at = time.perf_counter()
        self.images, self.steps, self.data_time = 0, 0, 0.0

    def batch_arrived(self) -> None:
        """Call when the loader hands over a batch: the time since the last step ended was spent waiting for data."""
        self.data_time += time.perf_counter() - self.waited_at

    def step_done(self, images: int) -> None:
        self.images, self.steps = self.images + images, self.steps + 1
        self.waited_at = time.perf_counter()

    def read(self) -> tuple[float, float]:
        """(compute seconds per image, data seconds per step) since the last read, which starts a new interval."""
        self._sync()
        elapsed = time.perf_counter() - self.start
        per_image = max(elapsed - self.data_time, 0.0) / max(1, self.images)
        per_step = self.data_time / max(1, self.steps)
        self.reset()
        return per_image, per_step

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def _requires_grad(nets: list[nn.Module], requires_grad: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad = requires_grad


def _match_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give loaded optimizer state (Adam's moments) the memory layout of its parameter: a checkpoint may come
    from a run with another --channels_last, and the fused update wants both alike."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if isinstance(value, torch.Tensor) and value.shape == param.shape and value.stride() != param.stride():
                    optimizer.state[param][key] = torch.empty_like(param).copy_(value)
