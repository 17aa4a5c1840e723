"""Class inputs (--label_nc, util/labels.py), SPADE's generator (--netG spade) and --model spade."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY, one_line_error, run_cli
from PIL import Image

from util.errors import UserError
from util.labels import LabelCoder
from util.palettes import PALETTES

FACADES = PALETTES["facades"].class_colours()
# train.py flags of a tiny SPADE on 32x32 crops (the default D needs 95 px)
SPADE = [*TINY, "--model", "spade", "--netG", "spade", "--label_nc", "12", "--n_layers_D", "2", "--num_D", "1",
         "--lambda_perceptual", "0", "--gpu_ids", "-1"]


def coder(label_nc: int = 12, palette: str = "facades", dontcare: bool = False) -> LabelCoder:
    return LabelCoder(argparse.Namespace(label_nc=label_nc, palette=palette, dontcare=dontcare,
                                         label_threshold=200.0, dataroot=""))


def image(pixels) -> Image.Image:
    return Image.fromarray(np.array(pixels, np.uint8))


def test_palette_colours_are_classes_and_jpeg_noise_goes_to_the_nearest() -> None:
    window, shop = FACADES[2].astype(int), FACADES[11].astype(int)
    ids, unknown = coder().class_ids(image([[window, window + (9, -7, -5), shop, shop + (20, 15, 0)]]), "a.jpg")
    assert ids.tolist() == [[2, 2, 11, 11]] and unknown == 0


def test_a_colour_of_no_class_names_the_file_or_becomes_the_dontcare_class() -> None:
    magenta = (255, 0, 255)  # 255 away from the nearest facades colour (pillar, 255 0 0)
    pixels = image([[FACADES[0], magenta, magenta]])
    with pytest.raises(UserError, match=r"b\.jpg: 2 label-map pixels .*--dontcare"):
        coder().class_ids(pixels, "b.jpg")
    ids, unknown = coder(dontcare=True).class_ids(pixels, "b.jpg")
    assert ids.tolist() == [[0, 12, 12]] and unknown == 2


def test_label_nc_must_be_the_palettes_number_of_classes() -> None:
    with pytest.raises(UserError, match="--palette facades has 12 classes.*--label_nc 12"):
        coder(label_nc=10)
    assert coder(label_nc=20, palette="cityscapes").class_ids(image([[(111, 74, 0)]]), "c.png")[0].tolist() == [[19]]


def test_id_label_maps_read_grey_levels_as_class_ids() -> None:
    ids, unknown = coder(35, "ids", dontcare=True).class_ids(image([[0, 7, 34, 40]]), "d.png")
    assert ids.tolist() == [[0, 7, 34, 35]] and unknown == 1  # 40 is no class of 35: the dontcare class
    with pytest.raises(UserError, match="d.png: --palette ids reads grey label maps"):
        coder(35, "ids").class_ids(image([[FACADES[0]]]), "d.png")


def test_one_hot_inputs_and_their_colours() -> None:
    labels = coder(dontcare=True)
    one_hot = labels.one_hot(torch.tensor([[0, 11], [12, 5]], dtype=torch.uint8))
    assert one_hot.shape == (13, 2, 2) and one_hot.sum(0).eq(1).all() and one_hot[11, 0, 1] == 1
    rgb = ((labels.colorize(one_hot[None])[0] + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0)
    assert rgb[0, 1].tolist() == list(FACADES[11]) and rgb[1, 0].tolist() == [255, 255, 255]


# SPADE's own code (NVlabs/SPADE, models/networks/generator.py and encoder.py) counts these parameters; the style
# encoder of --use_vae is counted apart, as SPADE's netE.
SPADE_COUNTS = [  # label_nc, crop_size, ngf, --num_upsampling_layers, --use_vae, aspect -> G, E
    (12, 128, 64, "normal", False, 1.0, 92_329_155, 0),
    (35, 256, 64, "normal", False, 2.0, 93_018_051, 0),
    (12, 256, 64, "most", False, 1.0, 92_768_867, 0),
    (12, 256, 64, "normal", True, 1.0, 109_060_291, 10_463_424),
    (12, 128, 32, "normal", True, 1.0, 31_659_747, 3_075_424),
    (20, 256, 16, "normal", False, 2.0, 10_945_011, 0),
]


@pytest.mark.parametrize("label_nc, crop, ngf, depth, vae, aspect, g_count, e_count", SPADE_COUNTS)
def test_spade_generator_has_spades_parameter_count(label_nc, crop, ngf, depth, vae, aspect, g_count,
                                                    e_count) -> None:
    from models.networks import SPADEGenerator, count_parameters

    net = SPADEGenerator(label_nc, 3, ngf, depth, vae, 256, crop, aspect)
    encoder = count_parameters(net.encoder) if vae else 0
    assert (count_parameters(net) - encoder, encoder) == (g_count, e_count)


def test_spade_generator_upsamples_from_the_label_map_at_any_size() -> None:
    from models.networks import SPADEGenerator

    net = SPADEGenerator(12, 3, ngf=4, depth="more").eval()
    label_map = coder().one_hot(torch.randint(0, 12, (2, 128, 192)))
    assert net(label_map).shape == (2, 3, 128, 192) and net.size_multiple == 64


def train_options(dataroot: Path, *flags: str):
    from training.options import TrainOptions

    return TrainOptions().parse(["--dataroot", str(dataroot), *flags])


def test_dataset_gives_one_hot_inputs_resized_by_nearest_and_cached_as_ids(synth32: Path) -> None:
    from data import DataPipeline

    opt = train_options(synth32, *TINY, "--label_nc", "12", "--load_size", "45", "--gpu_ids", "-1",
                        "--batch_size", "4", "--cache_dataset", "off")
    assert opt.input_nc == 12 and opt.palette == "facades"
    plain, cached = DataPipeline(opt), DataPipeline(_with(opt, cache_dataset="on"))
    assert cached.cache is not None and cached.cache.A[0].dtype == torch.uint8 and cached.cache.A[0].shape[0] == 1
    for pipeline in (plain, cached):
        pipeline.set_epoch(1)
    for a, b in zip(plain, cached):
        assert a["A"].shape == (4, 12, 32, 32) and a["A"].sum(1).eq(1).all()  # exactly one class a pixel
        assert torch.equal(a["A"], b["A"]) and torch.allclose(a["B"], b["B"], atol=2 / 255 * 2)
    src, _ = plain.dataset.load_pair(0)
    full = set(np.unique(plain.dataset.labels.class_ids(src, "0")[0]).tolist())
    assert set(plain.dataset[(0, 0)]["A"].argmax(0).unique().tolist()) <= full  # nearest: no class made up


def _with(opt, **values):
    from options.parser import Options

    fresh = Options(**{k: v for k, v in vars(opt).items() if not k.startswith("_")})
    for key, value in values.items():
        setattr(fresh, key, value)
    return fresh.freeze()


def test_spade_recipe_trains_with_ttur_and_adam_0_09(synth32: Path) -> None:
    from models import create_model
    from training.trainer import Trainer

    opt = train_options(synth32, *SPADE, "--ngf", "4", "--batch_size", "2")  # 32 px: a 1x1 grid, 2 images a batch
    assert (opt.netD, opt.gan_mode, opt.lambda_feat, opt.lambda_L1, opt.norm) == ("multiscale", "hinge", 10, 0,
                                                                                   "instance")
    trainer = Trainer(create_model(opt), opt)
    groups = {name: o.param_groups[0] for name, o in trainer.optimizers.items()}
    assert groups["G"]["lr"] == pytest.approx(1e-4) and groups["D"]["lr"] == pytest.approx(4e-4)
    assert groups["G"]["betas"] == (0.0, 0.9) == groups["D"]["betas"]


@pytest.mark.slow
def test_wrong_label_nc_or_palette_is_a_one_line_error(synth32: Path, tmp_path: Path) -> None:
    proc = run_cli("train.py", "--dataroot", synth32, *TINY, "--label_nc", "10", "--checkpoints_dir", tmp_path)
    assert "--label_nc 12" in one_line_error(proc)
    proc = run_cli("train.py", "--dataroot", synth32, *TINY, "--label_nc", "12", "--direction", "AtoB",
                   "--checkpoints_dir", tmp_path, "--n_epochs", "1", "--n_epochs_decay", "0")  # photos as label maps
    assert "--direction BtoA" in one_line_error(proc) and not (tmp_path / "experiment_name").exists()


@pytest.fixture(scope="module")
def spade_vae(synth32: Path, tmp_path_factory) -> Path:
    """Checkpoints folder of 'spade': --model spade --use_vae, one epoch on synth32, with --ema and validation."""
    ckpt = tmp_path_factory.mktemp("spade_vae")
    run_cli("train.py", "--dataroot", synth32, *SPADE, "--ngf", "8", "--use_vae", "--name", "spade",
            "--checkpoints_dir", ckpt, "--n_epochs", "1", "--n_epochs_decay", "0", "--batch_size", "2",
            "--print_freq", "4", "--ema", "--val_freq", "1", "--val_metrics", "l1", "--val_metric", "l1", check=True)
    return ckpt


@pytest.mark.slow
def test_spade_with_style_encoder_gives_several_photos_per_label_map(synth32: Path, spade_vae: Path,
                                                                     tmp_path: Path) -> None:
    assert "G_KL" in (spade_vae / "spade" / "loss_log.txt").read_text()
    outputs = []
    for run in ("a", "b"):
        run_cli("test.py", "--dataroot", synth32, "--name", "spade", "--checkpoints_dir", spade_vae, "--results_dir",
                tmp_path / run, "--n_samples", "2", "--seed", "3", "--gpu_ids", "-1", check=True)
        images = tmp_path / run / "spade" / "test_latest" / "images"
        outputs.append([np.asarray(Image.open(images / f"1_fake_B_{k}.png")) for k in (1, 2)])
        shown = np.asarray(Image.open(images / "1_real_A.png")).reshape(-1, 3)
        assert (shown[:, None] == FACADES[None]).all(-1).any(-1).all()  # the class map, in the palette's colours
    assert not np.array_equal(*outputs[0])  # two style codes, two photos
    assert all(np.array_equal(x, y) for x, y in zip(*outputs))  # the same seed, the same photos
    shown = np.asarray(Image.open(spade_vae / "spade" / "val" / "images" / "1_real_A.png")).reshape(-1, 3)
    assert (shown[:, None] == FACADES[None]).all(-1).any(-1).all()


def test_test_py_refuses_other_classes_than_the_checkpoints(synth32: Path, spade_vae: Path, tmp_path: Path) -> None:
    proc = run_cli("test.py", "--dataroot", synth32, "--name", "spade", "--checkpoints_dir", spade_vae,
                   "--results_dir", tmp_path, "--label_nc", "20", "--palette", "cityscapes", "--gpu_ids", "-1")
    assert "--label_nc" in one_line_error(proc)


def test_demo_paints_classes_and_samples_styles(synth32: Path, spade_vae: Path) -> None:
    from demo import LabelPainter
    from models.inference import Generator
    from models.options import DemoOptions

    opt = DemoOptions().parse(["--name", "spade", "--checkpoints_dir", str(spade_vae), "--gpu_ids", "-1"])
    painter = LabelPainter(opt, Generator(opt))
    canvas = painter.blank()
    stroke = np.zeros((*canvas.shape[:2], 4), np.uint8)
    stroke[8:24, 8:24] = (*FACADES[2], 255)  # a window
    first, _ = painter.generate({"background": canvas, "layers": [stroke]}, n_samples=2, seed=5)
    again, _ = painter.generate({"background": canvas, "layers": [stroke]}, n_samples=2, seed=5)
    assert len(first) == 2 and not np.array_equal(*first)
    assert all(np.array_equal(x, y) for x, y in zip(first, again))


@pytest.mark.parametrize("net", ["unet_128", "resnet_6blocks", "spade"])
def test_every_generator_and_discriminator_reads_class_inputs(synth32: Path, net: str) -> None:
    from models import networks

    for netD in sorted(networks.DISCRIMINATORS):
        opt = train_options(synth32, *TINY, "--netG", net, "--netD", netD, "--label_nc", "12", "--dontcare",
                            "--ngf", "4", "--ndf", "4", "--crop_size", "128", "--load_size", "128", "--n_layers_D", "2")
        one_hot = coder(dontcare=True).one_hot(torch.randint(0, 13, (1, 128, 128)))
        fake = networks.define_G(opt)(one_hot)
        assert fake.shape == (1, 3, 128, 128) and opt.input_nc == 13
        prediction = networks.define_D(opt)(torch.cat([one_hot, fake], 1))
        assert all(torch.isfinite(p).all() for p in (prediction if isinstance(prediction, list) else [prediction]))
