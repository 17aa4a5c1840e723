"""export.py: ONNX and TorchScript files of every generator, checked against test.py's outputs, with their contract."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from conftest import TINY, one_line_error, run_cli
from PIL import Image

from data import create_dataset
from models import exporting
from models.options import TestOptions
from util.outputs import MANIFEST

TINY_SPADE = [*TINY, "--model", "spade", "--netG", "spade", "--ngf", "8", "--label_nc", "12", "--n_layers_D", "2",
              "--num_D", "1", "--lambda_perceptual", "0", "--gpu_ids", "-1"]
EXPERIMENTS = {  # name: train.py flags (1 epoch on synth32)
    "unet": ["--netG", "unet_128", "--ngf", "4", "--ndf", "4", "--load_size", "128", "--crop_size", "128",
             "--display_id", "0", "--direction", "BtoA", "--no_dropout"],
    "resnet": TINY,
    "spade": TINY_SPADE,
    "spade_vae": [*TINY_SPADE, "--use_vae"],
    "resnet_instance": [*TINY, "--norm", "instance"],
}
OPSETS = exporting.opsets()  # what the installed torch's exporter writes


@pytest.fixture(scope="module")
def trained(synth32, tmp_path_factory) -> tuple[Path, Path]:
    ckpt = tmp_path_factory.mktemp("export")
    for name, flags in EXPERIMENTS.items():
        run_cli("train.py", "--dataroot", synth32, "--name", name, *flags, "--checkpoints_dir", ckpt,
                "--n_epochs", "1", "--n_epochs_decay", "0", "--batch_size", "2", check=True)
    return synth32, ckpt


def first_input(data: Path, ckpt: Path, name: str) -> tuple[torch.Tensor, str]:
    """The first test input as test.py reads it, and its id."""
    opt = TestOptions().parse(["--dataroot", str(data), "--name", name, "--checkpoints_dir", str(ckpt)])
    batch = next(iter(create_dataset(opt)))
    return batch["A"][:1].float(), batch["id"][0]


def as_png_values(fake_B: np.ndarray) -> np.ndarray:
    """A [-1, 1] NCHW output as the 8-bit HxWxC values test.py writes."""
    return np.round((np.clip(fake_B[0], -1, 1).transpose(1, 2, 0) + 1) / 2 * 255).astype(np.int16)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "fmt"), [("unet", "onnx"), ("unet", "torchscript"), ("resnet", "onnx"),
                                           ("resnet", "torchscript"), ("spade", "onnx"), ("spade", "torchscript")])
def test_exported_file_translates_as_test_py_does(trained, tmp_path, name, fmt):
    data, ckpt = trained
    out = tmp_path / f"g{exporting.file_suffix(fmt)}"
    proc = run_cli("export.py", "--name", name, "--checkpoints_dir", ckpt, "--format", fmt, "--out", out,
                   "--dynamic", "--runs", "2", check=True)
    assert re.search(r"max abs difference from PyTorch \S+", proc.stdout) and "MiB" in proc.stdout
    assert "latency" in proc.stdout and [p.name for p in tmp_path.glob(".*")] == [MANIFEST]  # no temporary file
    run_cli("test.py", "--dataroot", data, "--name", name, "--checkpoints_dir", ckpt, "--results_dir", tmp_path,
            "--eval", "--amp", "off", "--num_test", "1", check=True)
    real_A, image_id = first_input(data, ckpt, name)
    run = exporting.FORMATS[fmt][1](out)
    expected = np.asarray(Image.open(tmp_path / name / "test_latest" / "images" / f"{image_id}_fake_B.png"))
    assert np.abs(as_png_values(run(real_A)) - expected).max() <= 1  # rounding to 8 bits, nothing more
    # --dynamic: another batch size and another size (multiples of the generator's)
    contract = exporting.read_contract(out)
    m = contract["size_multiple"]
    assert contract["inputs"]["real_A"]["channels"] == real_A.shape[1] and contract["outputs"]["fake_B"]["channels"]
    assert run(torch.zeros(2, real_A.shape[1], 2 * m, 3 * m)).shape == (2, 3, 2 * m, 3 * m)
    if name == "spade":
        assert contract["labels"]["palette"] == "facades" and len(contract["labels"]["class_colours"]) == 12


@pytest.mark.slow
def test_train_mode_bn_matches_test_py_without_eval(trained, tmp_path):
    data, ckpt = trained
    out = tmp_path / "g.onnx"
    run_cli("export.py", "--name", "unet", "--checkpoints_dir", ckpt, "--out", out, "--train_mode_bn", "--runs", "1",
            check=True)
    run_cli("test.py", "--dataroot", data, "--name", "unet", "--checkpoints_dir", ckpt, "--results_dir", tmp_path,
            "--amp", "off", "--num_test", "1", check=True)  # pix2pix's test time: batch statistics (no dropout here)
    real_A, image_id = first_input(data, ckpt, "unet")
    expected = np.asarray(Image.open(tmp_path / "unet" / "test_latest" / "images" / f"{image_id}_fake_B.png"))
    assert np.abs(as_png_values(exporting.onnx_runner(out)(real_A)) - expected).max() <= 1
    assert exporting.read_contract(out)["batch_norm"] == "batch statistics"
    eval_out = tmp_path / "e.onnx"
    run_cli("export.py", "--name", "unet", "--checkpoints_dir", ckpt, "--out", eval_out, "--runs", "1", check=True)
    assert np.abs(exporting.onnx_runner(eval_out)(real_A) - exporting.onnx_runner(out)(real_A)).max() > 1e-3


@pytest.mark.slow
def test_spade_style_code_is_an_input_and_repeats(trained, tmp_path):
    _, ckpt = trained
    out = tmp_path / "vae.onnx"
    run_cli("export.py", "--name", "spade_vae", "--checkpoints_dir", ckpt, "--out", out, "--dynamic", "--runs", "1",
            check=True)
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["real_A", "z"]
    contract = exporting.read_contract(out)
    z_dim = contract["inputs"]["z"]["shape"][1]
    h, w = contract["fixed_size"]
    real_A = np.zeros((3, 12, h, w), np.float32)
    real_A[:, 3] = 1  # every pixel of class 3
    z = np.random.default_rng(0).standard_normal((3, z_dim)).astype(np.float32)
    z[1] = z[0]
    photos = session.run(None, {"real_A": real_A, "z": z})[0]
    assert np.allclose(photos[0], photos[1], atol=1e-6) and np.abs(photos[0] - photos[2]).max() > 1e-3


def test_disagreement_is_an_error_and_keeps_no_file(trained, tmp_path, monkeypatch, capsys):
    import export

    _, ckpt = trained
    write, runner, suffix = exporting.FORMATS["onnx"]
    monkeypatch.setitem(exporting.FORMATS, "onnx", (write, lambda p: lambda *xs: runner(p)(*xs) + 0.01, suffix))
    with pytest.raises(SystemExit) as exit_info:
        export.main(["--name", "resnet", "--checkpoints_dir", str(ckpt), "--out", str(tmp_path / "g.onnx")])
    assert exit_info.value.code == 2
    assert re.search(r"differs from PyTorch by up to 1\.00e-02 .*not kept", capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []  # nothing, not even a record of the file it did not write


@pytest.mark.slow
def test_export_mistakes_are_one_line_errors(trained, tmp_path):
    _, ckpt = trained
    line = one_line_error(run_cli("export.py", "--name", "resnet", "--checkpoints_dir", ckpt, "--format", "tflite"))
    assert "--format" in line and "onnx" in line
    line = one_line_error(run_cli("export.py", "--name", "missing", "--checkpoints_dir", ckpt))
    assert "no checkpoint" in line


@pytest.mark.parametrize("name, flags, out, expect", [
    ("resnet", ["--opset", "3"], "g.onnx", f"--opset 3: torch {torch.__version__.split('+')[0]}'s ONNX exporter "
                                           f"writes opsets {OPSETS[0]} to {OPSETS[-1]}"),
    ("resnet", ["--opset", str(OPSETS[-1] + 1)], "g.onnx", f"writes opsets {OPSETS[0]} to {OPSETS[-1]}: pass one"),
    ("resnet", ["--format", "torchscript"], "m.onnx", "file ends in .pt: pass --out {tmp}/m.pt, or --format onnx"),
    ("resnet", [], "m.pt", "a --format onnx file ends in .onnx: pass --out {tmp}/m.onnx, or --format torchscript"),
    ("resnet", ["--format", "torchscript", "--opset", "12"], "g.pt", "leave it out with --format torchscript"),
    ("spade", ["--train_mode_bn"], "g.onnx", "test.py always runs --netG spade in eval mode"),
    ("spade", ["--train_mode_bn", "--format", "torchscript"], "g.pt", "test.py always runs --netG spade in eval mode"),
    ("resnet", ["--train_mode_bn", "--eval"], "g.onnx", "--eval asks for the running statistics"),
    ("resnet_instance", ["--train_mode_bn"], "g.onnx", "(--netG resnet_6blocks, --norm instance) has no batch norm"),
    ("spade", ["--opset", "8"], "g.onnx", "--opset 8: the ONNX exporter cannot write this generator (Unsupported: "
                                          "ONNX export of operator upsample_nearest2d"),
    ("spade", ["--opset", "9"], "g.onnx", "onnxruntime cannot run the exported file (upsamplebase.h"),
    ("resnet", ["--num_test", "5"], "g.onnx", "--num_test is test.py's: export.py writes one file"),
    ("resnet", ["--batch_size", "4"], "g.onnx", "--batch_size is test.py's"),
    ("resnet", ["--dataroot", "nowhere"], "g.onnx", "--dataroot nowhere has no test/ folder of images to check"),
])
@pytest.mark.slow
def test_export_flags_that_cannot_work_are_one_line_errors_and_write_nothing(trained, tmp_path, name, flags, out,
                                                                             expect):
    _, ckpt = trained
    line = one_line_error(run_cli("export.py", "--name", name, "--checkpoints_dir", ckpt, *flags, "--out",
                                  tmp_path / out, "--runs", "1"))
    assert expect.format(tmp=tmp_path) in line
    assert list(tmp_path.iterdir()) == []  # nothing, not even a record of the file it did not write


def test_the_highest_opset_of_the_exporter_is_accepted(trained, tmp_path):
    _, ckpt = trained
    out = tmp_path / "g.onnx"
    run_cli("export.py", "--name", "resnet", "--checkpoints_dir", ckpt, "--opset", OPSETS[-1], "--out", out, "--runs",
            "1", check=True)
    assert onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"]).get_inputs()[0].name == "real_A"
