"""Shared fixtures: tiny synthetic datasets made by the project's own generator, and a CLI runner."""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

# tests run on every core at once (pytest-xdist): each worker, and the scripts it starts, on one thread
if os.environ.get("PYTEST_XDIST_WORKER") and not os.environ.get("OMP_NUM_THREADS"):
    os.environ["OMP_NUM_THREADS"] = "1"

REPO = Path(__file__).resolve().parents[1]
FACADES = REPO.parent / "shared" / "data" / "facades"

# small and fast: CI runs on 2 CPU cores
TINY = ["--netG", "resnet_6blocks", "--ngf", "8", "--ndf", "8", "--load_size", "32", "--crop_size", "32",
        "--display_id", "0", "--direction", "BtoA"]
# proxies at a closed port: any download fails at once, so offline behaviour is tested without waiting
OFFLINE = {"https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}


# values another_value's generic rule would get wrong: they must fit tiny_checkpoint's other options (TINY: load 32)
OVERRIDES = {"crop_size": ["16"], "netD": ["pixel"], "load_size": ["48"], "phase": ["val"], "val_phase": ["test"],
             "val_metrics": ["l1,psnr"], "val_metric": ["psnr"], "diffaug": ["color"], "lambda_gp": ["1"],
             "lambda_perceptual": ["1", "--perceptual_net", "efficientnet_lite0"]}  # VGG19 cannot be downloaded


def another_value(action: argparse.Action, saved) -> list[str] | None:
    """Command-line tokens giving the option a valid value other than `saved` (None when the command line cannot:
    a store_true flag that is already on)."""
    flag = action.option_strings[0]
    if action.nargs == 0:
        return None if saved else [flag]
    if action.dest in OVERRIDES:
        return [flag, *OVERRIDES[action.dest]]
    if action.choices:
        return [flag, str(next(c for c in action.choices if c != saved and c not in ("none", "sesam")))]
    number = saved if isinstance(saved, (int, float)) and saved != float("inf") else 1
    for text in (str(number * 2), str(number / 2), str(number + 1), "1", "0.5", "64", "x"):  # 64: a size
        try:
            value = action.type(text) if action.type else text
        except (argparse.ArgumentTypeError, ValueError, TypeError):
            continue
        if value != saved:
            return [flag, text]
    raise AssertionError(f"no other value found for {flag} (saved {saved!r}): add one to OVERRIDES")


def run_cli(*args: str, cwd: Path = REPO, timeout: float = 300, check: bool = False,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python <args>` from the repository root, as a user would."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def free_port() -> int:
    """A TCP port no process listens on now (tests run in parallel: never a fixed one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_script(path: Path):
    """A script of the repository (scripts/, datasets/) imported as a module, to call its functions."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def make_synthetic(out: Path, size: int, n_train: int = 8, n_val: int = 2, n_test: int = 4, seed: int = 0) -> Path:
    run_cli("datasets/make_synthetic_dataset.py", "--out", out, "--size", size, "--n_train", n_train,
            "--n_val", n_val, "--n_test", n_test, "--seed", seed, check=True)
    return out


@pytest.fixture(scope="session")
def synth32(tmp_path_factory) -> Path:
    """A synthetic A|B dataset of 32x32 pairs: 8 train, 2 val, 4 test."""
    return make_synthetic(tmp_path_factory.mktemp("synth32"), 32)


@pytest.fixture(scope="session")
def synth128(tmp_path_factory) -> Path:
    """A synthetic A|B dataset of 128x128 pairs: 16 train, 2 val, 4 test."""
    return make_synthetic(tmp_path_factory.mktemp("synth128"), 128, n_train=16, n_test=4)


@pytest.fixture
def facades() -> Path:
    if not (FACADES / "train").is_dir():
        pytest.skip(f"the facades dataset is not at {FACADES} (only on the project's machines)")
    return FACADES


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """Assert a user error: exit code 2, no traceback, a single line on stderr; return that line."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("warning:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope="session")
def vgg19_random_weights(tmp_path_factory) -> Path:
    """A stand-in for torchvision's vgg19-dcbb9e9d.pth: the right keys and shapes, random values (no download)."""
    import torch
    from torchvision.models import vgg19

    path = tmp_path_factory.mktemp("vgg") / "vgg19-dcbb9e9d.pth"
    torch.manual_seed(0)
    features = vgg19(weights=None).features[:30]
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    return path


def run_cli_in_terminal(*args: str, timeout: float = 300) -> tuple[int, str]:
    """Run `python <args>` with stdout and stderr on a pseudo-terminal (so progress bars show); (exit code, text)."""
    import fcntl
    import pty
    import struct
    import termios
    import time

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 400, 0, 0))  # wide: no truncated bars
    proc = subprocess.Popen([sys.executable, *map(str, args)], cwd=REPO, stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc.wait(timeout=max(1.0, deadline - time.monotonic())), b"".join(chunks).decode(errors="replace")


@pytest.fixture(scope="session")
def tiny_checkpoint(synth32, tmp_path_factory) -> Path:
    """The checkpoints folder of experiment 'tiny': TINY pix2pix trained one epoch on synth32 (BtoA, dropout)."""
    ckpt = tmp_path_factory.mktemp("tiny_checkpoint")
    run_cli("train.py", "--dataroot", synth32, "--model", "pix2pix", "--name", "tiny", *TINY, "--checkpoints_dir",
            ckpt, "--n_epochs", "1", "--n_epochs_decay", "0", "--batch_size", "4", check=True)
    return ckpt
