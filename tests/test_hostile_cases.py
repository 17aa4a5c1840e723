"""Cases of the second hostile re-test that are not a guarantee of their own (resume, outputs, loading have theirs):
each through the entry point a user runs, a one-line error or the right behaviour."""
from __future__ import annotations

import json

import pytest
import torch
from conftest import TINY, one_line_error, run_cli
from PIL import Image


def label_map(path, synth32, size=None):
    ab = Image.open(next((synth32 / "test").iterdir()))
    half = ab.crop((ab.width // 2, 0, ab.width, ab.height))
    path.parent.mkdir(parents=True, exist_ok=True)
    (half.resize(size) if size else half).save(path)
    return path


def run_test_py(tiny_checkpoint, *args, check=False):
    return run_cli("test.py", "--name", "tiny", "--checkpoints_dir", tiny_checkpoint, *args, check=check)


@pytest.mark.parametrize("size", [(1, 1), (3, 2), (7, 5)])
def test_test_py_translates_images_smaller_than_the_generators_grid(size, tiny_checkpoint, synth32, tmp_path):
    """A ResNet generator's residual blocks need a 2x2 grid: tiny inputs are padded to 8x8 and cropped back."""
    photo = label_map(tmp_path / "in" / "x.png", synth32, size)
    run_test_py(tiny_checkpoint, "--input", photo, "--output", tmp_path / "out", check=True)
    assert Image.open(tmp_path / "out" / "x.png").size == size


@pytest.mark.slow
def test_test_py_input_says_when_samples_will_be_identical_and_refuses_a_file_as_output(tiny_checkpoint, synth32,
                                                                                      tmp_path):
    photo = label_map(tmp_path / "in" / "x.png", synth32)
    proc = run_test_py(tiny_checkpoint, "--input", photo, "--output", tmp_path / "out", "--n_samples", "2", "--eval",
                   check=True)
    assert "--n_samples 2: this generator is deterministic here" in proc.stderr
    (tmp_path / "file.png").write_bytes(b"x")
    line = one_line_error(run_test_py(tiny_checkpoint, "--input", photo, "--output", tmp_path / "file.png"))
    assert f"--output {tmp_path / 'file.png'} is a file, not a folder" in line


def test_test_py_epoch_best_without_validation_says_where_a_best_checkpoint_comes_from(tiny_checkpoint, synth32,
                                                                                      tmp_path):
    line = one_line_error(run_test_py(tiny_checkpoint, "--dataroot", synth32, "--epoch", "best", "--results_dir",
                                  tmp_path))
    assert "best_checkpoint.pth (a best checkpoint is kept by runs that validate: train.py --val_freq N)" in line


def test_validation_of_images_at_their_own_size_and_its_record(tmp_path):
    """--preprocess none: validation pads each image to the generator's multiple and crops back, as test.py does;
    its record says which weights it used."""
    run_cli("datasets/make_synthetic_dataset.py", "--out", tmp_path / "d34", "--size", "34", "--n_train", "2",
            "--n_val", "2", "--n_test", "0", check=True)
    run_cli("train.py", "--dataroot", tmp_path / "d34", *TINY[:6], "--preprocess", "none", "--display_id", "0",
            "--direction", "BtoA", "--name", "v", "--checkpoints_dir", tmp_path, "--n_epochs", "1",
            "--n_epochs_decay", "0", "--val_freq", "1", "--val_metrics", "l1", "--val_metric", "l1", "--ema",
            check=True)
    record = json.loads((tmp_path / "v" / "val" / "checkpoint.json").read_text())
    assert record["weights"] == "ema" and (tmp_path / "v" / "best_checkpoint.pth").exists()
    assert Image.open(tmp_path / "v" / "val" / "images" / "1_fake_B.png").size == (34, 34)


@pytest.mark.parametrize("metrics, expect", [
    ("diversity_l1,l1", "diversity_l1 compares several samples of each input, and validation translates each once"),
    ("fid,l1", "fid needs torch-fidelity's Inception weights in $TORCH_HOME/hub/checkpoints/"),
])
def test_validation_metrics_that_cannot_work_are_refused_before_training(metrics, expect, synth32, tmp_path):
    line = one_line_error(run_cli("train.py", "--dataroot", synth32, *TINY, "--name", "v", "--checkpoints_dir",
                                  tmp_path, "--val_freq", "1", "--val_metrics", metrics, "--val_metric", "l1",
                                  env={"TORCH_HOME": str(tmp_path / "torch")}))
    assert expect in line and not (tmp_path / "v").exists()


@pytest.mark.slow
def test_two_fake_folders_of_one_name_keep_rows_of_their_own(tmp_path):
    for run in ("runA", "runB", "real"):
        folder = tmp_path / run / "fake" if run != "real" else tmp_path / "real"
        folder.mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (16, 16), (10 * i + len(run), 0, 0)).save(folder / f"{i}.png")
    for run in ("runA", "runB"):
        run_cli("evaluate.py", "--fake", tmp_path / run / "fake", "--real", tmp_path / "real", "--metrics", "l1",
                "--table", tmp_path / "table.csv", check=True)
    rows = (tmp_path / "table.csv").read_text().splitlines()[1:]
    assert len(rows) == 2 and all(",," not in row.split("fake,")[1][:1] for row in rows)


@pytest.mark.slow
def test_resuming_at_a_smaller_pool_or_crop_keeps_training(synth32, tmp_path):
    args = ["train.py", "--dataroot", synth32, *TINY, "--batch_size", "2", "--name", "r", "--checkpoints_dir",
            tmp_path, "--n_epochs_decay", "0", "--pool_size", "4"]
    run_cli(*args, "--n_epochs", "1", check=True)
    run_cli(*args[:-2], "--pool_size", "2", "--continue_train", "--n_epochs", "2", "--crop_size", "24",
            "--load_size", "24", check=True)
    state = torch.load(tmp_path / "r" / "latest_checkpoint.pth", weights_only=True)
    assert len(state["extra"]["fake_pool"]) == 2 and state["extra"]["fake_pool"][0].shape[-1] == 24


@pytest.mark.slow
def test_dropping_the_average_or_a_kl_weight_without_vae_is_said(synth32, tmp_path):
    args = ["train.py", "--dataroot", synth32, *TINY, "--batch_size", "4", "--name", "r", "--checkpoints_dir",
            tmp_path, "--n_epochs_decay", "0"]
    run_cli(*args, "--n_epochs", "1", "--ema", check=True)
    proc = run_cli(*args, "--continue_train", "--n_epochs", "2", "--ema", "0", "--lambda_kld", "1", check=True)
    assert "--ema 0: this run keeps no moving average of G" in proc.stderr
    assert "--lambda_kld 1.0 weighs the KL term of --use_vae's style code" in proc.stderr
    assert "G_ema" not in torch.load(tmp_path / "r" / "latest_checkpoint.pth", weights_only=True)["nets"]


def test_the_metrics_api_refuses_cuda_on_a_machine_without_it(tmp_path):
    from metrics import calculate_metrics

    for folder in ("fake", "real"):
        (tmp_path / folder).mkdir()
        Image.new("RGB", (8, 8), (len(folder), 0, 0)).save(tmp_path / folder / "0.png")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="no CUDA device: pass device='cpu'"):
        calculate_metrics(tmp_path / "fake", tmp_path / "real", psnr=True, cuda=True)
