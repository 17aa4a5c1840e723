"""train.py under torchrun: 2 CPU processes with gloo, as on a multi-GPU machine with NCCL."""
from __future__ import annotations

import os
import sys
import time
from argparse import Namespace
from pathlib import Path

import pytest
import torch
from conftest import REPO, TINY, free_port, one_line_error, run_cli

from models import networks

pytestmark = pytest.mark.slow
EPOCH = ["--n_epochs", "1", "--n_epochs_decay", "0", "--print_freq", "2", "--lr_policy", "step"]
# no randomness inside a step (instance norm, no dropout, no image pool, fixed order), so runs can be compared; fp32,
# since bf16's rounding depends on how a batch is split between processes
DETERMINISTIC = ["--norm", "instance", "--no_dropout", "--pool_size", "0", "--serial_batches", "--no_flip",
                 "--amp", "off"]


def torchrun(*args, nproc: int = 2, script: str = "train.py"):
    return run_cli("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", nproc, script, *args,
                   env={"OMP_NUM_THREADS": "1"})


def trained(ckpt: Path, name: str) -> dict[str, dict[str, torch.Tensor]]:
    return torch.load(ckpt / name / "latest_checkpoint.pth", weights_only=True)["nets"]


def assert_close(a: dict, b: dict, **tolerance) -> None:
    assert a.keys() == b.keys()
    for net in a:
        for key in a[net]:
            torch.testing.assert_close(a[net][key], b[net][key], msg=f"net{net}.{key}", **tolerance)


def outputs(ckpt: Path, name: str) -> dict[str, torch.Tensor]:
    """What the trained G and D compute on a fixed input. (Parameters alone would not do: a conv bias followed by
    instance norm has no effect and a zero gradient, which Adam turns into arbitrary steps from float noise.)"""
    state = torch.load(ckpt / name / "latest_checkpoint.pth", weights_only=True)
    opt = Namespace(**state["options"])
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    out = {}
    for label, net in (("G", networks.define_G(opt)), ("D", networks.define_D(opt))):
        net.load_state_dict(state["nets"][label])
        with torch.no_grad():
            out[label] = net(x) if label == "G" else net(torch.cat((x, x.flip(-1)), 1))
    return out


def test_two_processes_of_batch_b_train_like_one_of_batch_2b(synth32, tmp_path):
    common = ["--dataroot", synth32, "--checkpoints_dir", tmp_path, *TINY, *EPOCH, *DETERMINISTIC]
    proc = torchrun(*common, "--name", "ddp", "--batch_size", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_cli("train.py", *common, "--name", "single", "--batch_size", "2", check=True)

    ddp, single = outputs(tmp_path, "ddp"), outputs(tmp_path, "single")
    for net in ddp:
        torch.testing.assert_close(ddp[net], single[net], rtol=1e-4, atol=1e-4)
    assert "2 processes, global batch 2" in proc.stdout
    # rank 0 alone writes: each checkpoint saved once, one loss log, one copy of the console output
    assert proc.stdout.count("saved ") == 2 and proc.stdout.count("[netG]") == 1
    log = (tmp_path / "ddp" / "loss_log.jsonl").read_text().splitlines()
    assert len(log) == len((tmp_path / "single" / "loss_log.jsonl").read_text().splitlines()) == 4


@pytest.mark.parametrize("variant", [
    ["--pool_size", "4"],  # pix2pix's batch norm and dropout, and an image pool
    ["--gan_mode", "wgangp", "--netD", "multiscale", "--num_D", "2", "--lambda_feat", "10", "--crop_size", "64",
     "--load_size", "64", "--diffaug", "color,translation,cutout", "--ema"],  # gradient penalty, two-scale D,
    # feature matching, augmented D inputs, the moving average of G
    ["--model", "stochastic", "--weight_noise", "0.05", "--weight_noise_in_training"],  # noisy G weights
    ["--model", "spade", "--netG", "spade", "--label_nc", "12", "--use_vae", "--n_layers_D", "2", "--num_D", "1",
     "--lambda_perceptual", "0"],  # class inputs, SPADE's spectral norm and style encoder, TTUR
    ["--grad_checkpoint", "--gan_mode", "wgangp", "--netD", "multiscale", "--num_D", "2", "--crop_size", "64",
     "--load_size", "64"],  # recomputed activations, through the gradient penalty's double backward too
    ["--netD", "basic,projected", "--projected_channels", "8", "--gan_mode", "hinge", "--diffaug",
     "color,translation", "--ema"],  # two discriminators, one with a frozen backbone outside DDP's parameters
    ["--netD", "basic,oasis", "--norm", "instance", "--label_nc", "12", "--oasis_levels", "3", "--lambda_labelmix",
     "10", "--noise_3d", "4"],  # OASIS's segmenter beside a PatchGAN, LabelMix through the segmenter alone
])
def test_every_process_holds_the_same_weights(synth32, tmp_path, variant):
    out = tmp_path / "ranks"
    out.mkdir()
    proc = torchrun(out, "--dataroot", synth32, "--checkpoints_dir", tmp_path, "--name", "same", *TINY, *EPOCH,
                    "--batch_size", "2", *variant, script="tests/ddp_worker.py")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rank0, rank1 = (torch.load(out / f"rank{r}.pt") for r in (0, 1))
    assert_close(rank0, rank1, rtol=0, atol=0)
    assert_close(rank0, trained(tmp_path, "same"), rtol=0, atol=0)  # and the checkpoint holds them


def test_resume_under_torchrun(synth32, tmp_path):
    common = ["--dataroot", synth32, "--checkpoints_dir", tmp_path, *TINY, *EPOCH, *DETERMINISTIC,
              "--batch_size", "1"]
    assert torchrun(*common, "--name", "resumed").returncode == 0
    proc = torchrun(*common, "--name", "resumed", "--n_epochs", "2", "--continue_train")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("resuming at epoch 2") == 1
    assert torchrun(*common, "--name", "straight", "--n_epochs", "2").returncode == 0
    resumed, straight = outputs(tmp_path, "resumed"), outputs(tmp_path, "straight")
    for net in resumed:
        torch.testing.assert_close(resumed[net], straight[net], rtol=1e-4, atol=1e-4)


def test_a_failing_process_ends_the_job_with_its_error(synth32, tmp_path):
    data = tmp_path / "data"
    (data / "train").mkdir(parents=True)
    for image in sorted((synth32 / "train").iterdir()):
        (data / "train" / image.name).write_bytes(image.read_bytes())
    second = sorted((data / "train").iterdir())[1]  # the first image of process 1 (--serial_batches)
    second.write_bytes(second.read_bytes()[:400])  # the header (size) is intact, the pixels are cut off
    start = time.monotonic()
    proc = torchrun("--dataroot", data, "--checkpoints_dir", tmp_path, "--name", "fail", *TINY, *EPOCH,
                    "--serial_batches", "--dist_timeout", "1")
    assert proc.returncode != 0 and time.monotonic() - start < 60  # no hang: process 0 is stopped with it
    # the process's own one-line error (torchrun then adds its failure report)
    assert any(line.startswith("train.py: error: cannot read image") and second.name in line
               for line in proc.stderr.splitlines())


def test_sync_bn_needs_gpu_processes_and_no_gradient_penalty(synth32, tmp_path):
    line = one_line_error(run_cli("train.py", "--dataroot", synth32, "--checkpoints_dir", tmp_path, *TINY, *EPOCH,
                                  "--sync_bn"))
    assert "--sync_bn" in line and "torchrun" in line
    line = one_line_error(run_cli("train.py", "--dataroot", synth32, "--checkpoints_dir", tmp_path, *TINY, *EPOCH,
                                  "--sync_bn", "--gan_mode", "wgangp"))
    assert "second derivative" in line and "--norm instance" in line


def test_slurm_script_launches_torchrun(synth32, tmp_path):
    """scripts/train_slurm.sbatch with stand-ins for srun and scontrol: one node, two processes."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text('#!/bin/sh\nshift\nexec "$@"\n')  # drops --cpus-per-task
    (bin_dir / "scontrol").write_text("#!/bin/sh\necho localhost\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
           "SLURM_SUBMIT_DIR": str(REPO), "SLURM_NNODES": "1", "SLURM_JOB_ID": "42", "SLURM_JOB_NODELIST": "n1",
           "GPUS_PER_NODE": "2", "MASTER_PORT": str(free_port()), "OMP_NUM_THREADS": "1"}
    import subprocess

    proc = subprocess.run(["bash", str(REPO / "scripts" / "train_slurm.sbatch"), "--dataroot", str(synth32),
                           "--checkpoints_dir", str(tmp_path), "--name", "slurm", *TINY, *EPOCH],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 processes" in proc.stdout and (tmp_path / "slurm" / "latest_checkpoint.pth").is_file()


def test_ctrl_c_under_torchrun_saves_once_after_the_same_step(synth32, tmp_path):
    """torchrun passes Ctrl-C to every process; they agree on the step to stop after and process 0 saves."""
    import signal
    import subprocess

    log = tmp_path / "run" / "loss_log.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "train.py", "--dataroot", str(synth32), "--checkpoints_dir", str(tmp_path), "--name",
                             "run", *TINY, "--n_epochs", "200", "--n_epochs_decay", "0", "--print_freq", "2"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while not (log.exists() and log.read_text().count("\n") >= 3) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert out.count("saved ") == 1 and "stopped in epoch" in out, (out[-2000:], err[-2000:])
    progress = torch.load(tmp_path / "run" / "latest_checkpoint.pth", weights_only=True)["progress"]
    assert 0 < progress["total_iters"] < 200 * 8
