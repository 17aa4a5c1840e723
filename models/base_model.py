"""What every model shares: device placement, the fast path (mixed precision, channels-last, torch.compile),
learning-rate schedules, saving and loading full checkpoints."""
from __future__ import annotations

import argparse
import contextlib
import math
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim import lr_scheduler

from util.errors import UserError, warn
from util.fileio import atomic_torch_save, atomic_write_text
from util.util import options_to_dict, run_device

from . import acceleration, networks
from .checkpoint import CHECKPOINT_FORMAT, READABLE_FORMATS, read_checkpoint, rng_state, set_rng_state
from .networks import count_parameters, receptive_fields

# options that fix a network's shape: a checkpoint only loads into the same values
ARCH_KEYS = {"G": ("netG", "ngf", "norm", "input_nc", "output_nc"),
             "D": ("netD", "ndf", "n_layers_D", "num_D", "norm", "input_nc", "output_nc")}
# which of the discriminator's shape options each --netD uses
DISCRIMINATOR_OPTIONS = {"basic": ("norm",), "pixel": ("norm",), "n_layers": ("n_layers_D", "norm"),
                         "multiscale": ("n_layers_D", "num_D", "norm"), "sesame": ("n_layers_D", "num_D")}


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
    """Learning-rate schedule stepped once per epoch: lr_factor's, or x0.2 when the epoch's L1 loss stops
    improving (plateau)."""
    if opt.lr_policy == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.2, threshold=0.01, patience=5)
    return lr_scheduler.LambdaLR(optimizer, lr_lambda=lambda epochs_done: lr_factor(opt, epochs_done))


LR_POLICIES = ["linear", "step", "plateau", "cosine"]


class BaseModel:
    """Holds networks, optimizers and schedulers; subclasses define the losses and one training step."""

    def __init__(self, opt: argparse.Namespace):
        self.opt = opt
        self.is_train = opt.is_train
        self.device = run_device(opt.gpu_ids)
        self.save_dir = Path(opt.checkpoints_dir) / opt.name
        self.loss_names: list[str] = []
        self.model_names: list[str] = []
        self.visual_names: list[str] = []
        self.output_names: list[str] = []  # visuals that the model generates (test.py --n_samples repeats them)
        self.monitor_loss = "G_L1"  # the epoch mean of this loss drives --lr_policy plateau
        self.optimizers: list[torch.optim.Optimizer] = []
        self.schedulers: list = []
        self.ddp: dict[str, nn.Module] = {}  # DistributedDataParallel wrappers of the trained nets (torchrun)
        self.runners: dict[str, nn.Module] = {}  # torch.compile'd nets (--compile)
        self.amp = getattr(opt, "amp", "off")
        self.fast_kernels = getattr(opt, "kernels", "auto") != "torch"
        networks.use_matrix_products(self.fast_kernels)
        self.memory_format = acceleration.memory_format(getattr(opt, "channels_last", "off"))
        # fp16 needs its gradients scaled up against underflow; bf16 has fp32's range and needs no scaler
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == "fp16")
        if self.device.type == "cuda" and opt.preprocess not in ("scale_width", "none"):
            torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN time and pick its fastest kernels

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """Add model-specific options or change defaults."""
        return parser

    def set_input(self, batch: dict) -> None:
        raise NotImplementedError

    def forward(self) -> None:
        raise NotImplementedError

    def optimize_parameters(self) -> None:
        raise NotImplementedError

    def nets(self) -> dict[str, nn.Module]:
        """The model's networks by name (G, D, ...)."""
        return {name: getattr(self, "net" + name) for name in self.model_names}

    def distribute(self, sync_bn: bool = False) -> None:
        """Wrap each network in DistributedDataParallel for training under torchrun.

        self.net<X> stays the plain module (checkpoints, test passes, D inside G's loss); training passes that
        must average gradients across processes go through parallel(name). With sync_bn, batch norm layers
        use the statistics of the global batch.
        """
        from torch.nn.parallel import DistributedDataParallel

        if sync_bn:
            for name, net in self.nets().items():
                # keeps the Parameter objects the optimizer holds
                setattr(self, "net" + name, nn.SyncBatchNorm.convert_sync_batchnorm(net))
            self._make_runners()  # setup() compiled the networks these replace
        for name in self.nets():
            devices = [self.device.index] if self.device.type == "cuda" else None
            self.ddp[name] = DistributedDataParallel(self.runner(name), device_ids=devices)

    def runner(self, name: str) -> nn.Module:
        """The network to run a forward pass with: compiled with --compile, else the network itself."""
        return self.runners.get(name) or getattr(self, "net" + name)

    def parallel(self, name: str) -> nn.Module:
        """The network to run in a training pass: its DDP wrapper under torchrun, else runner(name)."""
        return self.ddp.get(name) or self.runner(name)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for forward passes (--amp); losses take the outputs back in float32."""
        return acceleration.autocast(self.device, self.amp)

    def backward(self, loss: torch.Tensor) -> None:
        """loss.backward(), scaled against fp16 underflow when --amp fp16."""
        self.scaler.scale(loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """optimizer.step(); with --amp fp16 gradients are unscaled first and a step with inf/NaN is skipped."""
        self.scaler.step(optimizer)

    def setup(self) -> None:
        """Put the networks in the fast path's layout, compile them (--compile), create the learning-rate
        schedulers (training) and print the networks' sizes."""
        if self.memory_format == torch.channels_last:
            for net in self.nets().values():
                net.to(memory_format=self.memory_format)
        self._make_runners()
        if self.is_train:
            self.schedulers = [get_scheduler(o, self.opt) for o in self.optimizers]
        self.print_networks(self.opt.verbose)

    def _make_runners(self) -> None:
        if getattr(self.opt, "compile", "off") != "on":
            return
        nets = self.nets()
        if getattr(self, "weight_noise", 0) > 0:  # G's weights are swapped at every pass: nothing to compile
            warn("--compile: netG runs eagerly with --weight_noise (its weights are drawn anew at every pass)")
            nets.pop("G")
        self.runners = {name: acceleration.CompiledOrEager(net, name) for name, net in nets.items()}

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

    @staticmethod
    def set_requires_grad(nets: nn.Module | list[nn.Module], requires_grad: bool) -> None:
        """Freeze or unfreeze the parameters of one or several networks."""
        for net in nets if isinstance(nets, list) else [nets]:
            for p in net.parameters():
                p.requires_grad = requires_grad

    def update_learning_rate(self, metric: float = 0.0) -> float:
        """Step every scheduler once (end of an epoch); returns the new learning rate."""
        for scheduler in self.schedulers:
            if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
                scheduler.step(metric)
            else:
                scheduler.step()
        return self.optimizers[0].param_groups[0]["lr"]

    def get_current_losses(self) -> OrderedDict[str, float]:
        """The latest value of each loss in loss_names."""
        return OrderedDict((name, _scalar(getattr(self, "loss_" + name))) for name in self.loss_names)

    def get_current_visuals(self) -> OrderedDict[str, torch.Tensor]:
        """The current image batches named in visual_names (those that exist for this input)."""
        return OrderedDict((name, getattr(self, name)) for name in self.visual_names if hasattr(self, name))

    def describe_networks(self) -> list[str]:
        """One line per network: class, parameter count and, for discriminators, each scale's receptive field."""
        lines = []
        for name, net in self.nets().items():
            line = f"[net{name}] {type(net).__name__}: {count_parameters(net) / 1e6:.3f} M parameters"
            if name == "D":
                fields = receptive_fields(net)
                line += ", receptive field " + ", ".join(f"{rf}x{rf}" for rf in fields) + " px" + (
                    f" ({len(fields)} scales)" if len(fields) > 1 else "")
            lines.append(line)
        return lines

    def print_networks(self, verbose: bool = False) -> None:
        """Print each network's size (and the whole architecture with verbose)."""
        for net, line in zip(self.nets().values(), self.describe_networks()):
            if verbose:
                print(net)
            print(line)

    def save_network_summary(self) -> Path:
        """Write the summary lines and the full architectures to <checkpoints_dir>/<name>/networks.txt."""
        text = "\n".join(self.describe_networks()) + "\n"
        for name, net in self.nets().items():
            text += f"\n---- net{name} ----\n{net}\n"
        path = self.save_dir / "networks.txt"
        atomic_write_text(path, text)
        return path

    def extra_state(self) -> dict[str, Any]:
        """Training state beyond networks and optimizers that a resumed run needs (subclasses add theirs)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what extra_state() returned."""

    # ---- checkpoints -------------------------------------------------------------------------------------

    def checkpoint_path(self, label: str) -> Path:
        """Where the checkpoint called `label` (latest, 5, iter_1000) lives."""
        return self.save_dir / f"{label}_checkpoint.pth"

    def save_checkpoint(self, label: str, progress: dict[str, Any]) -> Path:
        """Write everything needed to resume exactly: nets, optimizers, schedulers, progress, RNG, options."""
        state = {
            "format": CHECKPOINT_FORMAT,
            "options": options_to_dict(self.opt),
            "nets": {name: _cpu_state(net) for name, net in self.nets().items()},
            "optimizers": [o.state_dict() for o in self.optimizers],
            "schedulers": [s.state_dict() for s in self.schedulers],
            "scaler": self.scaler.state_dict(),
            "progress": dict(progress),
            "rng": rng_state(self.opt.gpu_ids),
            "extra": self.extra_state(),
        }
        path = self.checkpoint_path(label)
        atomic_torch_save(state, path)
        return path

    def load_checkpoint(self, label: str, nets_only: bool = False) -> dict[str, Any]:
        """Load our full checkpoint `<label>_checkpoint.pth`, or upstream's `<label>_net_<X>.pth` state dicts.

        Returns the saved progress ({} for upstream files). With nets_only, optimizers, schedulers and RNG
        states are left as they are (testing).
        """
        path = self.checkpoint_path(label)
        if not path.exists():
            upstream = {n: self.save_dir / f"{label}_net_{n}.pth" for n in self.model_names}
            if all(p.exists() for p in upstream.values()) or (nets_only and upstream["G"].exists()):
                names = self.model_names if not nets_only else ["G"]
                for name in names:
                    self._load_net(name, read_checkpoint(upstream[name]), upstream[name])
                return {}
            raise UserError(f"no checkpoint {path}: train first, or check --name, --checkpoints_dir, "
                            f"--epoch and --load_iter (existing: {_existing(self.save_dir)})")
        state = read_checkpoint(path)
        if not isinstance(state, dict) or state.get("format") not in READABLE_FORMATS:
            raise UserError(f"{path} is not a DLIM checkpoint: pass a file saved by train.py")
        names = ["G"] if nets_only else self.model_names
        for name in names:
            self._check_architecture(name, state["options"], path)
            if name not in state["nets"]:
                raise UserError(f"{path} has no net{name}: it was trained without it; "
                                f"use the options it was trained with ({path.parent / 'opt.txt'})")
            self._load_net(name, state["nets"][name], path)
        if not nets_only:
            self._load_training_state(state)
        return state["progress"]

    def _load_training_state(self, state: dict[str, Any]) -> None:
        """Optimizers, scaler, schedules, random generators and extra state of a full checkpoint. Hyperparameters
        come from the options (a resumed run may change --beta1, --lr or the schedule), moments and positions
        from the checkpoint."""
        saved_options = state["options"]
        # the schedule counts epochs from where the run first started, whatever --epoch_count says now
        self.opt.epoch_count = saved_options.get("epoch_count", self.opt.epoch_count)
        lr_ratio = self.opt.lr / float(saved_options.get("lr", self.opt.lr))
        for optimizer, saved in zip(self.optimizers, state["optimizers"]):
            fresh = [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]
            optimizer.load_state_dict(saved)
            for group, hyper in zip(optimizer.param_groups, fresh):
                group.update(betas=hyper["betas"], initial_lr=hyper.get("initial_lr", hyper["lr"]))
            _match_layouts(optimizer)
        if self.scaler.is_enabled() and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        for scheduler, saved in zip(self.schedulers, state["schedulers"]):
            resume_schedule(scheduler, saved, lr_ratio)
        set_rng_state(state["rng"], self.opt.gpu_ids)
        self.load_extra_state(state.get("extra", {}))

    def _check_architecture(self, name: str, saved: dict[str, Any], path: Path) -> None:
        keys = ARCH_KEYS.get(name, ())
        if name == "D":  # only the options that shape the saved discriminator
            keys = [k for k in keys if k in ("netD", "ndf", "input_nc", "output_nc")
                    or k in DISCRIMINATOR_OPTIONS.get(saved.get("netD"), ("n_layers_D", "num_D", "norm"))]
        for key in keys:
            if key in saved and saved[key] != getattr(self.opt, key, saved[key]):
                raise UserError(f"{path} was trained with --{key} {saved[key]}, not {getattr(self.opt, key)}: "
                                f"pass --{key} {saved[key]} as in training")

    def _load_net(self, name: str, state_dict: dict, path: Path) -> None:
        net = getattr(self, "net" + name)
        state_dict = {k.removeprefix("module."): v for k, v in state_dict.items()}
        own = net.state_dict()
        # upstream's old checkpoints carry running stats for instance norm, which has none
        state_dict = {k: v for k, v in state_dict.items()
                      if k in own or k.rsplit(".", 1)[-1] not in ("running_mean", "running_var", "num_batches_tracked")}
        try:
            net.load_state_dict(state_dict, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
            raise UserError(f"{path} does not fit net{name} ({self.opt.netG if name == 'G' else self.opt.netD}, "
                            f"norm {self.opt.norm}, ngf {self.opt.ngf}): {first[:200]}; pass the --netG/--norm/"
                            f"--ngf/--no_dropout/--input_nc/--output_nc it was trained with") from None


def resume_schedule(scheduler: Any, saved: dict[str, Any], lr_ratio: float) -> None:
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


def _scalar(value: torch.Tensor | float) -> float:
    return value.item() if isinstance(value, torch.Tensor) else float(value)


def _cpu_state(net: nn.Module) -> dict[str, torch.Tensor]:
    """The weights in the plain NCHW layout, whatever --channels_last the run used."""
    net = getattr(net, "module", net)
    return {k: v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()}


def _match_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give loaded optimizer state (Adam's moments) the memory layout of its parameter: a checkpoint may come
    from a run with another --channels_last, and the fused update wants both alike."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if isinstance(value, torch.Tensor) and value.shape == param.shape and value.stride() != param.stride():
                    optimizer.state[param][key] = torch.empty_like(param).copy_(value)


def _existing(folder: Path) -> str:
    found = sorted(p.name for p in folder.glob("*.pth")) if folder.is_dir() else []
    return ", ".join(found[:8]) or "none"
