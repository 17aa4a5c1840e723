"""A trained generator as a file that runs without this repository: ONNX or TorchScript, with its contract inside.

The exported network is the one test.py runs, in float32 on the CPU, in eval mode: dropout off and batch norm with
its running statistics, or with --train_mode_bn the statistics of the batch it is given (what pix2pix does at test
time without --eval). SPADE's --use_vae generator takes its style code as a second input, `z` (N x z_dim, drawn
from a standard normal by the caller), instead of drawing it inside the graph, so that a run can be repeated.

The contract (the input's channels and value range, the size multiple, the palette of class inputs) is written into
the file: ONNX metadata_props, or the TorchScript archive's extra file `dlim.json`; `read_contract` reads it back.
"""
from __future__ import annotations

import copy
import json
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from util.errors import UserError

from . import networks

CONTRACT_KEY = "dlim.json"


class BatchStatisticsNorm(nn.Module):
    """A BatchNorm2d that normalises with the statistics of the batch it is given (and updates nothing)."""

    def __init__(self, bn: nn.BatchNorm2d):
        super().__init__()
        self.weight, self.bias, self.eps = bn.weight, bn.bias, bn.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, None, None, self.weight, self.bias, training=True, eps=self.eps)


class WithStyleCode(nn.Module):
    """A generator with its random code as an input, SPADE's --use_vae style code or --noise_3d's vectors:
    forward(real_A, z); its size_multiple, input_size (fixed by a style code's grid, else None) and z_dim are the
    generator's."""

    def __init__(self, netG: nn.Module):
        super().__init__()
        self.netG = netG

    size_multiple = property(lambda self: self.netG.size_multiple)
    input_size = property(lambda self: getattr(self.netG, "input_size", None))
    z_dim = property(lambda self: self.netG.z_dim)

    def forward(self, real_A: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.netG(real_A, z=z)


def inference_network(netG: nn.Module, train_mode_bn: bool) -> nn.Module:
    """A float32 CPU copy of the generator as test.py runs it, with torch's own convolution kernels (the
    matrix-product form of small inputs branches on the input's size, which a graph cannot) and spectral norm's
    weights fixed (eval mode does no power iteration)."""
    net = copy.deepcopy(netG).float().cpu().eval()
    networks.use_matrix_products(net, False)
    for module in net.modules():  # spectral norm: the normalised weight of eval mode, as a constant
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    if train_mode_bn:
        for parent in list(net.modules()):
            for name, child in parent.named_children():
                if isinstance(child, nn.BatchNorm2d):
                    setattr(parent, name, BatchStatisticsNorm(child))
    net.requires_grad_(False)
    noisy = getattr(net, "encoder", None) is not None or isinstance(net, networks.NoiseInput)
    return WithStyleCode(net).eval() if noisy else net


def input_names(net: nn.Module) -> list[str]:
    return ["real_A", "z"] if isinstance(net, WithStyleCode) else ["real_A"]


def opsets() -> range:
    """The opset versions that torch's TorchScript-based ONNX exporter (export_onnx's) writes."""
    from torch.onnx import _constants

    return range(_constants.ONNX_MIN_OPSET, _constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET + 1)


def check_opset(opset: int) -> None:
    """A UserError for an --opset the installed exporter does not write."""
    supported = opsets()
    if opset not in supported:
        raise UserError(f"--opset {opset}: torch {torch.__version__.split('+')[0]}'s ONNX exporter writes opsets "
                        f"{supported[0]} to {supported[-1]}: pass one of them")


def _first_line(exc: BaseException, after: str | None = None) -> str:
    """The first line of an error's message (only its part after the last `after`), at most 300 characters."""
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return (line.rsplit(after, 1)[-1] if after else line)[:300]


def export_onnx(net: nn.Module, inputs: tuple[torch.Tensor, ...], path: Path, dynamic: bool, opset: int,
                contract: dict[str, Any]) -> None:
    """Write net as ONNX (the TorchScript-based exporter: it keeps H and W symbolic through every convolution),
    with the contract as metadata."""
    import onnx

    names = input_names(net)
    fixed = getattr(net, "input_size", None) is not None  # SPADE's style code fixes the grid
    image = {0: "batch"} if fixed else {0: "batch", 2: "height", 3: "width"}
    axes = {"real_A": image, "fake_B": image, "z": {0: "batch"}}
    axes = {k: v for k, v in axes.items() if k in [*names, "fake_B"]} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation notices of the exporter, tracer warnings on shape arithmetic
        try:
            torch.onnx.export(net, inputs, str(path), input_names=names, output_names=["fake_B"],
                              opset_version=opset, dynamic_axes=axes, dynamo=False, do_constant_folding=True)
        except torch.onnx.errors.OnnxExporterError as exc:  # an operator the opset cannot express
            raise UserError(f"--opset {opset}: the ONNX exporter cannot write this generator ({_first_line(exc)}): "
                            f"pass a higher --opset, or --format torchscript") from None
    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = CONTRACT_KEY, json.dumps(contract)
    onnx.save(model, str(path))


def export_torchscript(net: nn.Module, inputs: tuple[torch.Tensor, ...], path: Path, dynamic: bool, opset: int,
                       contract: dict[str, Any]) -> None:
    """Write net as a traced TorchScript archive with the contract as the extra file dlim.json."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(net, inputs, check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={CONTRACT_KEY: json.dumps(contract)})


def onnx_runner(path: Path) -> Callable[..., np.ndarray]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4  # fatal only: a file it cannot run is reported below, in one line
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's errors (Fail, NotImplemented, InvalidGraph...) share no other base
        raise UserError(f"onnxruntime cannot run the exported file ({_first_line(exc, ' : ')}): not kept; pass "
                        f"another --opset, or --format torchscript") from None  # its message's last part says why
    names = [i.name for i in session.get_inputs()]
    return lambda *xs: session.run(None, {n: x.numpy() for n, x in zip(names, xs)})[0]


def torchscript_runner(path: Path) -> Callable[..., np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch >= 2.9 marks TorchScript deprecated
        module = torch.jit.load(str(path), map_location="cpu")

    def run(*xs: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return module(*xs).numpy()
    return run


FORMATS = {  # --format: (writer, runner, ending of the default file name)
    "onnx": (export_onnx, onnx_runner, ".onnx"),
    "torchscript": (export_torchscript, torchscript_runner, ".torchscript.pt"),
}


def file_suffix(fmt: str) -> str:
    """The extension a --format's file must have (read_contract tells the formats apart by it): .onnx, or .pt as
    torch.jit.save's documentation names TorchScript files."""
    return Path("file" + FORMATS[fmt][2]).suffix


def read_contract(path: str | Path) -> dict[str, Any]:
    """The contract written into an exported file (ONNX or TorchScript)."""
    path = Path(path)
    if path.suffix == ".onnx":
        import onnx

        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        return json.loads(props[CONTRACT_KEY])
    files = {CONTRACT_KEY: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.load(str(path), map_location="cpu", _extra_files=files)
    return json.loads(files[CONTRACT_KEY])


def median_seconds(run: Callable[[], Any], runs: int) -> float:
    """Median wall time of `runs` calls after one warm-up call."""
    run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times))
