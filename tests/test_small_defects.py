"""Settings that cannot work are one-line errors before the work starts, and seeded draws leave the caller's random
state alone: SPADE's starting grid (--num_upsampling_layers, --crop_size, --batch_size, --use_vae --image_aspect)
and the Python Generator's seed."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from conftest import TINY, one_line_error, run_cli
from PIL import Image

from util.errors import UserError

# train.py flags of a tiny SPADE (the default D needs 95 px); the crop size and batch size come with each case
SPADE = [*TINY, "--model", "spade", "--netG", "spade", "--ngf", "4", "--label_nc", "12", "--n_layers_D", "2",
         "--num_D", "1", "--lambda_perceptual", "0", "--gpu_ids", "-1", "--n_epochs", "1", "--n_epochs_decay", "0"]


def test_spade_most_at_128_px_is_refused_before_training_with_what_works(synth32, tmp_path):
    proc = run_cli("train.py", "--dataroot", synth32, *SPADE, "--load_size", "128", "--crop_size", "128",
                   "--num_upsampling_layers", "most", "--checkpoints_dir", tmp_path, "--name", "most")
    line = one_line_error(proc)  # was: batch norm's ValueError on a 1x1 grid, a traceback
    assert "1x1 grid" in line and "--crop_size 256 or more" in line and "--num_upsampling_layers more" in line
    assert "--batch_size 2 or more" in line
    assert not (tmp_path / "most").exists()  # refused before the run's folder was made


@pytest.mark.parametrize("depth, crop, batch, vae, aspect, expect", [
    ("most", 64, 4, False, 1.0, "0x0 grid (crop_size / 128), which has no cells: pass --crop_size 128 or more, or "
                                "--num_upsampling_layers more"),
    ("more", 64, 1, False, 1.0, "--crop_size 128 or more, or --batch_size 2 or more, or --num_upsampling_layers "
                                "normal"),
    ("normal", 32, 1, False, 1.0, "1x1 grid (crop_size / 32), on which its batch norm cannot train a batch of 1"),
    ("normal", 16, 2, False, 1.0, "pass --crop_size 32 or more"),
    ("normal", 256, 1, True, 16.0, "8x0 grid (crop_size / 32, height width / --image_aspect 16), which has no cells: "
                                   "pass --crop_size 288 or more"),
    ("most", 128, 2, True, 2.0, "1x0 grid"),
])
def test_spade_grids_that_cannot_train_are_refused_at_network_creation(synth32, depth, crop, batch, vae, aspect,
                                                                        expect):
    from models.networks import define_G
    from training.options import TrainOptions

    opt = TrainOptions().parse(["--dataroot", str(synth32), *SPADE, "--load_size", str(crop), "--crop_size", str(crop),
                                "--num_upsampling_layers", depth, "--batch_size", str(batch), "--image_aspect",
                                str(aspect), *(["--use_vae"] if vae else [])])
    with pytest.raises(UserError, match=r"--netG spade --num_upsampling_layers") as refused:
        define_G(opt)
    assert expect in str(refused.value)


@pytest.mark.parametrize("depth, crop, batch, vae, aspect", [
    ("normal", 32, 2, False, 1.0),  # a 1x1 grid: batch norm over the 2 images of a batch
    ("more", 128, 1, False, 1.0),
    ("most", 256, 1, True, 2.0),  # 2x1: two values per channel
    ("normal", 288, 1, True, 16.0),  # the smallest crop the error above names
])
def test_spade_grids_that_train_are_built_and_take_a_training_step(depth, crop, batch, vae, aspect):
    from models.networks import SPADEGenerator
    from models.networks.spade import check_trainable

    check_trainable(depth, crop, batch, aspect, vae)
    net = SPADEGenerator(3, 3, ngf=2, depth=depth, use_vae=vae, z_dim=4, crop_size=crop, aspect=aspect).train()
    h, w = net.input_size or (crop, crop)
    label_map = torch.rand(batch, 3, h, w)
    photo = net(label_map, style=torch.rand(batch, 3, h, w))[0] if vae else net(label_map)
    assert photo.shape == (batch, 3, h, w) and torch.isfinite(photo).all()


def test_an_epochs_last_batch_of_one_image_on_a_1x1_grid_is_a_one_line_error(synth32, tmp_path):
    # 7 images in batches of 3: the last batch holds one image, where batch norm has one value per channel
    proc = run_cli("train.py", "--dataroot", synth32, *SPADE, "--batch_size", "3", "--max_dataset_size", "7",
                   "--checkpoints_dir", tmp_path, "--name", "last")
    line = one_line_error(proc)
    assert "a batch of 1 image of 32x32 px" in line and "--batch_size" in line and "--crop_size 64 or more" in line


# ---- Generator(seed=...) ----------------------------------------------------------------------------------------

def global_draws() -> tuple:
    """One draw from each of the process's global generators."""
    return torch.rand(4).tolist(), np.random.rand(2).tolist(), random.random()


def seed_caller() -> None:
    torch.manual_seed(123)
    np.random.seed(45)
    random.seed(67)


def test_a_seeded_translation_repeats_and_leaves_the_callers_random_state_alone(tiny_checkpoint, synth32):
    from models.inference import Generator
    from models.options import DemoOptions

    translate = Generator(DemoOptions().parse_with_checkpoint(["--name", "tiny", "--checkpoints_dir",
                                                                str(tiny_checkpoint)]))
    assert translate.stochastic  # dropout on at test time, as test.py: the seed decides the photo
    label_map = np.asarray(Image.open(synth32 / "test" / "1.jpg").convert("RGB"))[:, 32:]
    seed_caller()
    expected = global_draws()
    seed_caller()
    first = translate(label_map, n_samples=2, seed=5)
    assert global_draws() == expected  # the caller's torch, numpy and python streams go on as if nothing happened
    again = translate(label_map, n_samples=2, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], translate(label_map, seed=6)[0])
