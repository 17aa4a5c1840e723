"""Options of export.py: test options (the checkpoint's architecture) plus the file format and its checks."""
from __future__ import annotations

import argparse

from models import exporting

from .parser import RUN_ALWAYS
from .test_options import TestOptions
from .types import positive_finite, positive_int


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
