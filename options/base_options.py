"""Options shared by training and testing, with upstream pix2pix's names and defaults, and their parsing.

parse() is the one place where options are parsed, resolved (the device, the name's suffix, the checkpoint's
options for what is not given again) and then frozen. This layer knows argparse and util only: the flags of the
models, networks, data and training are declared where those live (models/options.py, data/options.py,
training/options.py), which subclass BaseOptions through its hooks (add_flags, add_chosen_flags, resolve_more,
saved_options).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from util import distributed, labels
from util.errors import HelpFormatter, UserError, warn
from util.fileio import atomic_write_text
from util.util import options_to_dict

from .parser import (
    APPLY,
    REFUSE,
    RUN_ALWAYS,
    RUN_AT_TEST,
    OptionParser,
    Options,
    auto_num_workers,
    format_suffix,
    from_json,
    parse_gpu_ids,
)
from .types import nonnegative_int, positive_finite, positive_int, seed

_GIVEN = object()  # marks options that the user did not give on the command line


class BaseOptions:
    """Defines, parses, prints and saves the options used by train.py and test.py."""

    is_train = False
    description = ""

    def initialize(self, parser: OptionParser) -> OptionParser:
        """Add the options common to training and testing, and those of the layers above (add_flags)."""
        _experiment_flags(parser.add_argument_group("experiment"))
        self.add_flags(parser)
        _label_flags(parser.add_argument_group("class inputs"))
        _display_flags(parser.add_argument_group("display"))
        return parser

    def add_flags(self, parser: OptionParser) -> None:
        """The flags of the model, the data and the run (subclasses, in the layers that own them)."""

    def add_chosen_flags(self, parser: OptionParser, argv: list[str], defaults: dict[str, Any]) -> None:
        """The flags of what the command line chooses (a model, a dataset mode), with `defaults` winning over
        theirs (subclasses)."""

    def resolve_more(self, opt: Options) -> None:
        """What follows from the options in the layers above (subclasses): the device's speed defaults, say."""

    def saved_options(self, opt: Options) -> tuple[dict[str, Any] | None, Path | None]:
        """The options of the checkpoint opt names, and the file they come from ((None, None): none)."""
        return None, None

    def _parser(self) -> OptionParser:
        parser = OptionParser(
            prog=Path(sys.argv[0]).name,
            formatter_class=HelpFormatter,
            description=self.description,
            add_help=False,  # added after the model and dataset flags, so that --help lists them too
        )
        return self.initialize(parser)

    def gather_options(self, argv: list[str], defaults: dict[str, Any]) -> tuple[Options, set[str]]:
        """Parse argv, letting the chosen model and dataset add their own flags; `defaults` win over theirs."""
        parser = self._parser()
        parser.set_defaults(**defaults)
        self.add_chosen_flags(parser, argv, defaults)
        parser.add_argument("-h", "--help", action="help", help="show this message and exit")
        opt = parser.parse_args(argv, namespace=Options())
        if opt.dataroot is None and self.needs_dataroot(opt):  # checked here, so that --help works without it
            parser.error("the following arguments are required: --dataroot")
        given = parser.parse_args(argv, namespace=argparse.Namespace(**{k: _GIVEN for k in opt.values()}))
        self.parser = parser
        return opt, {k for k, v in vars(given).items() if v is not _GIVEN}

    def parse(self, argv: list[str] | None = None, defaults: dict[str, Any] | None = None) -> Options:
        """Parse, resolve, check and freeze the options; `defaults` override the parser's defaults (presets)."""
        argv = sys.argv[1:] if argv is None else list(argv)
        opt, explicit = self.gather_options(argv, defaults or {})
        self.changed: dict[str, tuple[Any, Any]] = {}  # given again with another value than the checkpoint's
        self.resolve(opt, explicit)
        if self.inherits_checkpoint(opt):
            opt = self.inherit_from_checkpoint(opt, argv, defaults)
        self.complete(opt)
        _resolve_labels(opt)
        self.check(opt)
        self.opt = opt
        return opt.freeze()

    def resolve(self, opt: Options, explicit: set[str]) -> None:
        """What the run will use: the device (under torchrun, this process's GPU), its loader workers, what the
        layers above resolve (resolve_more) and the suffixed experiment name."""
        opt.is_train = self.is_train
        opt.explicit = sorted(explicit)
        world = distributed.world_from_env()
        opt.gpu_ids = parse_gpu_ids(opt.gpu_ids, world.local_rank if world.distributed else None)
        if getattr(opt, "num_threads", 0) < 0:
            opt.num_threads = auto_num_workers(opt.gpu_ids)
        self.resolve_more(opt)
        if opt.suffix:
            opt.name = f"{opt.name}_{format_suffix(opt.suffix, opt.values())}"

    def needs_dataroot(self, opt: Options) -> bool:
        """Whether this run reads a dataset folder (test.py --input does not)."""
        return True

    def inherits_checkpoint(self, opt: Options) -> bool:
        """Whether this run takes its experiment options from a checkpoint (test.py; train.py when resuming)."""
        return False

    def inherit_from_checkpoint(self, opt: Options, argv: list[str], defaults: dict[str, Any] | None) -> Options:
        """Take the options of the checkpoint that opt names for every option not given on the command line
        (run options excepted); record in self.changed those given with another value than the checkpoint's."""
        saved, source = self.saved_options(opt)
        if saved is None:
            return opt
        saved = {**self.parser.absent_values(), **saved}  # flags added since it was trained: as they were then
        if "model" not in opt.explicit and saved.get("model", opt.model) != opt.model:
            model = _saved_value(self.parser, "model", saved, source)
            opt, explicit = self.gather_options(argv, {**(defaults or {}), "model": model})
            self.resolve(opt, explicit)
        flags = {action.dest for action in self.parser._actions}  # values without a flag are set by the run too
        run = self.parser.run_options(self.is_train) | (set(opt.values()) - flags)
        if source.name == "opt.json":  # written by hand or a script: say what it holds that no option is
            unknown = sorted(set(saved) - flags - set(opt.values()))
            if unknown:
                warn(f"{source}: {', '.join(unknown[:5])} {'is' if len(unknown) == 1 else 'are'} no option of "
                     f"{self.parser.prog}, ignored (a misspelt name?)")
        given = options_to_dict(opt)
        for key in opt.values():
            if key not in saved or key in run:
                continue
            if key not in opt.explicit:
                if not _derived(self.parser, key, saved):
                    setattr(opt, key, _saved_value(self.parser, key, saved, source))
            elif saved[key] != given[key]:
                self.changed[key] = (saved[key], getattr(opt, key))
        self.inherited(opt, saved)
        return opt

    def inherited(self, opt: Options, saved: dict[str, Any]) -> None:
        """Resolve what follows from the checkpoint's options (subclasses)."""

    def complete(self, opt: Options) -> None:
        """Fill in options that follow from others (subclasses)."""

    def check(self, opt: Options) -> None:
        """Reject option combinations that cannot work, with a message that says what to change."""
        name = Path(opt.name)
        if not opt.name.strip() or name.is_absolute() or ".." in name.parts or not name.parts:
            raise UserError(f"--name {opt.name!r} must name a folder inside --checkpoints_dir (not empty, not an "
                            f"absolute path, no '..'): pass a plain experiment name such as facades_pix2pix")
        if opt.preprocess in ("resize_and_crop", "scale_width_and_crop") and opt.crop_size > opt.load_size:
            raise UserError(f"--crop_size {opt.crop_size} is larger than --load_size {opt.load_size}: "
                            f"pass --load_size >= crop_size or a smaller --crop_size")

    def print_options(self, opt: Options) -> str:
        """Return (and print) the options, marking values that differ from the defaults."""
        lines = ["----------------- Options ---------------"]
        for key, value in sorted(opt.values().items()):
            default = self.parser.get_default(key)
            note = f"\t[default: {default}]" if default is not None and value != default else ""
            lines.append(f"{key:>25}: {value!s:<30}{note}")
        lines.append("----------------- End -------------------")
        text = "\n".join(lines)
        print(text)
        return text

    def save_options(self, opt: Options, folder: str | os.PathLike) -> None:
        """Write opt.txt (readable) and opt.json (machine-readable) into folder."""
        text = self.print_options(opt)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "opt.txt", text + "\n")
        atomic_write_text(folder / "opt.json", json.dumps(options_to_dict(opt), indent=2, sort_keys=True) + "\n")


def _saved_value(parser: OptionParser, key: str, saved: dict[str, Any], source: Path) -> Any:
    """A checkpoint's (or a hand-written opt.json's) value of option `key`, checked as the command line's value
    would be: a one-line error naming the file instead of a traceback later. Values a run derived (--input_nc from
    --label_nc) are not command-line values: only those it was given, or all of a file without that list, are."""
    value = from_json(saved[key])
    action = next((a for a in parser._actions if a.dest == key), None)
    if action is None or ("explicit" in saved and key not in saved["explicit"]):
        return value
    fix = f"fix or delete it in {source}"
    if value is None:  # JSON's null: only where the option itself may be unset
        if parser.get_default(key) is None:
            return value
        raise UserError(f"{source}: {key} is null, not a valid --{key}: {fix}")
    if action.nargs == 0:  # a switch
        if not isinstance(value, bool):
            raise UserError(f"{source}: {key} is {value!r}, not true or false: {fix}")
        return value
    if action.type is not None and not isinstance(value, bool):
        try:
            value = action.type(str(value))
        except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
            raise UserError(f"{source}: {key} {value!r} is not a valid --{key} ({exc}): {fix}") from None
    if action.choices is not None and value not in action.choices:
        raise UserError(f"{source}: {key} is {value!r}, not one of {', '.join(map(str, action.choices))}: {fix}")
    return value

def _derived(parser: OptionParser, key: str, saved: dict[str, Any]) -> bool:
    """Whether the checkpoint's value of `key` was derived from other options rather than given (a flag whose
    default is None, such as --lr_G from --lr): it is derived again from this run's values, so that a new --lr
    reaches --lr_G too. Checkpoints without the list of given flags keep their values."""
    return "explicit" in saved and key not in saved["explicit"] and parser.get_default(key) is None

def _experiment_flags(g: argparse._ArgumentGroup) -> None:
    """experiment: where the data and the checkpoints are, on which device, with which seed."""
    g.add_argument("--dataroot", run=RUN_ALWAYS,
                   help="(required) dataset folder with train/ val/ test/ subfolders, e.g. ./datasets/facades")
    g.add_argument("--name", default="experiment_name", run=RUN_ALWAYS,
                   help="experiment name: checkpoints go to <checkpoints_dir>/<name>")
    g.add_argument("--gpu_ids", default="auto", run=RUN_ALWAYS,
                   help="GPU ids, e.g. 0  0,1,2  or -1 for CPU; 'auto' uses GPU 0 when CUDA is available")
    g.add_argument("--checkpoints_dir", default="./checkpoints", run=RUN_ALWAYS, help="where experiments are saved")
    g.add_argument("--seed", resume=REFUSE, type=seed, default=0, run=RUN_AT_TEST,
                   help="random seed for weights, data order, augmentation and dropout")


def _label_flags(g: argparse._ArgumentGroup) -> None:
    """class inputs (util/labels.py): label maps read as one channel per class, as SPADE and pix2pixHD do."""
    g.add_argument("--label_nc", resume=REFUSE, type=nonnegative_int, default=0,
                   help="classes of the label maps (the input side): each becomes an input channel (one-hot) of G "
                        "and D; 0 reads the label map as an RGB picture, as pix2pix does (facades 12, cityscapes "
                        "colours 20, cityscapes ids 35)")
    g.add_argument("--palette", resume=REFUSE, default="auto", choices=labels.PALETTE_CHOICES,
                   help="how the label maps name classes: the colours of a dataset's palette (nearest colour wins, "
                        "for JPEG edges), or ids (grey levels of 8 or 16 bits, or a palette image's indices, that are "
                        "class ids, e.g. Cityscapes' *_labelIds.png; stored losslessly, e.g. as PNG); auto: "
                        "cityscapes when the dataset's path says so, else facades")
    g.add_argument("--dontcare", resume=REFUSE, action="store_true",
                   help="pixels of no class (regions of 16x16 px or more farther than --label_threshold from every "
                        "palette colour, an id of --label_nc or more, or transparent) form one more class, with its "
                        "own input channel, instead of an error")
    g.add_argument("--label_threshold", resume=APPLY, type=positive_finite, default=None,
                   help="RGB distance beyond which a label-map colour is no palette class where it fills a region of "
                        "16x16 px or more (smaller specks are JPEG's smeared edges and take the nearest class); "
                        "default: the palette's spacing, the median distance between neighbouring palette colours "
                        "(facades 79, cityscapes 49)")


def _resolve_labels(opt: Options) -> None:
    """--palette auto becomes a palette's name; with --label_nc the network's input channels are the classes'."""
    opt.palette = labels.resolve_palette(opt.palette, opt.dataroot)
    if not opt.label_nc:
        return
    channels = opt.label_nc + int(opt.dontcare)
    if "input_nc" in opt.explicit and opt.input_nc != channels:
        raise UserError(f"--input_nc {opt.input_nc} with --label_nc {opt.label_nc}: the input channels are the "
                        f"classes' ({channels}); leave --input_nc out")
    if channels > 256:
        raise UserError(f"--label_nc {opt.label_nc}: class ids are kept in one byte, at most 256 classes")
    opt.input_nc = channels


def _display_flags(g: argparse._ArgumentGroup) -> None:
    """display: which checkpoint, and what to show."""
    g.add_argument("--display_winsize", type=positive_int, default=256, run=RUN_ALWAYS,
                   help="display size in visdom and HTML")
    g.add_argument("--epoch", default="latest", run=RUN_ALWAYS,
                   help="which checkpoint to load: latest or an epoch number")
    g.add_argument("--load_iter", type=nonnegative_int, default=0, run=RUN_ALWAYS,
                   help="if > 0, load the checkpoint saved at this iteration (iter_<load_iter>)")
    g.add_argument("--verbose", action="store_true", run=RUN_ALWAYS, help="print network architectures")
    g.add_argument("--suffix", default="", run=RUN_ALWAYS,
                   help="appended to --name, formatted with the options, e.g. {model}_{netG}_size{load_size}")
