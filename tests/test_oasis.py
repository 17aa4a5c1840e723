"""OASIS: the segmentation discriminator (--netD oasis) and its class-balanced loss, LabelMix, the generator's 3D
noise (--noise_3d) and --model oasis, down to test.py --n_samples, export.py and the diversity metrics."""
from __future__ import annotations

import json
import math
from argparse import Namespace

import numpy as np
import pytest
import torch
from conftest import TINY, one_line_error, run_cli
from PIL import Image

from models import create_model
from models.networks import (
    NoiseInput,
    OASISDiscriminator,
    define_D,
    define_G,
    labelmix_mask,
    min_input_side,
    segmentation_loss,
)
from models.networks.oasis import class_targets
from training.options import TrainOptions
from training.trainer import Trainer
from util.errors import UserError


def one_hot(ids: list[list[int]], classes: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor([ids]), classes).movedim(-1, 1).float()


def test_classes_weigh_by_their_inverse_frequency_and_empty_pixels_not_at_all():
    labels = one_hot([[0, 0], [0, 1]], 3)  # class 0 on 3 pixels, class 1 on 1, class 2 absent
    labels[0, :, 0, 1] = 0  # a pixel with no class (DiffAugment's fill): 2 of class 0 are left
    targets, weights = class_targets(labels, dontcare=False)
    assert targets.tolist() == [[[1, 1], [1, 2]]]  # class c -> c + 1 (0 is "fake")
    # 3 pixels with a class, 2 classes: class 0 weighs 3 / (2 x 2), class 1 weighs 3 / (2 x 1)
    assert weights.tolist() == [[[0.75, 0.0], [0.75, 1.5]]]
    _, weights = class_targets(labels, dontcare=True)  # the last class is "don't care"
    assert weights[0, 1, 1] == 1.5 and weights[0, 0, 0] == 0.75
    _, weights = class_targets(one_hot([[0, 2], [2, 2]], 3), dontcare=True)
    assert weights.tolist() == [[[4.0, 0.0], [0.0, 0.0]]]


def test_the_loss_is_balanced_cross_entropy_to_the_classes_or_to_fake():
    labels = one_hot([[0, 0], [0, 1]], 3)
    logits = torch.zeros(1, 4, 2, 2)  # uniform over fake + 3 classes: a pixel costs log 4...
    logits[0, 2, 1, 1] = 2.0  # ...but the class-1 pixel, whose class D favours: log(1 + 3 / e^2)
    # weights 4 / (2 x 3) for the three class-0 pixels, 4 / (2 x 1) for the class-1 one; mean over the 4 pixels
    balanced = (3 * 4 / 6 * math.log(4) + 4 / 2 * math.log(1 + 3 * math.exp(-2))) / 4
    assert segmentation_loss(logits, labels, real=True).item() == pytest.approx(balanced)
    logits[0, 2, 1, 1] = 0.0
    assert segmentation_loss(logits, labels, real=False).item() == pytest.approx(math.log(4))
    logits[:, 0] = 20  # D sure it is fake: cheap as fake, dear as real
    assert segmentation_loss(logits, labels, real=False) < 1e-6 < 10 < segmentation_loss(logits, labels, True)


def test_labelmix_takes_each_class_region_whole_from_one_photo():
    labels = one_hot([[0, 0, 1, 1], [2, 2, 1, 1]], 3).repeat(64, 1, 1, 1)
    masks = labelmix_mask(labels)
    assert masks.shape == (64, 1, 2, 4) and set(masks.unique().tolist()) == {0.0, 1.0}
    assert (masks[:, 0, 0, 0] == masks[:, 0, 0, 1]).all() and (masks[:, 0, 0, 2] == masks[:, 0, 1, 3]).all()
    assert 0 < masks[:, 0, 0, 0].mean() < 1  # a coin per class and image


def oasis_options(**kw) -> Namespace:
    base = dict(input_nc=5, output_nc=3, ndf=8, label_nc=5, norm="instance", init_type="xavier", init_gain=0.02,
                netD="oasis", oasis_levels=3, dontcare=False)
    return Namespace(**{**base, **kw})


def test_the_discriminator_segments_the_photo_alone():
    netD = define_D(oasis_options()).eval()  # (no power iteration between the two calls)
    assert isinstance(netD, OASISDiscriminator) and min_input_side(netD) == 8
    x = torch.rand(2, 8, 32, 32)
    out = netD(x)
    assert out.shape == (2, 6, 32, 32)  # fake + 5 classes at every pixel
    other = x.clone()
    other[:, :5] = torch.rand(2, 5, 32, 32)  # another label map, the same photo
    assert torch.equal(netD(other), out)
    assert all(hasattr(m, "parametrizations") for m in netD.modules() if isinstance(m, torch.nn.Conv2d))


def generator_options(**kw) -> Namespace:
    base = dict(input_nc=5, output_nc=3, ngf=4, norm="instance", init_type="normal", init_gain=0.02,
                netG="unet_128", no_dropout=True, noise_3d=6)
    return Namespace(**{**base, **kw})


def test_3d_noise_gives_each_call_another_photo_and_given_noise_the_same():
    netG = define_G(generator_options())
    assert isinstance(netG, NoiseInput) and netG.size_multiple == 128
    assert netG.net.model.model[0].in_channels == 5 + 6  # built for the classes and the noise
    x = torch.rand(1, 5, 128, 128)
    assert not torch.allclose(netG(x), netG(x))
    z = torch.randn(1, 6)
    assert torch.equal(netG(x, z=z), netG(x, z=z))
    assert list(netG.state_dict())[0].startswith("net.")


def test_noise_3d_and_a_style_encoder_are_refused_together():
    with pytest.raises(UserError, match="--noise_3d 6 and --use_vae .* pass --noise_3d 0 to use --use_vae"):
        define_G(generator_options(netG="spade", use_vae=True, num_upsampling_layers="normal", z_dim=8,
                                   crop_size=128, image_aspect=1.0))


def train_options(*extra: str) -> Namespace:
    return TrainOptions().parse(["--dataroot", "unused", "--gpu_ids", "-1", "--display_id", "0", "--netG",
                                 "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--label_nc", "12", "--palette",
                                 "facades", "--oasis_levels", "3", *extra])


@pytest.mark.parametrize("netD, member, dontcare", [("oasis", "", []), ("basic,oasis", "_oasis", []),
                                                   ("oasis", "", ["--dontcare"])])
def test_a_step_with_labelmix_trains_the_segmenter(netD, member, dontcare):
    torch.manual_seed(0)
    opt = train_options("--netD", netD, "--lambda_labelmix", "10", "--noise_3d", "4",
                        "--diffaug", "translation,cutout", *dontcare)
    trainer = Trainer(create_model(opt), opt)
    classes = 12 + len(dontcare)  # --dontcare: one more class, which D segments too but which weighs nothing
    ids = torch.randint(0, classes, (2, 32, 32))
    batch = {"A": torch.nn.functional.one_hot(ids, classes).movedim(-1, 1).float(),
             "B": torch.rand(2, 3, 32, 32) * 2 - 1, "A_paths": ["a", "b"]}
    oasis = trainer.model.netD if not member else trainer.model.netD.nets["oasis"]
    assert oasis.classify.out_channels == 1 + classes
    before = [p.clone() for p in oasis.parameters()]
    trainer.train_step(batch)
    losses = trainer.current_losses()
    assert {f"G_GAN{member}", f"D_fake{member}", f"D_real{member}", "D_labelmix"} <= set(losses)
    assert all(math.isfinite(v) for v in losses.values()) and losses["D_labelmix"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, oasis.parameters()))


def test_oasis_model_defaults_are_oasis_recipe():
    opt = TrainOptions().parse(["--dataroot", "unused", "--gpu_ids", "-1", "--model", "oasis", "--label_nc", "12",
                                "--palette", "facades"])
    assert (opt.netG, opt.netD, opt.noise_3d, opt.lambda_labelmix, opt.lambda_L1, opt.lambda_perceptual) == \
        ("spade", "oasis", 64, 10.0, 0.0, 0.0)
    assert (opt.beta1, opt.beta2, opt.lr_G, opt.lr_D, opt.ema) == (0.0, 0.999, 1e-4, 4e-4, 0.9999)
    # the one departure from OASIS (its D does not learn at batch 1 without it); --diffaug none gives OASIS's own
    assert opt.diffaug == "translation,cutout"
    plain = TrainOptions().parse(["--dataroot", "unused", "--gpu_ids", "-1", "--model", "oasis", "--label_nc", "12",
                                  "--palette", "facades", "--diffaug", "none"])
    assert plain.diffaug == ""


def test_netD_oasis_needs_class_inputs(synth32, tmp_path):
    proc = run_cli("train.py", "--dataroot", synth32, "--checkpoints_dir", tmp_path, *TINY, "--netD", "oasis")
    assert "--netD oasis" in (line := one_line_error(proc)) and "--label_nc" in line


@pytest.mark.parametrize("flags, message", [
    (["--crop_size", "28"], "--netD oasis (--oasis_levels 3) needs image sides that are multiples of 8, got 28x28"),
    (["--oasis_levels", "6"], "--netD oasis (--oasis_levels 6) needs images of at least 64x64 px, got 32x32"),
])
def test_sizes_the_segmenter_cannot_take_are_one_line_errors(synth32, tmp_path, flags, message):
    proc = run_cli("train.py", "--dataroot", synth32, "--checkpoints_dir", tmp_path, *TINY, "--netD", "oasis",
                   "--label_nc", "12", "--oasis_levels", "3", *flags)
    line = one_line_error(proc)
    assert message in line and "--oasis_levels" in line.split(":")[-1]


# ---- through train.py, test.py, export.py and evaluate.py ----------------------------------------------------

@pytest.mark.slow
def test_oasis_trains_resumes_and_gives_k_photos_per_label_map(tmp_path):
    data = tmp_path / "data"
    run_cli("datasets/make_synthetic_dataset.py", "--out", data, "--size", "64", "--n_train", "4", "--n_val", "1",
            "--n_test", "2", check=True)
    common = ["--dataroot", data, "--checkpoints_dir", tmp_path, "--name", "oasis", "--model", "oasis",
              "--label_nc", "12", "--ngf", "4", "--ndf", "4", "--noise_3d", "8", "--load_size", "64", "--crop_size",
              "64", "--batch_size", "2", "--direction", "BtoA", "--display_id", "0", "--n_epochs_decay", "0",
              "--print_freq", "2"]
    run_cli("train.py", *common, "--n_epochs", "1", check=True)
    logged = json.loads((tmp_path / "oasis" / "loss_log.jsonl").read_text().splitlines()[-1])
    assert {"G_GAN", "D_fake", "D_real", "D_labelmix"} <= set(logged) and "G_L1" not in logged
    line = one_line_error(run_cli("train.py", *common, "--n_epochs", "2", "--noise_3d", "16", "--continue_train"))
    assert "--noise_3d 16" in line
    run_cli("train.py", *common, "--n_epochs", "2", "--lambda_labelmix", "5", "--continue_train", check=True)
    results = tmp_path / "results"
    run_cli("test.py", "--dataroot", data, "--checkpoints_dir", tmp_path, "--name", "oasis", "--direction", "BtoA",
            "--n_samples", "3", "--seed", "1", "--results_dir", results, check=True)
    images = results / "oasis" / "test_latest" / "images"
    samples = [np.asarray(Image.open(images / f"1_fake_B_{k}.png"), dtype=float) for k in (1, 2, 3)]
    assert all(np.abs(a - b).mean() > 0 for a, b in zip(samples, samples[1:]))  # three photos of one label map
    proc = run_cli("evaluate.py", "--results_dir", images, "--metrics", "diversity_l1", check=True)
    assert "diversity_l1" in proc.stdout
    proc = run_cli("export.py", "--checkpoints_dir", tmp_path, "--name", "oasis", "--out", tmp_path / "g.onnx",
                   "--dynamic", check=True)  # checked at another batch size and image size too
    assert "exported" in proc.stdout
    import onnx
    names = [i.name for i in onnx.load(str(tmp_path / "g.onnx")).graph.input]
    assert names == ["real_A", "z"]  # the noise vectors are an input of the file
