"""Upstream pix2pix's pretrained models: installed by scripts/download_pix2pix_model.sh (here from a local file of
upstream's format, as there is no network), then used by test.py without architecture flags."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, make_synthetic, one_line_error, run_cli
from PIL import Image

from models.networks import define_G

SCRIPT = REPO / "scripts" / "download_pix2pix_model.sh"
NAMES = ["facades_label2photo", "sat2map", "map2sat", "edges2shoes", "edges2handbags", "day2night"]
NO_NETWORK = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}  # a closed port: fails at once


def install(*args: str | Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the download script as a user would, with the interpreter of these tests checking the file."""
    full_env = {k: v for k, v in os.environ.items() if k != "PIX2PIX_MODELS_URL"}
    full_env.update(PYTHON=sys.executable, **(env or {}))
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=full_env)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    """A folder laid out as upstream's server: <NAME>.pth, each a plain state dict of a unet_256 generator with
    batch norm, saved as PyTorch before 0.4.1 saved them (the legacy format, no num_batches_tracked), the age of
    upstream's files."""
    folder = tmp_path_factory.mktemp("mirror")
    torch.manual_seed(0)
    net = define_G(Namespace(netG="unet_256", input_nc=3, output_nc=3, ngf=64, norm="batch", no_dropout=False,
                             init_type="normal", init_gain=0.02))
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, folder / "facades_label2photo.pth", _use_new_zipfile_serialization=False)
    (folder / "sat2map.pth").symlink_to(folder / "facades_label2photo.pth")
    return folder


@pytest.fixture(scope="module")
def synth256(tmp_path_factory) -> Path:
    """One synthetic facades-like A|B pair of 256x256 halves (photo | label map) per split."""
    return make_synthetic(tmp_path_factory.mktemp("synth256"), 256, n_train=1, n_val=1, n_test=1)


@pytest.mark.slow
def test_an_installed_model_translates_without_architecture_flags(mirror, synth256, tmp_path):
    ckpt = tmp_path / "checkpoints"
    proc = install("facades_label2photo", ckpt, "--from", f"file://{mirror / 'facades_label2photo.pth'}")
    assert proc.returncode == 0, proc.stderr
    folder = ckpt / "facades_label2photo_pretrained"
    # no temporary files; the record of what the script wrote
    assert sorted(p.name for p in folder.iterdir()) == [".dlim-outputs.json", "latest_net_G.pth", "opt.json"]
    saved = json.loads((folder / "opt.json").read_text())
    assert {k: saved[k] for k in ("netG", "norm", "direction", "ngf")} == {
        "netG": "unet_256", "norm": "batch", "direction": "BtoA", "ngf": 64}
    assert f"--name facades_label2photo_pretrained --checkpoints_dir {ckpt}" in proc.stdout  # the command to run

    run_cli(REPO / "test.py", "--dataroot", synth256, "--name", "facades_label2photo_pretrained",
            "--checkpoints_dir", ckpt, cwd=tmp_path, check=True)
    run = tmp_path / "results" / "facades_label2photo_pretrained" / "test_latest"
    assert json.loads((run / "checkpoint.json").read_text())["options"]["netG"] == "unet_256"
    [test_pair] = (synth256 / "test").iterdir()
    fake = np.asarray(Image.open(run / "images" / f"{test_pair.stem}_fake_B.png"))
    assert fake.shape == (256, 256, 3)
    # BtoA came from opt.json (the default is AtoB): the input is the pair's right half, the label map
    pair = np.asarray(Image.open(test_pair), dtype=np.float64)
    real_A = np.asarray(Image.open(run / "images" / f"{test_pair.stem}_real_A.png"), dtype=np.float64)
    assert np.abs(real_A - pair[:, 256:]).mean() < 3 < np.abs(real_A - pair[:, :256]).mean()

    line = one_line_error(run_cli(REPO / "test.py", "--dataroot", synth256, "--name", "facades_label2photo_pretrained",
                                  "--checkpoints_dir", ckpt, "--netG", "resnet_9blocks", cwd=tmp_path))
    assert "latest_net_G.pth was trained with --netG unet_256" in line  # a wrong flag is caught before loading

    again = install("facades_label2photo", ckpt, "--from", "file:///nonexistent")
    assert again.returncode == 0 and "already exists" in again.stdout  # an installed model is kept


def test_a_mirror_installs_each_model_with_its_direction(mirror, tmp_path):
    proc = install("sat2map", tmp_path, env={"PIX2PIX_MODELS_URL": f"file://{mirror}"})
    assert proc.returncode == 0, proc.stderr
    saved = json.loads((tmp_path / "sat2map_pretrained" / "opt.json").read_text())
    assert saved["direction"] == "AtoB" and saved["netG"] == "unet_256"


def test_an_unknown_model_name_lists_the_valid_ones(tmp_path):
    line = one_line_error(install("facades", tmp_path))
    assert "'facades'" in line and all(name in line for name in NAMES)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("source", ["file:///nonexistent/facades_label2photo.pth", "upstream"])
def test_a_failed_download_is_one_line_and_leaves_nothing(source, tmp_path):
    args = [] if source == "upstream" else ["--from", source]
    line = one_line_error(install("facades_label2photo", tmp_path / "checkpoints", *args, env=NO_NETWORK))
    assert "facades_label2photo" in line
    assert not list((tmp_path / "checkpoints").rglob("*"))


def test_a_file_that_is_no_state_dict_is_refused(tmp_path):
    page = tmp_path / "facades_label2photo.pth"
    page.write_text("<html>404 Not Found</html>\n")  # what a broken mirror may serve
    line = one_line_error(install("facades_label2photo", tmp_path / "checkpoints", "--from", page))
    assert "refusing" in line and str(page) in line
    assert not list((tmp_path / "checkpoints").rglob("*"))


class Payload:
    """Unpickling this runs a shell command: what a planted weights file would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_file_that_would_run_code_is_refused_unrun(tmp_path):
    marker, planted = tmp_path / "pwned", tmp_path / "planted.pth"
    torch.save({"model.model.0.weight": Payload(marker)}, planted)
    line = one_line_error(install("edges2shoes", tmp_path / "checkpoints", "--from", planted))
    assert "refusing" in line
    assert not marker.exists() and not list((tmp_path / "checkpoints").rglob("*"))


def shapes_only(netG: str, **options) -> dict[str, torch.Tensor]:
    """The state dict of a DLIM generator with 64 filters (upstream's ngf) as tensors of the right shapes that hold
    one stored number each (a file of a few kB)."""
    opt = Namespace(**{"netG": netG, "input_nc": 3, "output_nc": 3, "ngf": 64, "norm": "batch", "no_dropout": False,
                       "init_type": "normal", "init_gain": 0.02, **options})
    with torch.device("meta"):
        state = define_G(opt).state_dict()
    return {k: torch.zeros((), dtype=v.dtype).expand(v.shape) for k, v in state.items()}


@pytest.mark.parametrize("netG, options, expect", [
    ("resnet_9blocks", {}, "it lacks 69 of upstream's 69 tensors, e.g. model.model.0.weight"),
    ("unet_128", {}, "it lacks 15 of upstream's 69 tensors"),
    ("unet_256", {"norm": "instance"}, "it lacks 52 of upstream's 69 tensors"),
    ("unet_256", {"input_nc": 1}, "model.model.0.weight is [64, 1, 4, 4] where upstream's is [64, 3, 4, 4]"),
])
def test_a_state_dict_of_another_architecture_is_refused(tmp_path, netG, options, expect):
    """opt.json will say unet_256 with batch norm: weights of another network are not installed under that name."""
    other = tmp_path / "other.pth"
    torch.save(shapes_only(netG, **options), other)
    line = one_line_error(install("facades_label2photo", tmp_path / "checkpoints", "--from", other))
    assert f"refusing {other}: it is not a unet_256 generator with batch norm and 64 filters ({expect}" in line
    assert not list((tmp_path / "checkpoints").rglob("*"))


def test_upstreams_layout_from_a_data_parallel_net_is_installed(tmp_path):
    weights = tmp_path / "dp.pth"
    torch.save({f"module.{k}": v for k, v in shapes_only("unet_256").items() if "num_batches" not in k}, weights)
    proc = install("facades_label2photo", tmp_path / "checkpoints", "--from", weights)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "checkpoints" / "facades_label2photo_pretrained" / "latest_net_G.pth").is_file()


def test_the_install_never_writes_over_an_opt_json_it_did_not_make(mirror, tmp_path):
    folder = tmp_path / "ck" / "facades_label2photo_pretrained"
    folder.mkdir(parents=True)
    (folder / "opt.json").write_text('{"netG": "resnet_9blocks"}')  # another run's options
    proc = install("facades_label2photo", tmp_path / "ck", env={"PIX2PIX_MODELS_URL": mirror.as_uri()})
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("download_pix2pix_model.sh: error: CHECKPOINTS_DIR would write over") \
        and "opt.json, which download_pix2pix_model.sh did not write" in proc.stderr and "--overwrite" in proc.stderr
    assert (folder / "opt.json").read_text() == '{"netG": "resnet_9blocks"}'
    assert sorted(p.name for p in folder.iterdir()) == ["opt.json"]  # nothing else was left
    proc = install("facades_label2photo", tmp_path / "ck", "--overwrite", env={"PIX2PIX_MODELS_URL": mirror.as_uri()})
    assert proc.returncode == 0, proc.stderr
    assert '"netG": "unet_256"' in (folder / "opt.json").read_text()


def test_the_install_refuses_a_folder_that_holds_a_train_py_run(mirror, tmp_path):
    folder = tmp_path / "ck" / "facades_label2photo_pretrained"
    folder.mkdir(parents=True)
    torch.save({"format": "dlim-checkpoint-v2"}, folder / "latest_checkpoint.pth")
    proc = install("facades_label2photo", tmp_path / "ck", "--overwrite", env={"PIX2PIX_MODELS_URL": mirror.as_uri()})
    assert proc.returncode == 2 and "holds a train.py run (latest_checkpoint.pth): one folder holds one run" \
        in proc.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["latest_checkpoint.pth"]
