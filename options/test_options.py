"""Test options: where results go and how many images to translate."""
from __future__ import annotations

import argparse
import os

from models import networks
from util.errors import UserError, warn

from .base_options import BaseOptions
from .parser import RUN_ALWAYS
from .types import positive_finite, positive_int


class TestOptions(BaseOptions):
    """Options of test.py; architecture options default to the checkpoint's."""

    is_train = False
    reads_input_flag = True  # test.py --input / --output (not demo.py)
    writes_files = True  # --overwrite (not demo.py)
    description = ("Translate test images with a trained model and write an HTML page of results. Architecture "
                   "and data options are read from the checkpoint unless given here.")

    def initialize(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser = super().initialize(parser)
        g = parser.add_argument_group("testing")
        g.add_argument("--results_dir", default="./results/", run=RUN_ALWAYS,
                       help="results go to <results_dir>/<name>/")
        g.add_argument("--aspect_ratio", type=positive_finite, default=1.0, run=RUN_ALWAYS,
                       help="width/height of the saved images")
        g.add_argument("--phase", default="test", run=RUN_ALWAYS, help="dataset subfolder: train, val, test, ...")
        g.add_argument("--eval", action="store_true", run=RUN_ALWAYS,
                       help="eval mode: no dropout, batch norm uses running statistics (the pix2pix paper keeps "
                            "both active at test time, which is the default; --netG spade always tests in eval mode, "
                            "as SPADE)")
        g.add_argument("--num_test", type=positive_int, default=50, run=RUN_ALWAYS,
                       help="how many test images to translate")
        g.add_argument("--n_samples", type=positive_int, default=1, run=RUN_ALWAYS,
                       help="outputs per input, written as <id>_fake_B_<k>.png (k = 1..K) and shown side by side; "
                            "they differ when the generator is stochastic (dropout active, --weight_noise); "
                            "--seed picks the draw")
        g.add_argument("--weights", choices=("ema", "raw"), default=None, run=RUN_ALWAYS,
                       help="which generator to translate with: ema, the moving average of its weights (what a "
                            "checkpoint trained with --ema holds), or raw, the trained weights themselves (default: "
                            "ema when the checkpoint has it)")
        if self.writes_files:
            g.add_argument("--overwrite", action="store_true", run=RUN_ALWAYS,
                           help="write over files this command did not make, or that it made from another checkpoint "
                                "or weights (without it, such outputs are refused; inputs and checkpoints never are)")
        if self.reads_input_flag:
            _input_flags(g)
        parser.set_defaults(serial_batches=True, no_flip=True, display_id=-1, num_threads=0)
        return parser

    def needs_dataroot(self, opt: argparse.Namespace) -> bool:
        return getattr(opt, "input", None) is None

    def complete(self, opt: argparse.Namespace) -> None:
        opt.eval = networks.evaluates_at_test(opt)
        if "load_size" not in opt.explicit:
            opt.load_size = opt.crop_size  # no random crop at test time
        if getattr(opt, "input", None) is not None:
            complete_input(opt)
        elif getattr(opt, "output", None) is not None:
            raise UserError("--output goes with --input (a dataset's results go to --results_dir)")

    def inherits_checkpoint(self, opt: argparse.Namespace) -> bool:
        return True

    def inherited(self, opt: argparse.Namespace, saved: dict) -> None:
        """A --direction other than the checkpoint's is an error (the generator would translate the wrong way);
        another --crop_size or --preprocess is allowed, with a warning."""
        if "direction" in self.changed:
            trained = self.changed["direction"][0]
            raise UserError(f"the checkpoint translates {trained}, not {opt.direction}: pass --direction {trained} "
                            f"or leave it out (test.py takes it from the checkpoint)")
        if not saved.get("label_nc") and "palette" not in opt.explicit:
            opt.palette = "auto"  # an RGB-input generator: the palette follows this run's dataset (the demo's)
        for key in ("label_nc", "palette", "dontcare"):
            if saved.get("label_nc") and key in self.changed:
                trained = self.changed[key][0]
                raise UserError(f"--{key} {self.changed[key][1]}: the checkpoint's generator reads classes of "
                                f"--{key} {trained}; leave --{key} out (it comes from the checkpoint)")
        for key in ("crop_size", "preprocess"):
            if key in self.changed:
                warn(f"--{key} {self.changed[key][1]}: the checkpoint was trained with --{key} {self.changed[key][0]}")

    def parse_with_checkpoint(self, argv: list[str] | None = None) -> argparse.Namespace:
        """parse(): the model's options come from the checkpoint unless given on the command line."""
        return self.parse(argv)


def complete_input(opt: argparse.Namespace) -> None:
    """test.py --input: images at their own size (unless --preprocess is given), read from the --input path."""
    if "dataroot" in opt.explicit:
        raise UserError("--input and --dataroot both given: pass --input for images of your own, --dataroot for a "
                        "dataset's folders")
    if not os.path.exists(opt.input):
        raise UserError(f"--input {opt.input} does not exist: pass an image file or a folder of images")
    opt.dataroot = opt.input  # where the images come from: --palette auto reads its name
    if "preprocess" not in opt.explicit:
        opt.preprocess = "none"
    if opt.output is None:
        opt.output = os.path.join(opt.results_dir, opt.name, f"translated_{opt.epoch}")


def _input_flags(g: argparse._ArgumentGroup) -> None:
    """test.py's images of one's own: --input, --output."""
    g.add_argument("--input", default=None, run=RUN_ALWAYS,
                   help="translate this image, or every image of this folder, instead of a dataset (no --dataroot, "
                        "no A|B pairs, no ground truth): each at its own size unless --preprocess is given")
    g.add_argument("--output", default=None, run=RUN_ALWAYS,
                   help="with --input: where <name>.png go, as large as their inputs (default "
                        "<results_dir>/<name>/translated_<epoch>)")
