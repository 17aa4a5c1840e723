"""Networks: upstream parameter counts, output shapes, norms and initializations."""
from __future__ import annotations

from argparse import Namespace

import pytest
import torch
from torch import nn

from models import networks
from models.networks import count_parameters, define_D, define_G, receptive_field
from models.networks.conv import Conv2d, ConvTranspose2d


def options(**kw) -> Namespace:
    base = dict(input_nc=3, output_nc=3, ngf=64, ndf=64, norm="batch", no_dropout=False, init_type="normal",
                init_gain=0.02, netG="unet_256", netD="basic", n_layers_D=3)
    return Namespace(**{**base, **kw})


@pytest.mark.parametrize("netG,count", [("unet_256", 54_413_955), ("unet_128", 41_828_995),
                                        ("resnet_9blocks", 11_383_427)])
def test_generator_parameter_counts_equal_upstream(netG, count):
    assert count_parameters(define_G(options(netG=netG))) == count


@pytest.mark.parametrize("netD,count", [("basic", 2_768_705), ("pixel", 9_024)])
def test_discriminator_parameter_counts_equal_upstream(netD, count):
    assert count_parameters(define_D(options(netD=netD))) == count


def test_basic_discriminator_is_the_70x70_patchgan():
    net = define_D(options(ndf=8))
    assert receptive_field(net) == 70
    assert net(torch.zeros(1, 6, 256, 256)).shape == (1, 1, 30, 30)


def test_n_layers_discriminator_follows_n_layers_D():
    shallow, deep = define_D(options(netD="n_layers", n_layers_D=1, ndf=8)), define_D(options(netD="n_layers",
                                                                                                 n_layers_D=5, ndf=8))
    assert receptive_field(shallow) < receptive_field(deep)


@pytest.mark.parametrize("netG,size", [("unet_256", 256), ("unet_128", 128), ("resnet_6blocks", 64),
                                       ("resnet_9blocks", 36)])
@pytest.mark.parametrize("norm", sorted(networks.NORMS))
def test_generators_map_image_to_image_in_tanh_range(netG, size, norm):
    net = define_G(options(netG=netG, ngf=4, norm=norm, input_nc=1, output_nc=3)).eval()
    out = net(torch.randn(2, 1, size, size))
    assert out.shape == (2, 3, size, size)
    assert out.abs().max() <= 1.0


def test_dropout_switch_controls_generator_randomness():
    x = torch.randn(1, 3, 128, 128)
    with_dropout = define_G(options(netG="unet_128", ngf=4)).train()
    assert not torch.equal(with_dropout(x), with_dropout(x))
    without = define_G(options(netG="unet_128", ngf=4, no_dropout=True)).eval()
    assert torch.equal(without(x), without(x))


@pytest.mark.parametrize("init_type", sorted(networks.INIT_TYPES))
def test_init_types_initialize_every_conv(init_type):
    torch.manual_seed(0)
    net = define_G(options(netG="resnet_6blocks", ngf=8, init_type=init_type, init_gain=0.02))
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs:
        if conv.bias is not None:
            assert torch.count_nonzero(conv.bias) == 0
    stds = torch.tensor([conv.weight.detach().std() for conv in convs])
    if init_type == "normal":
        assert torch.allclose(stds, torch.full_like(stds, 0.02), rtol=0.2)
    assert stds.min() > 0


@pytest.mark.parametrize("norm,bias", [("batch", False), ("none", False), ("instance", True)])
def test_conv_bias_only_with_instance_norm_like_upstream(norm, bias):
    net = define_G(options(netG="resnet_6blocks", ngf=8, norm=norm))
    inner = [m for m in net.modules() if isinstance(m, nn.Conv2d)][:-1]  # the last conv always has a bias
    assert all((conv.bias is not None) == bias for conv in inner)


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("side", [1, 2, 8, 16])  # up to 8x8 the CPU computes a matrix product instead
@pytest.mark.parametrize("bias", [False, True])
def test_generator_convolutions_compute_what_torchs_modules_compute(transposed, side, bias):
    if side == 1 and not transposed:
        pytest.skip("a 4x4 stride-2 convolution needs at least 2x2 pixels")
    torch.manual_seed(0)
    ours = (ConvTranspose2d if transposed else Conv2d)(16, 8, 4, stride=2, padding=1, bias=bias)
    reference = (nn.ConvTranspose2d if transposed else nn.Conv2d)(16, 8, 4, stride=2, padding=1, bias=bias)
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(2, 16, side, side, requires_grad=True)
    out, expected = ours(x), reference(x)
    for layout in (x.contiguous(memory_format=torch.channels_last), x.transpose(2, 3)):  # NHWC, non-contiguous
        torch.testing.assert_close(ours(layout), reference(layout))
    torch.testing.assert_close(out, expected)
    grad = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad(out, [x, ours.weight], grad),
                    torch.autograd.grad(expected, [x, reference.weight], grad)):
        torch.testing.assert_close(a, b)
    for _ in range(2):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            torch.testing.assert_close(ours(x).float(), reference(x).float(), atol=0.05, rtol=0.05)
        with torch.no_grad():  # a changed weight (an optimizer step, a loaded checkpoint) is used from then on
            ours.weight.mul_(-1)
            reference.weight.mul_(-1)


def test_weight_noise_gives_a_unet_new_weights_at_every_pass_without_gradients():
    torch.manual_seed(0)
    net = define_G(Namespace(netG="unet_128", input_nc=3, output_nc=3, ngf=8, norm="batch", no_dropout=True,
                             init_type="normal", init_gain=0.02)).eval()
    x = torch.rand(1, 3, 128, 128) * 2 - 1
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        clean = [net(x) for _ in range(2)]
        noisy = [networks.forward_with_weight_noise(net, x, 0.2) for _ in range(3)]
    assert torch.equal(clean[0], clean[1])
    assert not torch.equal(noisy[0], noisy[1]) and not torch.equal(noisy[1], noisy[2])


def test_weight_noise_on_the_cpu_depends_on_the_seed_only_not_on_the_threads(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from models.networks import noise

    count = 2 * noise.PART + 1000  # three parts, the last one short
    draws = []
    for workers in (1, 3, 3):
        monkeypatch.setattr(noise, "_pool", ThreadPoolExecutor(workers))
        torch.manual_seed(7)
        draws.append(noise.gaussians(count, torch.device("cpu")))
    assert torch.equal(draws[0], draws[1]) and torch.equal(draws[1], draws[2])
    parts = draws[0].split(noise.PART)
    assert not torch.equal(parts[0][:1000], parts[1][:1000])  # each part has its own generator
    assert abs(draws[0].mean().item()) < 0.01 and draws[0].std().item() == pytest.approx(1, abs=0.01)
    torch.manual_seed(8)
    assert not torch.equal(noise.gaussians(count, torch.device("cpu")), draws[0])


def test_weight_noise_scales_with_each_layers_spread():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 64, 3), nn.Conv2d(64, 64, 3))
    with torch.no_grad():
        net[1].weight.mul_(100)
    noisy = networks.noise.noisy_weights(net, 0.1)
    for i in (0, 1):
        w = net[i].weight.detach()
        assert (noisy[f"{i}.weight"] - w).std().item() == pytest.approx(0.1 * w.std().item(), rel=0.05)
