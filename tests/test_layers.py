"""The layers hold: import-linter's contracts (pyproject.toml) are kept, and the entry points import the heavy
optional packages only when a flag asks for them."""
from __future__ import annotations

import shutil
import subprocess

import pytest
from conftest import REPO, run_cli

HEAVY = ("gradio", "visdom", "wandb", "tensorboard", "torch_fidelity", "onnx", "onnxruntime", "matplotlib",
         "efficientnet_lite_pytorch", "torchmetrics", "skimage")


def test_import_linter_contracts_are_kept():
    if shutil.which("lint-imports") is None:
        pytest.skip("import-linter is not installed (pip install import-linter)")
    proc = subprocess.run(["lint-imports"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "0 broken" in proc.stdout


def test_entry_points_import_no_heavy_package_before_it_is_used():
    code = ("import sys, train, test, evaluate, export, demo, metrics, training.loop; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    proc = run_cli("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
