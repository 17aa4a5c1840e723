"""Checkpoints: exact resumption (explicit and after Ctrl-C), atomic writes, upstream-format weights."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from argparse import Namespace

import numpy as np
import pytest
import torch
from conftest import REPO, TINY, one_line_error, run_cli

from models.networks import define_G
from util.fileio import atomic_torch_save

RUN = [*TINY, "--n_epochs", "2", "--n_epochs_decay", "2", "--batch_size", "2", "--pool_size", "4"]


def final_weights(folder) -> dict[str, dict[str, torch.Tensor]]:
    return torch.load(folder / "latest_checkpoint.pth", weights_only=True)["nets"]


def assert_same_weights(a, b):
    for net in a:
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), f"net{net}.{key} differs"


@pytest.fixture(scope="module")
def uninterrupted(synth32, tmp_path_factory):
    """A run straight through, keeping mid-epoch checkpoints (iter_<N>)."""
    ckpt = tmp_path_factory.mktemp("straight")
    run_cli("train.py", "--dataroot", synth32, *RUN, "--name", "run", "--checkpoints_dir", ckpt,
            "--save_latest_freq", "6", "--save_by_iter", check=True)
    return ckpt / "run"


@pytest.mark.slow
def test_resume_mid_epoch_ends_with_identical_weights(synth32, uninterrupted, tmp_path):
    # iter_6 was written part-way through epoch 1 (8 images per epoch): resume from a copy of it
    resumed = tmp_path / "run"
    resumed.mkdir()
    (resumed / "iter_6_checkpoint.pth").write_bytes((uninterrupted / "iter_6_checkpoint.pth").read_bytes())
    proc = run_cli("train.py", "--dataroot", synth32, *RUN, "--name", "run", "--checkpoints_dir", tmp_path,
                   "--continue_train", "--load_iter", "6", check=True)
    assert "resuming at epoch 1, image 6" in proc.stdout
    assert_same_weights(final_weights(uninterrupted), final_weights(resumed))


@pytest.mark.slow
def test_ctrl_c_saves_and_continue_train_matches_an_uninterrupted_run(synth32, tmp_path):
    args = [*TINY, "--n_epochs", "30", "--n_epochs_decay", "0", "--batch_size", "2", "--print_freq", "2",
            "--name", "run"]
    straight = tmp_path / "straight"
    run_cli("train.py", "--dataroot", synth32, *args, "--checkpoints_dir", straight, check=True)

    broken = tmp_path / "broken"
    log = broken / "run" / "loss_log.jsonl"
    proc = subprocess.Popen([sys.executable, "train.py", "--dataroot", str(synth32), *args,
                             "--checkpoints_dir", str(broken)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (log.exists() and log.read_text().count("\n") >= 3) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out[-2000:], err[-2000:])
    assert "Traceback" not in err
    progress = torch.load(broken / "run" / "latest_checkpoint.pth", weights_only=True)["progress"]
    assert progress["total_iters"] < 30 * 8, "the run finished before Ctrl-C: make it longer"

    run_cli("train.py", "--dataroot", synth32, *args, "--checkpoints_dir", broken, "--continue_train", check=True)
    assert_same_weights(final_weights(straight / "run"), final_weights(broken / "run"))


@pytest.mark.slow
def test_sigterm_saves_and_stops_like_ctrl_c(synth32, tmp_path):
    """A cluster's time limit or scancel sends SIGTERM: the run saves `latest` and stops, ready to resume."""
    log = tmp_path / "run" / "loss_log.jsonl"
    proc = subprocess.Popen([sys.executable, "train.py", "--dataroot", str(synth32), *TINY, "--n_epochs", "100",
                             "--n_epochs_decay", "0", "--print_freq", "2", "--name", "run", "--checkpoints_dir",
                             str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (log.exists() and log.read_text().count("\n") >= 2) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)  # SLURM and torchrun may both deliver it: a repeat changes nothing
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "SIGTERM: saving a checkpoint" in out, (out[-2000:], err[-2000:])
    progress = torch.load(tmp_path / "run" / "latest_checkpoint.pth", weights_only=True)["progress"]
    assert 0 < progress["total_iters"] < 100 * 8


def test_continue_train_with_another_architecture_is_refused(synth32, uninterrupted, tmp_path):
    ckpt = uninterrupted.parent
    line = one_line_error(run_cli("train.py", "--dataroot", synth32, *RUN, "--ngf", "16", "--name", "run",
                                  "--checkpoints_dir", ckpt, "--continue_train"))
    assert "--ngf 8" in line


def test_atomic_save_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "latest_checkpoint.pth"
    atomic_torch_save({"v": 1}, path)

    def broken_save(obj, f):
        f.write(b"half a checkp")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError) as failure:
        atomic_torch_save({"v": 2}, path)
    assert failure.value.errno == errno.ENOSPC and failure.value.filename == str(path)  # the target, not the temp
    monkeypatch.undo()
    assert torch.load(path) == {"v": 1}
    assert os.listdir(tmp_path) == ["latest_checkpoint.pth"]


def upstream_generator(norm: str = "batch") -> torch.nn.Module:
    opt = Namespace(netG="resnet_6blocks", input_nc=3, output_nc=3, ngf=8, norm=norm, no_dropout=False,
                    init_type="normal", init_gain=0.02)
    return define_G(opt)


@pytest.mark.slow
def test_upstream_format_generator_weights_load_for_testing(synth32, tmp_path):
    torch.manual_seed(1)
    net = upstream_generator()
    (tmp_path / "ckpt" / "up").mkdir(parents=True)
    torch.save(net.state_dict(), tmp_path / "ckpt" / "up" / "latest_net_G.pth")
    arch = ["--netG", "resnet_6blocks", "--ngf", "8", "--load_size", "32", "--crop_size", "32"]
    run_cli("test.py", "--dataroot", synth32, "--name", "up", "--direction", "BtoA", "--eval", *arch,
            "--checkpoints_dir", tmp_path / "ckpt", "--results_dir", tmp_path / "res", check=True)
    from PIL import Image

    from data.image_folder import load_rgb
    from data.transforms import Params, apply

    fake = torch.from_numpy(np.array(Image.open(tmp_path / "res/up/test_latest/images/1_fake_B.png")).reshape(-1, 3))
    ab = load_rgb(str(synth32 / "test" / "1.jpg"))
    label = ab.crop((32, 0, 64, 32))
    x = apply(label, Params((32, 32), None, False), Namespace(crop_size=32), 3).unsqueeze(0)
    with torch.no_grad():
        expected = ((net.eval()(x)[0].permute(1, 2, 0).reshape(-1, 3) + 1) / 2 * 255).round()
    assert (fake.float() - expected).abs().max() <= 1


@pytest.mark.slow
def test_upstream_weights_of_another_architecture_are_a_one_line_error(synth32, tmp_path):
    (tmp_path / "up").mkdir()
    torch.save(upstream_generator("instance").state_dict(), tmp_path / "up" / "latest_net_G.pth")
    line = one_line_error(run_cli("test.py", "--dataroot", synth32, "--name", "up", "--netG", "unet_128",
                                  "--checkpoints_dir", tmp_path, "--results_dir", tmp_path / "res"))
    assert "latest_net_G.pth" in line and "--netG" in line


def test_options_saved_with_the_experiment(uninterrupted):
    saved = json.loads((uninterrupted / "opt.json").read_text())
    assert saved["pool_size"] == 4 and saved["netG"] == "resnet_6blocks"
