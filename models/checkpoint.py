"""Checkpoint files, in one place: their names, reading (once per run, weights-only), writing (atomically),
upstream pix2pix's weight files, and the check that a checkpoint fits the network it is loaded into.

    <checkpoints_dir>/<name>/<label>_checkpoint.pth   DLIM's full training state (label: latest, 5, iter_1000)
    <checkpoints_dir>/<name>/<label>_net_<G|D>.pth    upstream pix2pix's weight-only state dicts
    <checkpoints_dir>/<name>/opt.json                 beside those: the options they were trained with (optional;
                                                      scripts/download_pix2pix_model.sh writes one)

A full checkpoint is a dict: format, options, nets {G, D, and G_ema with --ema: state dict}, optimizers,
schedulers, scaler, progress, rng, extra (and ema: its decay and update count). Files are read with
util.weights: one that needs arbitrary unpickling is refused.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from util.errors import UserError
from util.fileio import atomic_torch_save, read_json_object
from util.weights import safe_load

from . import networks

CHECKPOINT_FORMAT = "dlim-checkpoint-v2"  # v2: numpy's random state as tensors (v1 held a numpy array)
READABLE_FORMATS = ("dlim-checkpoint-v1", CHECKPOINT_FORMAT)
_BATCH_NORM_STATS = ("running_mean", "running_var", "num_batches_tracked")
AVERAGED_G = "G_ema"  # the moving average of G's weights (--ema), a network like G
WEIGHTS = ("ema", "raw")  # values of --weights: the averaged generator or the trained one
OPTIONS_FILE = "opt.json"  # the experiment's options; for upstream's weight files, the only record of them
CHECKPOINT_PATTERNS = ("*_checkpoint.pth", "*_net_*.pth")  # a folder with one of these holds a run


def checkpoint_label(opt: argparse.Namespace) -> str:
    """The checkpoint chosen by --load_iter (iter_<N>) or else --epoch (latest, 5, ...)."""
    return f"iter_{opt.load_iter}" if opt.load_iter > 0 else str(opt.epoch)


def saved_epochs(folder: Path) -> list[int]:
    """The epochs whose <epoch>_checkpoint.pth the folder holds, in order."""
    labels = (p.name[: -len("_checkpoint.pth")] for p in folder.glob("*_checkpoint.pth"))
    return sorted(int(label) for label in labels if label.isdecimal())


def experiment_dir(opt: argparse.Namespace) -> Path:
    """<checkpoints_dir>/<name>: the experiment's checkpoints, options, logs and training page."""
    return Path(opt.checkpoints_dir) / opt.name


def checkpoint_file(opt: argparse.Namespace, label: str | None = None) -> Path:
    """<checkpoints_dir>/<name>/<label>_checkpoint.pth (label: the one --epoch / --load_iter choose)."""
    return experiment_dir(opt) / f"{label or checkpoint_label(opt)}_checkpoint.pth"


def upstream_file(opt: argparse.Namespace, net: str, label: str | None = None) -> Path:
    """<checkpoints_dir>/<name>/<label>_net_<net>.pth, as upstream pix2pix names its weight files."""
    return experiment_dir(opt) / f"{label or checkpoint_label(opt)}_net_{net}.pth"


_last_read: tuple[tuple, Any] | None = None  # the last file read, so that a run reads its checkpoint once


def read(path: Path) -> Any:
    """A checkpoint or weights file, read weights-only (memory-mapped when the file allows), with one-line errors
    for files that are damaged, not PyTorch files, or need arbitrary code to load. The last file read is kept,
    and read again only when it changed on disk."""
    global _last_read
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)
    if _last_read is not None and _last_read[0] == key:
        return _last_read[1]
    try:
        state = safe_load(path, mmap=True)
    except UserError:
        raise
    except Exception:  # files from torch < 1.6 cannot be memory-mapped: read them whole
        state = _read_whole(path)
    _last_read = (key, state)
    return state


def _read_whole(path: Path) -> Any:
    try:
        return safe_load(path)
    except UserError:
        raise
    except Exception as exc:  # corrupt, truncated or not a torch file at all
        raise UserError(f"cannot read checkpoint {path} ({type(exc).__name__}): the file is damaged or not a "
                        f"PyTorch checkpoint; use another --epoch or retrain") from None


@dataclass
class Checkpoint:
    """What a run loads: a full DLIM checkpoint (`state`), or upstream's weight files (`upstream`, by net) and the
    options in the opt.json beside them (`upstream_options`)."""

    path: Path
    state: dict[str, Any] | None = None
    upstream: dict[str, Path] = field(default_factory=dict)
    upstream_options: dict[str, Any] = field(default_factory=dict)

    @property
    def options(self) -> dict[str, Any]:
        """The options it was trained with (for upstream files, those of their opt.json; {} without one)."""
        return self.state["options"] if self.state else self.upstream_options

    @property
    def progress(self) -> dict[str, Any]:
        """Where training stood: epoch, samples_done, total_iters ({} for upstream files)."""
        return dict(self.state["progress"]) if self.state else {}

    def net_state(self, name: str) -> tuple[dict, Path]:
        """The state dict of net `name` and the file it comes from."""
        if self.state is not None:
            if name not in self.state["nets"]:
                raise UserError(f"{self.path} has no net{name}: it was trained without it; use the options it was "
                                f"trained with ({self.path.parent / 'opt.txt'})")
            return self.state["nets"][name], self.path
        return read(self.upstream[name]), self.upstream[name]


def trained(found: Checkpoint) -> str:
    """How far the checkpoint's networks were trained ('trained on N images'), or for upstream's weight files the
    file's size and time, so that a checkpoint trained further under the same name is told apart."""
    if found.state is not None:
        return f"trained on {found.progress.get('total_iters', 0)} images"
    stat = found.path.stat()
    return f"{stat.st_size} bytes of {stat.st_mtime_ns}"


def saved_options(opt: argparse.Namespace) -> dict[str, Any] | None:
    """The training options of the checkpoint that opt names: those in our full checkpoint, else for upstream's
    <label>_net_G.pth those of the opt.json beside it (None when there is neither)."""
    path = checkpoint_file(opt)
    if path.exists():
        state = read(path)
        return state.get("options") if isinstance(state, dict) and state.get("format") in READABLE_FORMATS else None
    if upstream_file(opt, "G").exists():
        return upstream_options(opt) or None
    return None


def options_file(opt: argparse.Namespace) -> Path:
    """The file saved_options() reads: the full checkpoint, else the opt.json beside upstream's weights."""
    path = checkpoint_file(opt)
    return path if path.exists() else experiment_dir(opt) / OPTIONS_FILE


def upstream_options(opt: argparse.Namespace) -> dict[str, Any]:
    """The options in <checkpoints_dir>/<name>/opt.json, which say how upstream's weight files were trained (all of
    them or only some: the rest keep their defaults); {} when there is no such file."""
    return read_json_object(experiment_dir(opt) / OPTIONS_FILE, "the options the weights beside it were trained "
                            "with (such as {\"netG\": \"unet_256\"})", "fix or delete it") or {}


def find(opt: argparse.Namespace, names: list[str]) -> Checkpoint:
    """The checkpoint that --name, --epoch and --load_iter choose, holding nets `names`: our full checkpoint, else
    upstream's <label>_net_<X>.pth files; a one-line error naming what exists when there is neither."""
    path = checkpoint_file(opt)
    if path.exists():
        state = read(path)
        if not isinstance(state, dict) or state.get("format") not in READABLE_FORMATS:
            raise UserError(f"{path} is not a DLIM checkpoint: pass a file saved by train.py")
        return Checkpoint(path, state)
    upstream = {name: upstream_file(opt, name) for name in names}
    if all(p.exists() for p in upstream.values()):
        return Checkpoint(upstream[names[0]], upstream=upstream, upstream_options=upstream_options(opt))
    folder = experiment_dir(opt)
    found = sorted(p.name for p in folder.glob("*.pth")) if folder.is_dir() else []
    best = " (a best checkpoint is kept by runs that validate: train.py --val_freq N)" \
        if checkpoint_label(opt) == "best" else ""
    raise UserError(f"no checkpoint {path}{best}: train first, or check --name, --checkpoints_dir, --epoch and "
                    f"--load_iter (existing: {', '.join(found[:8]) or 'none'})")


def check_architecture(opt: argparse.Namespace, name: str, saved: dict[str, Any], path: Path) -> None:
    """A one-line error when an option that shapes net `name` (as the checkpoint's own networks declare) was given
    another value than the checkpoint was trained with."""
    for key in networks.shape_options(name, saved):
        if key not in saved or str(saved[key]) == str(getattr(opt, key, saved[key])):  # opt.json may say "8" for 8
            continue
        if key == "input_nc" and (saved.get("label_nc") or getattr(opt, "label_nc", 0)):  # follows from the classes
            classes = f"--label_nc {saved.get('label_nc', 0)}" + (" --dontcare" if saved.get("dontcare") else "")
            raise UserError(f"{path} was trained on {saved[key]} input channels ({classes}), not {opt.input_nc}: "
                            f"give --label_nc and --dontcare as in training")
        if isinstance(saved[key], bool):
            raise UserError(f"{path} was trained {'with' if saved[key] else 'without'} --{key}: "
                            f"{'pass' if saved[key] else 'leave out'} --{key} as in training")
        raise UserError(f"{path} was trained with --{key} {saved[key]}, not {getattr(opt, key)}: "
                        f"pass --{key} {saved[key]} as in training")


def load_nets(nets: dict[str, nn.Module], checkpoint: Checkpoint, opt: argparse.Namespace) -> None:
    """Load each net's weights from the checkpoint, after checking the options that shape it."""
    for name, net in nets.items():
        check_architecture(opt, name, checkpoint.options, checkpoint.path)
        state_dict, path = checkpoint.net_state(name)
        _load_state_dict(net, name, state_dict, path, opt)


def default_weights(checkpoint: Checkpoint) -> str:
    """The generator a checkpoint translates with unless --weights says otherwise: its moving average when it has
    one (--ema), else the trained weights."""
    has_average = checkpoint.state is not None and AVERAGED_G in checkpoint.state["nets"]
    return "ema" if has_average else "raw"


def load_generator(netG: nn.Module, checkpoint: Checkpoint, opt: argparse.Namespace) -> str:
    """Load the generator to translate with: the moving average of G when the checkpoint has one (--ema), unless
    --weights raw asks for the trained weights; returns which ('ema' or 'raw')."""
    weights = getattr(opt, "weights", None) or default_weights(checkpoint)
    if weights == "ema" and default_weights(checkpoint) != "ema":
        raise UserError(f"--weights ema: {checkpoint.path} has no averaged generator (it was trained without --ema): "
                        f"leave out --weights, or pass --weights raw")
    check_architecture(opt, "G", checkpoint.options, checkpoint.path)
    state_dict, path = checkpoint.net_state(AVERAGED_G if weights == "ema" else "G")
    _load_state_dict(netG, "G", state_dict, path, opt)
    return weights


def _load_state_dict(net: nn.Module, name: str, state_dict: dict, path: Path, opt: argparse.Namespace) -> None:
    state_dict = {k.removeprefix("module."): v for k, v in state_dict.items()}  # saved from a DataParallel net
    own = net.state_dict()
    # upstream's old checkpoints carry running stats for instance norm, which has none
    state_dict = {k: v for k, v in state_dict.items() if k in own or k.rsplit(".", 1)[-1] not in _BATCH_NORM_STATS}
    try:
        net.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
        flags = "/".join(f"--{key}" for key in networks.shape_options(name, vars(opt)))
        raise UserError(f"{path} does not fit net{name} ({getattr(opt, 'net' + name)}): {first[:200]}; pass the "
                        f"{flags} it was trained with") from None


def plain_state(net: nn.Module) -> dict[str, Any]:
    """A network's weights on the CPU in the plain NCHW layout, whatever --channels_last the run used."""
    net = getattr(net, "module", net)
    return {k: v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()}


def write(path: Path, state: dict[str, Any]) -> Path:
    """Write a full checkpoint (the keys the module docstring lists, without `format`) atomically."""
    atomic_torch_save({"format": CHECKPOINT_FORMAT, **state}, path)
    return path
