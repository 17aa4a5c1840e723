"""Export a trained generator to ONNX or TorchScript, and check the file against PyTorch before keeping it.

    python export.py --name facades_pix2pix --format onnx --dynamic
    python export.py --name facades_pix2pix --format torchscript --epoch 200 --out facades.pt

The architecture comes from the checkpoint, as in test.py. The file is written to a temporary name, run on a real
input (the first --phase image of --dataroot, default: the checkpoint's dataset; a random input when there is none)
with onnxruntime or torch.jit.load, compared with PyTorch, and renamed only when the largest difference is within
--tolerance. With --dynamic it is also checked at a second batch size and image size. Printed: the difference, the
file's size and the median latency of PyTorch and of the file on this machine's CPU.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from data import create_dataset
from models import checkpoint, exporting, networks
from models.inference import Generator
from models.options import ExportOptions
from util.errors import UserError, main_guard, warn
from util.fileio import atomic_path
from util.labels import LabelCoder
from util.outputs import OutputGuard
from util.seeding import seed_everything


@main_guard
def main(argv: list[str] | None = None) -> int:
    opt = ExportOptions().parse_with_checkpoint(argv)
    check_flags(opt)
    seed_everything(opt.seed)
    generator = Generator(opt)
    netG, found, weights = generator.model.netG, generator.found, generator.weights
    if opt.train_mode_bn and not any(isinstance(m, torch.nn.BatchNorm2d) for m in netG.modules()):
        raise UserError(f"--train_mode_bn: this generator (--netG {opt.netG}, --norm {opt.norm}) has no batch norm: "
                        f"leave out --train_mode_bn")
    if getattr(opt, "weight_noise", 0) > 0:
        warn(f"--weight_noise {opt.weight_noise} is not exported: the file's generator has the trained weights only")
    net = exporting.inference_network(netG, opt.train_mode_bn)
    inputs, source = sample_inputs(opt, net)
    write, runner, suffix = exporting.FORMATS[opt.format]
    label = checkpoint.checkpoint_label(opt)
    out = Path(opt.out) if opt.out else Path(opt.checkpoints_dir) / opt.name / f"{label}_net_G{suffix}"
    OutputGuard(tool="export.py", flag="--out", source=f"{found.path.resolve()} ({weights} weights)",
                inputs=(found.path, checkpoint.options_file(opt)), overwrite=opt.overwrite).claim([out])
    with atomic_path(out) as tmp:
        write(net, inputs, tmp, opt.dynamic, opt.opset, contract(opt, net, found, weights))
        run = runner(tmp)
        diff = compare(net, run, inputs, opt.tolerance, f"{source}, {shape_of(inputs)}")
        if opt.dynamic:
            other = other_inputs(net, inputs)
            compare(net, run, other, opt.tolerance, f"a random input of {shape_of(other)}")
        torch_s = exporting.median_seconds(lambda: forward(net, inputs), opt.runs)
        file_s = exporting.median_seconds(lambda: run(*inputs), opt.runs)
    print(f"exported {out} ({opt.format}, {out.stat().st_size / 2**20:.1f} MiB, weights {weights}, "
          f"{dynamic_what(net) if opt.dynamic else f'fixed shape {shape_of(inputs)}'})")
    print(f"checked on {source}: max abs difference from PyTorch {diff:.2e} (tolerance {opt.tolerance:g})")
    print(f"latency at {shape_of(inputs)}, CPU, {torch.get_num_threads()} threads, median of {opt.runs}: "
          f"PyTorch {torch_s * 1e3:.1f} ms, {opt.format} {file_s * 1e3:.1f} ms")
    return 0


TEST_ONLY = ("results_dir", "num_test", "n_samples", "aspect_ratio", "batch_size")  # test.py's flags export ignores


def check_flags(opt) -> None:
    """One-line errors, before anything is loaded, for flags that cannot work (together): test.py's flags that
    export.py has no use for, a --dataroot/--phase without images, an --out that is not the --format's file type, an
    --opset the exporter does not write, --train_mode_bn where test.py runs in eval mode."""
    unused = [flag for flag in TEST_ONLY if flag in opt.explicit]
    if unused:
        raise UserError(f"--{unused[0]} is test.py's: export.py writes one file and checks it on one image (and a "
                        f"batch of 2 with --dynamic); leave it out")
    if {"dataroot", "phase"} & set(opt.explicit) and not (Path(opt.dataroot) / opt.phase).is_dir():
        raise UserError(f"--dataroot {opt.dataroot} has no {opt.phase}/ folder of images to check the file on: pass "
                        f"the dataset folder (and --phase), or leave them out (default: the checkpoint's dataset)")
    suffix = exporting.file_suffix(opt.format)
    if opt.out and Path(opt.out).suffix != suffix:
        others = [f for f in exporting.FORMATS if exporting.file_suffix(f) == Path(opt.out).suffix]
        raise UserError(f"--out {opt.out}: a --format {opt.format} file ends in {suffix}: pass --out "
                        f"{Path(opt.out).with_suffix(suffix)}" + (f", or --format {others[0]}" if others else ""))
    if opt.format == "onnx":
        exporting.check_opset(opt.opset)
    elif "opset" in opt.explicit:
        raise UserError(f"--opset is the version of ONNX's operator set: leave it out with --format {opt.format}")
    if opt.train_mode_bn and networks.evaluates_at_test(opt):
        why = (f"test.py always runs --netG {opt.netG} in eval mode (running statistics)"
               if opt.netG in networks.EVAL_AT_TEST else "--eval asks for the running statistics")
        raise UserError(f"--train_mode_bn exports batch norm with each batch's own statistics, as test.py runs without "
                        f"--eval, but {why}: leave out --train_mode_bn")


def forward(net: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> np.ndarray:
    with torch.no_grad():
        return net(*inputs).numpy()


def compare(net, run, inputs: tuple[torch.Tensor, ...], tolerance: float, what: str) -> float:
    """The largest absolute difference between PyTorch's output and the exported file's; a UserError above
    tolerance (the file is then not kept)."""
    expected, got = forward(net, inputs), run(*inputs)
    if got.shape != expected.shape:
        raise UserError(f"the exported file gives an output of shape {tuple(got.shape)} on {what}, PyTorch "
                        f"{tuple(expected.shape)}: not kept; export without --dynamic, or report the network")
    diff = float(np.abs(got - expected).max())
    if not diff <= tolerance:
        raise UserError(f"the exported file differs from PyTorch by up to {diff:.2e} on {what} (--tolerance "
                        f"{tolerance:g}): not kept; try another --opset or --format")
    return diff


def sample_inputs(opt, net) -> tuple[tuple[torch.Tensor, ...], str]:
    """The input the file is checked on: the first --phase image of --dataroot as test.py reads it, padded to the
    generator's size multiple, or a random one when no dataset is at hand; SPADE --use_vae: plus a style code."""
    real_A, source = first_image(opt)
    if real_A is None:
        size = getattr(net, "input_size", None) or (opt.crop_size, opt.crop_size)
        real_A = random_input(opt, size)
        source = f"a random input (no {opt.phase} images at --dataroot '{opt.dataroot}')"
    real_A, _ = networks.fit_input(net, real_A.float())
    inputs = (real_A,)
    if isinstance(net, exporting.WithStyleCode):
        inputs += (torch.randn(len(real_A), net.z_dim, generator=torch.Generator().manual_seed(opt.seed)),)
    return inputs, source


def first_image(opt) -> tuple[torch.Tensor | None, str]:
    """The first image of the dataset at --dataroot (None when there is no such folder)."""
    root = Path(opt.dataroot) if opt.dataroot else None
    if root is None or not (root / opt.phase).is_dir():
        return None, ""
    batch = next(iter(create_dataset(opt)))
    return batch["A"][:1], f"{Path(batch['A_paths'][0]).name} of {root / opt.phase}"


def random_input(opt, size: tuple[int, int]) -> torch.Tensor:
    """A random input of (h, w): blocks of random classes (class inputs) or of random colours."""
    h, w = size
    generator = torch.Generator().manual_seed(opt.seed)
    if opt.label_nc:
        ids = torch.randint(0, opt.label_nc, (1, 1, h // 8 + 1, w // 8 + 1), generator=generator)
        ids = torch.nn.functional.interpolate(ids.float(), scale_factor=8, mode="nearest")[..., :h, :w].long()
        return LabelCoder(opt).one_hot(ids[0, 0].to(torch.uint8))[None]
    blocks = torch.rand(1, opt.input_nc, h // 8 + 1, w // 8 + 1, generator=generator) * 2 - 1
    return torch.nn.functional.interpolate(blocks, scale_factor=8, mode="bilinear")[..., :h, :w]


def other_inputs(net, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """Random inputs of another batch size (2) and, unless SPADE's style code fixes it, another image size (one
    size multiple taller, two wider)."""
    real_A = inputs[0]
    n, c, h, w = real_A.shape
    if getattr(net, "input_size", None) is None:
        m = getattr(net, "size_multiple", 1)
        h, w = h + m, w + 2 * m
    other = (torch.rand(2, c, h, w) * 2 - 1,)
    return other + (torch.randn(2, inputs[1].shape[1]),) if len(inputs) > 1 else other


def contract(opt, net, found: checkpoint.Checkpoint, weights: str) -> dict:
    """What a program needs to run the file, written into it."""
    labels = LabelCoder(opt) if opt.label_nc else None
    vae = isinstance(net, exporting.WithStyleCode)
    return {
        "format": "dlim-generator-v1", "name": opt.name, "checkpoint": checkpoint.checkpoint_label(opt),
        "progress": found.progress, "weights": weights, "netG": opt.netG, "direction": opt.direction,
        "batch_norm": "batch statistics" if opt.train_mode_bn else "running statistics", "dropout": "off",
        "inputs": {"real_A": {"layout": "NCHW float32", "channels": opt.input_nc,
                              "values": "one-hot classes (1 for the pixel's class, 0 elsewhere)" if labels else
                              "[-1, 1] (pixel / 127.5 - 1)"},
                   **({"z": {"shape": ["N", net.z_dim], "values": "standard normal"}} if vae else {})},
        "outputs": {"fake_B": {"layout": "NCHW float32", "channels": opt.output_nc, "values": "[-1, 1]"}},
        "size_multiple": getattr(net, "size_multiple", 1),
        "fixed_size": list(net.input_size) if getattr(net, "input_size", None) else None,
        "dynamic": bool(opt.dynamic),
        "labels": None if labels is None else {
            "label_nc": opt.label_nc, "dontcare": opt.dontcare, "palette": labels.palette,
            "class_colours": labels.shown[: labels.channels].tolist()},
    }


def dynamic_what(net) -> str:
    if getattr(net, "input_size", None) is not None:
        return "any batch size; the image size is fixed by the style code's grid"
    return f"any batch size, any height and width that are multiples of {getattr(net, 'size_multiple', 1)}"


def shape_of(inputs: tuple[torch.Tensor, ...]) -> str:
    return "x".join(map(str, inputs[0].shape))


if __name__ == "__main__":
    sys.exit(main())
