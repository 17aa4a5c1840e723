"""Options shared by training and testing, with upstream pix2pix's names and defaults."""
from __future__ import annotations

import argparse
import json
import os
import string
import sys
from pathlib import Path
from typing import Any

import data
import models
from models import acceleration, networks
from util.errors import ArgumentParser, HelpFormatter, UserError, warn
from util.fileio import atomic_write_text
from util.util import options_to_dict

from .types import (
    count_or_inf,
    dropout_probability,
    nonnegative_int,
    positive_finite,
    positive_int,
    seed,
    workers,
)

_GIVEN = object()  # marks options that the user did not give on the command line


class BaseOptions:
    """Defines, parses, prints and saves the options used by train.py and test.py."""

    is_train = False
    description = ""

    def initialize(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """Add the options common to training and testing."""
        g = parser.add_argument_group("experiment")
        g.add_argument("--dataroot",
                       help="(required) dataset folder with train/ val/ test/ subfolders, e.g. ./datasets/facades")
        g.add_argument("--name", default="experiment_name",
                       help="experiment name: checkpoints go to <checkpoints_dir>/<name>")
        g.add_argument("--gpu_ids", default="auto",
                       help="GPU ids, e.g. 0  0,1,2  or -1 for CPU; 'auto' uses GPU 0 when CUDA is available")
        g.add_argument("--checkpoints_dir", default="./checkpoints", help="where experiments are saved")
        g.add_argument("--seed", type=seed, default=0,
                       help="random seed for weights, data order, augmentation and dropout")

        g = parser.add_argument_group("model")
        g.add_argument("--model", default="pix2pix", choices=sorted(models.MODELS), help="which model")
        g.add_argument("--input_nc", type=int, default=3, choices=[1, 3],
                       help="channels of the input image (1 gray, 3 RGB)")
        g.add_argument("--output_nc", type=int, default=3, choices=[1, 3], help="channels of the output image")
        g.add_argument("--ngf", type=positive_int, default=64, help="generator filters in the last conv layer")
        g.add_argument("--ndf", type=positive_int, default=64, help="discriminator filters in the first conv layer")
        g.add_argument("--netD", default="basic", choices=networks.DISCRIMINATOR_CHOICES,
                       help="discriminator: basic is the 70x70 PatchGAN, n_layers uses --n_layers_D, pixel judges "
                            "single pixels, multiscale is pix2pixHD's (--num_D PatchGANs of --n_layers_D layers), "
                            "sesame (or sesam) is SESAME's semantic-aware multiscale one; none trains the generator "
                            "on its reconstruction loss only")
        g.add_argument("--netG", default="resnet_9blocks", choices=sorted(networks.GENERATORS),
                       help="generator architecture")
        g.add_argument("--n_layers_D", type=positive_int, default=3,
                       help="layers of the n_layers, multiscale and sesame discriminators (3: 70x70 patches)")
        g.add_argument("--num_D", type=positive_int, default=2,
                       help="scales of the multiscale and sesame discriminators (each half the size of the last)")
        g.add_argument("--norm", default="instance", choices=sorted(networks.NORMS), help="normalization")
        g.add_argument("--init_type", default="normal", choices=sorted(networks.INIT_TYPES),
                       help="weight initialization")
        g.add_argument("--init_gain", type=positive_finite, default=0.02, help="scale for normal/xavier/orthogonal")
        g.add_argument("--no_dropout", action="store_true", help="no dropout layers in the generator")
        g.add_argument("--dropout_rate", type=dropout_probability, default=0.5,
                       help="rate of the generator's dropout layers, in training and at test time (the seed's "
                            "stochastic experiment used 0.95)")

        g = parser.add_argument_group("data")
        g.add_argument("--dataset_mode", default="aligned", choices=sorted(data.DATASETS),
                       help="aligned: A|B pairs side by side; single: A images only")
        g.add_argument("--direction", default="AtoB", choices=["AtoB", "BtoA"],
                       help="AtoB translates the left half into the right half; BtoA the reverse")
        g.add_argument("--serial_batches", action="store_true", help="take images in order, no shuffling")
        g.add_argument("--num_threads", type=workers, default=-1,
                       help="data-loading workers; -1 picks a number that does not oversubscribe the CPU")
        g.add_argument("--batch_size", type=positive_int, default=1, help="input batch size")
        g.add_argument("--load_size", type=positive_int, default=286, help="scale images to this size")
        g.add_argument("--crop_size", type=positive_int, default=256, help="then crop to this size")
        g.add_argument("--max_dataset_size", type=count_or_inf, default=float("inf"),
                       help="use at most this many images of the folder")
        g.add_argument("--preprocess", default="resize_and_crop", choices=data.PREPROCESS_MODES,
                       help="scaling and cropping of images at load time")
        g.add_argument("--no_flip", action="store_true", help="no random horizontal flip")

        g = parser.add_argument_group("speed (auto: the fastest safe choice for the device, see README 'Speed')")
        g.add_argument("--amp", nargs="?", const="on", default="auto", choices=acceleration.AMP_MODES,
                       help="mixed precision: bf16 autocast, or fp16 with a gradient scaler (GPUs without bf16); "
                            "the flag alone picks the dtype; auto: on for GPUs and for CPUs with native bf16")
        g.add_argument("--channels_last", nargs="?", const="on", default="auto", choices=acceleration.SWITCHES,
                       help="keep images and weights in the NHWC layout; auto: on together with --amp")
        g.add_argument("--compile", nargs="?", const="on", default="auto", choices=acceleration.SWITCHES,
                       help="torch.compile the networks (the first steps compile for a while; falls back to eager "
                            "with a warning where compiling fails); auto: off")
        g.add_argument("--kernels", default="auto", choices=acceleration.KERNELS,
                       help="auto: DLIM's faster kernels (Adam's fused update; on CPUs, the U-Net's convolutions of "
                            "inputs up to 8x8 as matrix products); torch: PyTorch's own, as upstream pix2pix")
        if self.is_train:
            g.add_argument("--cache_dataset", nargs="?", const="on", default="auto", choices=acceleration.SWITCHES,
                           help="decode the training images once into memory (uint8; on the GPU when training "
                                "there) and crop, flip and normalise them with tensor operations; auto: on when "
                                "they fit in a quarter of the free memory, at most 4 GiB")

        g = parser.add_argument_group("display")
        g.add_argument("--display_winsize", type=positive_int, default=256, help="display size in visdom and HTML")
        g.add_argument("--epoch", default="latest", help="which checkpoint to load: latest or an epoch number")
        g.add_argument("--load_iter", type=nonnegative_int, default=0,
                       help="if > 0, load the checkpoint saved at this iteration (iter_<load_iter>)")
        g.add_argument("--verbose", action="store_true", help="print network architectures")
        g.add_argument("--suffix", default="",
                       help="appended to --name, formatted with the options, e.g. {model}_{netG}_size{load_size}")
        return parser

    def _parser(self) -> ArgumentParser:
        parser = ArgumentParser(
            prog=Path(sys.argv[0]).name,
            formatter_class=HelpFormatter,
            description=self.description,
            add_help=False,  # added after the model and dataset flags, so that --help lists them too
        )
        return self.initialize(parser)

    def gather_options(self, argv: list[str], defaults: dict[str, Any]) -> tuple[argparse.Namespace, set[str]]:
        """Parse argv, letting the chosen model and dataset add their own flags; `defaults` win over theirs."""
        parser = self._parser()
        parser.set_defaults(**defaults)
        known, _ = parser.parse_known_args(argv)
        models.find_model(known.model).modify_commandline_options(parser, self.is_train)
        parser.set_defaults(**defaults)
        known, _ = parser.parse_known_args(argv)
        data.find_dataset(known.dataset_mode).modify_commandline_options(parser, self.is_train)
        parser.set_defaults(**defaults)
        parser.add_argument("-h", "--help", action="help", help="show this message and exit")
        opt = parser.parse_args(argv)
        if opt.dataroot is None:  # checked here, not by argparse, so that --help works without it
            parser.error("the following arguments are required: --dataroot")
        given = parser.parse_args(argv, namespace=argparse.Namespace(**{k: _GIVEN for k in vars(opt)}))
        explicit = {k for k, v in vars(given).items() if v is not _GIVEN}
        self.parser = parser
        return opt, explicit

    def parse(self, argv: list[str] | None = None, defaults: dict[str, Any] | None = None) -> argparse.Namespace:
        """Parse, check and complete the options; `defaults` override the parser's defaults (presets)."""
        argv = sys.argv[1:] if argv is None else list(argv)
        opt, explicit = self.gather_options(argv, defaults or {})
        opt.is_train = self.is_train
        opt.explicit = sorted(explicit)
        opt.netD = networks.DISCRIMINATOR_ALIASES.get(opt.netD, opt.netD)
        opt.gpu_ids = parse_gpu_ids(opt.gpu_ids)
        if opt.num_threads < 0:
            opt.num_threads = auto_num_workers(opt.gpu_ids)
        acceleration.resolve_speed_options(opt)
        if opt.suffix:
            opt.name = f"{opt.name}_{format_suffix(opt.suffix, vars(opt))}"
        self.complete(opt)
        self.check(opt)
        self.opt = opt
        return opt

    # options that describe this run, never taken from a checkpoint (subclasses list theirs)
    run_keys: frozenset[str] = frozenset()

    def inherit_from_checkpoint(self, opt: argparse.Namespace, argv: list[str] | None,
                                defaults: dict[str, Any] | None = None) -> tuple[argparse.Namespace, dict]:
        """Take the options of the checkpoint that opt names for every option not given on the command line
        (except run_keys). Returns the options and {key: (checkpoint's value, given value)} for the options given
        with another value than the checkpoint's."""
        from models.checkpoint import saved_options

        saved = saved_options(opt)
        if saved is None:
            return opt, {}
        if "model" not in opt.explicit and saved.get("model", opt.model) != opt.model:
            opt = BaseOptions.parse(self, argv, defaults={**(defaults or {}), "model": saved["model"]})
        changed, given = {}, options_to_dict(opt)
        for key in vars(opt):
            if key not in saved or key in self.run_keys:
                continue
            if key not in opt.explicit:
                setattr(opt, key, _from_json(saved[key]))
            elif saved[key] != given[key]:
                changed[key] = (saved[key], getattr(opt, key))
        self.complete(opt)
        self.check(opt)
        return opt, changed

    def complete(self, opt: argparse.Namespace) -> None:
        """Fill in options that follow from others (subclasses)."""

    def check(self, opt: argparse.Namespace) -> None:
        """Reject option combinations that cannot work, with a message that says what to change."""
        name = Path(opt.name)
        if not opt.name.strip() or name.is_absolute() or ".." in name.parts or not name.parts:
            raise UserError(f"--name {opt.name!r} must name a folder inside --checkpoints_dir (not empty, not an "
                            f"absolute path, no '..'): pass a plain experiment name such as facades_pix2pix")
        if opt.preprocess in ("resize_and_crop", "scale_width_and_crop") and opt.crop_size > opt.load_size:
            raise UserError(f"--crop_size {opt.crop_size} is larger than --load_size {opt.load_size}: "
                            f"pass --load_size >= crop_size or a smaller --crop_size")
        if opt.batch_size < 1:
            raise UserError(f"--batch_size must be at least 1, got {opt.batch_size}")

    def print_options(self, opt: argparse.Namespace) -> str:
        """Return (and print) the options, marking values that differ from the defaults."""
        lines = ["----------------- Options ---------------"]
        for key, value in sorted(vars(opt).items()):
            default = self.parser.get_default(key)
            note = f"\t[default: {default}]" if default is not None and value != default else ""
            lines.append(f"{key:>25}: {value!s:<30}{note}")
        lines.append("----------------- End -------------------")
        text = "\n".join(lines)
        print(text)
        return text

    def save_options(self, opt: argparse.Namespace, folder: str | os.PathLike) -> None:
        """Write opt.txt (readable) and opt.json (machine-readable) into folder."""
        text = self.print_options(opt)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "opt.txt", text + "\n")
        atomic_write_text(folder / "opt.json", json.dumps(options_to_dict(opt), indent=2, sort_keys=True) + "\n")


def format_suffix(suffix: str, values: dict[str, Any]) -> str:
    """--suffix with each {option} (and {option:spec}) replaced by the option's value; anything else in braces
    (attributes, indices, unknown names) is a one-line error."""
    fix = "use option names in braces, e.g. {netG}_bs{batch_size}"
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(suffix) if field is not None]
        unknown = next((f for f in fields if not f.isidentifier() or f not in values), None)
        if unknown is not None:
            raise UserError(f"--suffix {suffix!r}: {{{unknown}}} is not an option name: {fix}")
        return suffix.format(**values)
    except (ValueError, TypeError) as exc:
        raise UserError(f"--suffix {suffix!r} cannot be formatted ({exc}): {fix}") from None


def _from_json(value: Any) -> Any:
    """An option value as saved in a checkpoint back to its parsed form ('inf' was written for infinity)."""
    return float("inf") if value == "inf" else value


def parse_gpu_ids(text: str) -> list[int]:
    """'auto' -> [0] when CUDA is available else []; '-1' -> []; '0,1' -> [0, 1]; checks they exist."""
    import torch

    text = str(text).strip()
    if text == "auto":
        return [0] if torch.cuda.is_available() else []
    try:
        ids = [int(x) for x in text.split(",") if x.strip() != ""]
    except ValueError:
        raise UserError(f"--gpu_ids {text!r} is not a list of integers: use e.g. 0 or 0,1, or -1 for CPU") from None
    ids = [i for i in ids if i >= 0]
    if ids and not torch.cuda.is_available():
        raise UserError(f"--gpu_ids {text} asks for CUDA, but no CUDA GPU is available: use --gpu_ids -1 for CPU")
    missing = [i for i in ids if i >= torch.cuda.device_count()]
    if missing:
        raise UserError(f"--gpu_ids {text}: GPU {missing[0]} does not exist "
                        f"(this machine has {torch.cuda.device_count()}); pick ids below that")
    if len(ids) > 1:
        warn(f"--gpu_ids {text}: one process trains on one GPU, so only GPU {ids[0]} is used; for several, "
             f"launch torchrun --nproc_per_node N train.py ...")
        ids = ids[:1]
    return ids


def auto_num_workers(gpu_ids: list[int]) -> int:
    """Loader workers that do not starve the compute threads: none on small CPUs when training on the CPU."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cpus = max(1, cpus // int(os.environ.get("LOCAL_WORLD_SIZE", 1)))  # torchrun: the machine's share per process
    if not gpu_ids:
        return 0 if cpus <= 4 else min(4, cpus // 4)
    return max(0, min(4, cpus - 1))
