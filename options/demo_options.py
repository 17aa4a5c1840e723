"""Options of demo.py: test options plus where to serve the page and which label colours to paint with."""
from __future__ import annotations

import argparse
import os

from util.errors import UserError

from .parser import RUN_ALWAYS
from .test_options import TestOptions
from .types import port, width_by_height


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
