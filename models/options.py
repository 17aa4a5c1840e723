"""The flags of the models and their networks, and the options of the commands that run a trained generator
(test.py, export.py, demo.py): ModelOptions adds them to the generic options (options/base_options.py), with what
the chosen model and dataset mode add, the speed defaults of the device, and the checkpoint's options."""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import data
from data.options import data_options
from options.base_options import BaseOptions
from options.parser import APPLY, REFUSE, RUN_ALWAYS, OptionParser, Options
from options.types import dropout_probability, nonnegative_int, port, positive_finite, positive_int, width_by_height
from util.errors import UserError, warn
from util.registry import add_options, describe, owned_options, unused_options

from . import MODELS, acceleration, checkpoint, exporting, find_model, networks


class ModelOptions(BaseOptions):
    """The options of a command that builds a model: its networks, its data, the speed path."""

    def add_flags(self, parser: OptionParser) -> None:
        model_options(parser.add_argument_group("model"))
        data_options(parser.add_argument_group("data"))
        acceleration.speed_options(parser.add_argument_group("speed (auto: the fastest safe choice for the device)"))

    def add_chosen_flags(self, parser: OptionParser, argv: list[str], defaults: dict[str, Any]) -> None:
        """The chosen model's flags, then the chosen dataset mode's."""
        known, _ = parser.parse_known_args(argv)
        find_model(known.model).modify_commandline_options(parser, self.is_train)
        parser.set_defaults(**defaults)
        known, _ = parser.parse_known_args(argv)
        data.find_dataset(known.dataset_mode).modify_commandline_options(parser, self.is_train)
        parser.set_defaults(**defaults)

    def resolve_more(self, opt: Options) -> None:
        """The discriminator's canonical name and the device's speed defaults; in training, a warning for each
        given flag of a generator or discriminator that is not the one chosen."""
        opt.netD = ",".join(networks.discriminator_names(opt.netD))
        acceleration.resolve_speed_options(opt)
        if self.is_train:
            for kind, registry, chosen in (("--netG", networks.GENERATORS, [opt.netG]),
                                           ("--netD", networks.DISCRIMINATORS,
                                            networks.discriminator_names(opt.netD))):
                for option in unused_options(registry, chosen, opt.explicit):
                    owners = [name for name, entry in registry.items() if option in owned_options(entry)]
                    warn(f"--{option} is unused: it is a flag of {kind} {' / '.join(owners)}, not of {kind} "
                         f"{getattr(opt, kind[2:])}")

    def saved_options(self, opt: Options) -> tuple[dict[str, Any] | None, Path | None]:
        return checkpoint.saved_options(opt), checkpoint.options_file(opt)


def model_options(g: argparse._ArgumentGroup) -> None:
    """The model and its networks' shapes (each network's own flags come from its registry entry)."""
    g.add_argument("--model", resume=REFUSE, default="pix2pix", choices=sorted(MODELS),
                   help="which model (a preset of the pix2pix model, or your own: models/template_model.py)")
    g.add_argument("--input_nc", resume=REFUSE, type=int, default=3, choices=[1, 3],
                   help="channels of the input image (1 gray, 3 RGB)")
    g.add_argument("--output_nc", resume=REFUSE, type=int, default=3, choices=[1, 3],
                   help="channels of the output image")
    g.add_argument("--ngf", resume=REFUSE, type=positive_int, default=64,
                   help="generator filters in the last conv layer")
    g.add_argument("--ndf", resume=REFUSE, type=positive_int, default=64,
                   help="discriminator filters in the first conv layer")
    g.add_argument("--netD", resume=REFUSE, default="basic", type=networks.discriminator_list, metavar="NAME[,NAME]",
                   help=f"discriminator: {describe(networks.DISCRIMINATORS, networks.DISCRIMINATOR_ALIASES)}; "
                        f"several joined by commas (e.g. basic,projected) judge side by side, their losses added "
                        f"and logged apart; none: no discriminator, G learns from its reconstruction losses only")
    g.add_argument("--netG", resume=REFUSE, default="resnet_9blocks", choices=list(networks.GENERATORS),
                   help=f"generator: {describe(networks.GENERATORS)}")
    g.add_argument("--noise_3d", resume=REFUSE, type=nonnegative_int, default=0, metavar="Z",
                   help="OASIS's 3D noise: Z Gaussian channels (one vector per image, at every pixel) beside the "
                        "generator's input, so that one input gives different photos (test.py --n_samples); 0: none")
    g.add_argument("--upsample", resume=REFUSE, default="transpose", choices=networks.UPSAMPLING,
                   help="how the generator doubles the resolution: transpose (upstream's transposed convolutions), "
                        "resize (nearest-neighbour resize + 3x3 convolution, free of checkerboard artifacts) or "
                        "bilinear (bilinear resize + 3x3 convolution)")
    g.add_argument("--norm", resume=REFUSE, default="instance", choices=sorted(networks.NORMS), help="normalization")
    g.add_argument("--init_type", resume=REFUSE, default="normal", choices=sorted(networks.INIT_TYPES),
                   help="weight initialization")
    g.add_argument("--init_gain", resume=REFUSE, type=positive_finite, default=0.02,
                   help="scale for normal/xavier/orthogonal")
    g.add_argument("--no_dropout", resume=REFUSE, action="store_true", help="no dropout layers in the generator")
    g.add_argument("--dropout_rate", resume=APPLY, type=dropout_probability, default=0.5,
                   help="rate of the generator's dropout layers, in training and at test time (the original "
                        "DLIM project's stochastic experiment used 0.95)")
    add_options(g, networks.GENERATORS, networks.DISCRIMINATORS)


class TestOptions(ModelOptions):
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
                            "they differ when the generator is stochastic (dropout active, --weight_noise, --use_vae, "
                            "--noise_3d); "
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


class ExportOptions(TestOptions):
    """Options of export.py; --dataroot is optional (default: the checkpoint's dataset, whose first --phase image is
    the input the exported file is checked on)."""

    reads_input_flag = False
    description = ("Export a trained generator to ONNX or TorchScript, as test.py runs it, and check the file "
                   "against PyTorch on a real input. Architecture options are read from the checkpoint.")

    def initialize(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser = super().initialize(parser)
        g = parser.add_argument_group("export")
        g.add_argument("--format", choices=sorted(exporting.FORMATS), default="onnx", run=RUN_ALWAYS,
                       help="onnx (onnxruntime, TensorRT, OpenVINO, ...) or torchscript (torch.jit.load, libtorch)")
        g.add_argument("--out", default=None, run=RUN_ALWAYS,
                       help="the file to write (default <checkpoints_dir>/<name>/<epoch>_net_G.onnx or "
                            "<epoch>_net_G.torchscript.pt)")
        g.add_argument("--dynamic", action="store_true", run=RUN_ALWAYS,
                       help="any batch size and any height and width that are multiples of the generator's size "
                            "multiple (checked at a second size); without it, the file takes the checked shape only")
        g.add_argument("--opset", type=positive_int, default=17, run=RUN_ALWAYS, help="ONNX opset version")
        g.add_argument("--train_mode_bn", action="store_true", run=RUN_ALWAYS,
                       help="batch norm normalises with the statistics of the batch it is given, as pix2pix tests "
                            "by default (test.py without --eval); default: the running statistics, as --eval. "
                            "Dropout is off either way")
        g.add_argument("--tolerance", type=positive_finite, default=1e-3, run=RUN_ALWAYS,
                       help="largest absolute difference from PyTorch's output (values in [-1, 1]) that passes")
        g.add_argument("--runs", type=positive_int, default=10, run=RUN_ALWAYS,
                       help="timed runs of PyTorch and of the exported file (their median is printed)")
        parser.set_defaults(dataroot="", batch_size=1)
        return parser

    def needs_dataroot(self, opt: argparse.Namespace) -> bool:
        return False

    def inherited(self, opt: argparse.Namespace, saved: dict) -> None:
        """Without --dataroot, the check's input comes from the dataset the checkpoint was trained on."""
        super().inherited(opt, saved)
        if "dataroot" not in opt.explicit:
            opt.dataroot = saved.get("dataroot", "")


class DemoOptions(TestOptions):
    """Options of demo.py; --dataroot is optional and defaults to the dataset the checkpoint was trained on."""

    reads_input_flag = False
    writes_files = False
    description = ("Serve a web page to paint label maps and translate them with a trained generator. "
                   "Architecture options are read from the checkpoint; --dataroot (optional, default: the "
                   "checkpoint's training data) provides the --phase images to start painting from.")

    def initialize(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser = super().initialize(parser)
        g = parser.add_argument_group("demo")
        g.add_argument("--host", default="127.0.0.1", run=RUN_ALWAYS,
                       help="address to serve on; 0.0.0.0 makes the page reachable from other machines")
        g.add_argument("--port", type=port, default=7860, run=RUN_ALWAYS, help="port to serve on")
        g.add_argument("--canvas_size", type=width_by_height, default=None, run=RUN_ALWAYS,
                       help="WIDTHxHEIGHT of the painting canvas, e.g. 512x256 (default: the size the generator was "
                            "trained at); other sizes than the generator's multiples are padded and cropped back")
        parser.set_defaults(dataroot="")
        dataroot = next(a for a in parser._actions if a.dest == "dataroot")
        dataroot.help = "dataset whose --phase images the canvas can start from (default: the checkpoint's)"
        return parser

    def inherited(self, opt: argparse.Namespace, saved: dict) -> None:
        """Without --dataroot, the canvas starts from the dataset the checkpoint was trained on."""
        super().inherited(opt, saved)
        if "dataroot" not in opt.explicit:
            opt.dataroot = saved.get("dataroot", "")

    def complete(self, opt: argparse.Namespace) -> None:
        super().complete(opt)
        if opt.canvas_size and getattr(opt, "use_vae", False) and opt.netG == "spade":
            raise UserError("--canvas_size: SPADE with --use_vae translates its training size only (its style code "
                            "fixes the grid); leave --canvas_size out")
        if "dataroot" in opt.explicit and not os.path.isdir(opt.dataroot):
            raise UserError(f"--dataroot {opt.dataroot} is not a folder: pass the dataset folder that holds "
                            f"'{opt.phase}/', or leave --dataroot out to use the checkpoint's")
