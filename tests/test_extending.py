"""docs/extending.md's examples, applied to a copy of the code exactly as written there (each a new file plus one
registry entry and its import), then used through train.py, test.py and evaluate.py."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, TINY
from PIL import Image

PACKAGES = ("data", "metrics", "models", "options", "training", "util")
MARKER = re.compile(r"<!-- example-(file|entry): (\S+)(?: (\w+))? -->\n```python\n(.*?)```", re.S)


def examples() -> list[tuple[str, str, str | None, str]]:
    """(kind, path, registry, code) of every marked block of docs/extending.md."""
    return MARKER.findall((REPO / "docs" / "extending.md").read_text())


def add_entry(source: str, registry: str, block: str) -> str:
    """`source` with the block's import lines before the registry's definition and its entry as the registry's
    first item."""
    lines = block.strip("\n").splitlines()
    imports = [line for line in lines if line.startswith(("from ", "import "))]
    entry = "\n".join(line for line in lines if line not in imports).strip("\n")
    start = re.search(rf"^{registry}(: [^=]+)? = {{\n", source, re.M)
    assert start, f"no registry {registry}"
    return (source[:start.start()] + "".join(f"{line}\n" for line in imports) + source[start.start():start.end()]
            + entry + "\n" + source[start.end():])


@pytest.fixture(scope="module")
def extended(tmp_path_factory) -> Path:
    """A copy of the code with every example of docs/extending.md added."""
    root = tmp_path_factory.mktemp("extended")
    for package in PACKAGES:
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    for script in REPO.glob("*.py"):
        shutil.copy(script, root)
    for kind, path, registry, code in examples():
        target = root / path
        if kind == "file":
            assert not target.exists(), f"{path} is already in the code"
            target.write_text(code)
        else:
            target.write_text(add_entry(target.read_text(), registry, code))
    return root


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=root, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"})


def test_the_page_has_a_generator_a_loss_a_metric_and_a_logger_each_one_file_and_one_entry():
    found = examples()
    files = [path for kind, path, _, _ in found if kind == "file"]
    registries = [registry for kind, _, registry, _ in found if kind == "entry"]
    assert sorted(registries) == ["GENERATORS", "LOGGERS", "METRICS", "RECONSTRUCTION_LOSSES"]
    assert len(files) == 4 and all(not (REPO / f).exists() for f in files)


@pytest.mark.slow
def test_the_commands_of_the_example_sections_parse_with_the_examples_added(extended, tmp_path):
    from test_docs_commands import documented_commands

    commands = documented_commands(examples=True)
    assert {script for *_, script, _ in commands} == {"train.py", "evaluate.py"}
    check = ("import json, sys; from pathlib import Path; from test_docs_commands import make_paths, parse; "
             "args = json.loads(sys.argv[2]); make_paths(args, Path.cwd()); parse(sys.argv[1], args)")
    for page, line, script, args in commands:
        proc = subprocess.run([sys.executable, "-c", check, script, json.dumps(args)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join([str(extended), str(REPO / "tests")])})
        assert proc.returncode == 0, f"{page}:{line}: {proc.stderr}"


@pytest.mark.slow
def test_the_examples_train_resume_test_and_evaluate(extended, synth32, tmp_path):
    help_text = run(extended, "train.py", "--help").stdout
    assert "plain: a stack of 3x3 convolutions" in help_text and "--plain_layers" in help_text
    assert "--lambda_L2" in help_text and "csv: each logged value" in help_text
    flags = [*TINY, "--netG", "plain", "--plain_layers", "3", "--lambda_L1", "0", "--lambda_L2", "10",
             "--logger", "csv", "--print_freq", "2", "--dataroot", str(synth32), "--checkpoints_dir", str(tmp_path),
             "--name", "ext"]
    proc = run(extended, "train.py", *flags, "--n_epochs", "1", "--n_epochs_decay", "0")
    assert proc.returncode == 0, proc.stderr
    state = torch.load(tmp_path / "ext" / "latest_checkpoint.pth", weights_only=True)
    assert state["options"]["netG"] == "plain" and state["options"]["plain_layers"] == 3
    with (tmp_path / "ext" / "losses.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert {"loss/G_L2", "loss/G_GAN", "loss/D_real"} <= {row["name"] for row in rows}
    assert "loss/G_L1" not in {row["name"] for row in rows}  # weight 0: not even built
    steps = sorted({int(row["step"]) for row in rows})

    resumed = run(extended, "train.py", *flags, "--continue_train", "--n_epochs", "2", "--plain_layers", "4")
    assert resumed.returncode == 2 and "--plain_layers" in resumed.stderr  # it shapes the weights: refused
    resumed = run(extended, "train.py", *flags, "--continue_train", "--n_epochs", "2", "--lambda_L2", "20")
    assert resumed.returncode == 0, resumed.stderr
    with (tmp_path / "ext" / "losses.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows if r["name"] == "loss/G_L2"][:len(steps)] == steps  # kept, then continued
    assert max(int(r["step"]) for r in rows) > max(steps)

    out = tmp_path / "results"
    tested = run(extended, "test.py", "--dataroot", str(synth32), "--checkpoints_dir", str(tmp_path), "--name", "ext",
                 "--results_dir", str(out), "--load_size", "32", "--crop_size", "32")
    assert tested.returncode == 0, tested.stderr
    folder = out / "ext" / "test_latest"
    report_file = tmp_path / "report.json"
    scored = run(extended, "evaluate.py", "--results_dir", str(folder), "--metrics", "mse", "--json",
                 str(report_file), "--no_table")
    assert scored.returncode == 0, scored.stderr
    score = json.loads(report_file.read_text())["metrics"]["mse"]
    images = folder / "images"
    expected = [np.mean((np.asarray(Image.open(fake), float) / 255
                         - np.asarray(Image.open(images / fake.name.replace("fake_B", "real_B")), float) / 255) ** 2)
                for fake in sorted(images.glob("*_fake_B.png"))]
    assert score["n_images"] == len(expected) and score["value"] == pytest.approx(np.mean(expected), rel=1e-6)
