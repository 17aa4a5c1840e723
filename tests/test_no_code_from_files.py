"""No file runs code, whoever loads it: a pickled payload planted in a checkpoint, a weights file or a cache is
refused on every route a user has (the command-line tools, the Python API, torch-fidelity after `import metrics`),
and the marker file it would create never appears. (test.py and train.py on checkpoints, upstream weights,
evaluate.py's caches and --inception_weights, and the download script are covered beside their features:
test_reliability.py, test_pretrained.py.)"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import OFFLINE, REPO, TINY, one_line_error, run_cli
from PIL import Image


class Payload:
    """Unpickling this runs a shell command: what a planted file would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def folders(tmp_path) -> tuple[Path, Path]:
    """Four generated and four real 32x32 images."""
    for folder in ("fake", "real"):
        (tmp_path / folder).mkdir()
        for i in range(4):
            Image.fromarray(np.full((32, 32, 3), 40 * i + (folder == "fake"), np.uint8)).save(
                tmp_path / folder / f"{i}.png")
    return tmp_path / "fake", tmp_path / "real"


def planted_checkpoint(tiny_checkpoint: Path, folder: Path, marker: Path) -> Path:
    """A copy of the tiny experiment whose latest checkpoint carries a payload."""
    state = torch.load(tiny_checkpoint / "tiny" / "latest_checkpoint.pth", weights_only=True)
    state["extra"] = {"fake_pool": Payload(marker)}
    (folder / "tiny").mkdir(parents=True)
    torch.save(state, folder / "tiny" / "latest_checkpoint.pth")
    return folder


def python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a user's Python script from the repository root."""
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_export_py_refuses_a_planted_checkpoint(tiny_checkpoint, tmp_path):
    marker = tmp_path / "pwned"
    ckpt = planted_checkpoint(tiny_checkpoint, tmp_path / "ckpt", marker)
    line = one_line_error(run_cli("export.py", "--name", "tiny", "--checkpoints_dir", ckpt, "--out",
                                  tmp_path / "g.onnx"))
    assert "refusing to load" in line and not marker.exists() and not (tmp_path / "g.onnx").exists()


def test_the_python_translator_refuses_a_planted_checkpoint(tiny_checkpoint, synth32, tmp_path):
    marker = tmp_path / "pwned"
    ckpt = planted_checkpoint(tiny_checkpoint, tmp_path / "ckpt", marker)
    proc = python("from models.inference import Generator\n"
                  "from models.options import TestOptions\n"
                  f"Generator(TestOptions().parse(['--name', 'tiny', '--checkpoints_dir', {str(ckpt)!r}, "
                  f"'--dataroot', {str(synth32)!r}, '--gpu_ids', '-1']))\n")
    assert proc.returncode != 0 and "refusing to load" in proc.stderr and not marker.exists()


@pytest.mark.slow
def test_the_metrics_api_refuses_a_planted_feature_cache(folders, tmp_path):
    marker = tmp_path / "pwned"
    fake, real = folders
    cache = str(tmp_path / "c")
    script = ("from metrics import calculate_metrics\n"
              f"print(calculate_metrics({str(fake)!r}, {str(real)!r}, fd_lite0=True, cache_root={cache!r}))")
    assert python(script).returncode == 0  # fills the cache
    for file in (tmp_path / "c").glob("*.pt"):
        torch.save({"mu": Payload(marker)}, file)
    proc = python(script)
    assert proc.returncode != 0 and "refusing to load the cached features" in proc.stderr and not marker.exists()


@pytest.mark.slow
def test_torch_fidelity_itself_reads_weights_only_once_metrics_fidelity_is_imported(folders, tmp_path):
    """The documented route: `import metrics.fidelity`, then torch-fidelity's own calculate_metrics with the Lite0
    extractor and a cache (torch-fidelity loads its caches and Inception weights with weights_only=False)."""
    marker = tmp_path / "pwned"
    fake, real = folders
    script = ("import metrics.fidelity, torch_fidelity\n"
              f"print(torch_fidelity.calculate_metrics(input1={str(fake)!r}, input2={str(real)!r}, fid=True, "
              f"feature_extractor='efficientnet-lite0', cache_root={str(tmp_path / 'c')!r}, "
              f"input2_cache_name='real', cuda=False, verbose=False))")
    assert python(script).returncode == 0, "the route works"
    caches = list((tmp_path / "c").glob("*.pt"))
    assert caches
    for file in caches:
        torch.save({"mu": Payload(marker)}, file)
    proc = python(script)
    assert proc.returncode != 0 and "refusing to load" in proc.stderr and not marker.exists()
    torch.save({"w": Payload(marker)}, tmp_path / "inception.pth")
    proc = python(f"import metrics.fidelity, torch_fidelity\ntorch_fidelity.calculate_metrics(input1={str(fake)!r}, "
                  f"input2={str(real)!r}, fid=True, cuda=False, "
                  f"feature_extractor_weights_path={str(tmp_path / 'inception.pth')!r})")
    assert proc.returncode != 0 and "refusing to load" in proc.stderr and not marker.exists()


@pytest.mark.slow
def test_evaluate_py_refuses_planted_inception_weights_in_torch_home(folders, tmp_path):
    marker = tmp_path / "pwned"
    fake, real = folders
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save({"w": Payload(marker)}, hub / "weights-inception-2015-12-05-6726825d.pth")
    line = one_line_error(run_cli("evaluate.py", "--fake", fake, "--real", real, "--metrics", "fid", "--no_table",
                                  env={"TORCH_HOME": str(tmp_path / "torch"), **OFFLINE}))
    assert "refusing to load" in line and not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize("where", ["--vgg_weights", "TORCH_HOME"])
def test_train_py_refuses_planted_perceptual_weights(where, synth32, tmp_path):
    marker = tmp_path / "pwned"
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    weights = hub / "vgg19-dcbb9e9d.pth"
    torch.save({"features.0.weight": Payload(marker)}, weights)
    flags = ["--vgg_weights", weights] if where == "--vgg_weights" else []
    line = one_line_error(run_cli("train.py", "--dataroot", synth32, *TINY, "--name", "p", "--checkpoints_dir",
                                  tmp_path / "ckpt", "--lambda_perceptual", "1", *flags,
                                  env={"TORCH_HOME": str(tmp_path / "torch"), **OFFLINE}))
    assert "refusing to load" in line and "vgg19" in line and not marker.exists()


@pytest.mark.slow
def test_validation_during_training_refuses_a_planted_feature_cache(synth32, tmp_path):
    marker = tmp_path / "pwned"
    args = ["train.py", "--dataroot", synth32, *TINY, "--name", "v", "--checkpoints_dir", tmp_path / "ckpt",
            "--n_epochs", "1", "--n_epochs_decay", "0", "--batch_size", "4", "--val_freq", "1",
            "--val_metrics", "fd_lite0", "--val_metric", "fd_lite0"]
    env = {"TORCH_HOME": str(tmp_path / "torch"), **OFFLINE}
    run_cli(*args, env=env, check=True)  # caches the validation images' features under $TORCH_HOME
    caches = list((tmp_path / "torch").rglob("*.pt"))
    assert caches
    for file in caches:
        torch.save({"mu": Payload(marker)}, file)
    line = one_line_error(run_cli(*args, "--overwrite", env=env))
    assert "refusing to load" in line and not marker.exists()


def cached_weights_name(extractor: str) -> str:
    """The file torch-fidelity looks for in $TORCH_HOME/hub/checkpoints/ before downloading the extractor's weights."""
    if extractor == "vgg16":
        return "vgg16-397923af.pth"  # torchvision's
    from torch_fidelity.feature_extractor_clip import MODEL_METADATA

    return f"{extractor}-{MODEL_METADATA[extractor]['hash']}.pt"


@pytest.mark.slow
@pytest.mark.parametrize("extractor", ["clip-vit-b-32", "vgg16"])
def test_every_torch_fidelity_extractor_reads_its_cached_weights_weights_only(extractor, folders, tmp_path):
    """After `import metrics.fidelity`, torch-fidelity's other extractors too: CLIP through torch.hub, VGG16 through
    torchvision's download (both load with weights_only=False by default)."""
    marker = tmp_path / "pwned"
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save({"w": Payload(marker)}, hub / cached_weights_name(extractor))
    fake, real = folders
    proc = python(f"import metrics.fidelity, torch_fidelity\ntorch_fidelity.calculate_metrics(input1={str(fake)!r}, "
                  f"input2={str(real)!r}, fid=True, cuda=False, feature_extractor={extractor!r})",
                  env={"TORCH_HOME": str(tmp_path / "torch"), **OFFLINE})
    assert proc.returncode != 0 and "refusing to load" in proc.stderr and not marker.exists(), proc.stderr[-500:]


def test_torch_hub_repositories_are_never_run_once_metrics_fidelity_is_imported(folders, tmp_path):
    fake, real = folders
    proc = python(f"import metrics.fidelity, torch_fidelity\ntorch_fidelity.calculate_metrics(input1={str(fake)!r}, "
                  f"input2={str(real)!r}, fid=True, cuda=False, feature_extractor='dinov2-vit-s-14')",
                  env={"TORCH_HOME": str(tmp_path / "torch"), **OFFLINE})
    assert proc.returncode != 0 and "refusing torch.hub.load('facebookresearch/dinov2')" in proc.stderr
