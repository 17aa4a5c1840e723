"""Images of any size at test time: reflection padding to the generator's multiple, test.py --input, Generator
keep_size, and 1-channel outputs saved as 1-channel PNGs."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from conftest import one_line_error, run_cli
from PIL import Image

from models.networks import crop_box, next_multiple, pad_to_multiple

UNET = ["--netG", "unet_128", "--ngf", "4", "--ndf", "4", "--load_size", "128", "--crop_size", "128",
        "--display_id", "0", "--direction", "BtoA", "--n_epochs", "1", "--n_epochs_decay", "0"]


@pytest.fixture(scope="module")
def unet(synth32, tmp_path_factory):
    """Checkpoints of a tiny unet_128 (sides must be multiples of 128): 'rgb' with 3 output channels, 'gray' with
    --output_nc 1."""
    ckpt = tmp_path_factory.mktemp("unet")
    for name, extra in (("rgb", []), ("gray", ["--output_nc", "1"])):
        run_cli("train.py", "--dataroot", synth32, "--name", name, *UNET, *extra, "--checkpoints_dir", ckpt,
                check=True)
    return synth32, ckpt


def test_padding_reflects_evenly_and_crops_back():
    x = torch.arange(6.0).view(1, 1, 2, 3)  # [[0 1 2], [3 4 5]]
    padded, box = pad_to_multiple(x, 4)
    assert padded.shape == (1, 1, 4, 4) and box == (1, 0, 2, 3)
    # one row above and one below (mirrored), one column at the right
    assert padded[0, 0].tolist() == [[3, 4, 5, 4], [0, 1, 2, 1], [3, 4, 5, 4], [0, 1, 2, 1]]
    assert torch.equal(crop_box(padded, box), x)
    assert next_multiple(5, 4) == 8 and next_multiple(8, 4) == 8 and next_multiple(1, 256) == 256


def test_padding_goes_beyond_the_picture_and_repeats_a_single_pixel():
    x = torch.rand(2, 3, 5, 1)
    padded, box = pad_to_multiple(x, 32)  # 27 rows to add to 5: several rounds of mirroring
    assert padded.shape == (2, 3, 32, 32) and torch.equal(crop_box(padded, box), x)
    assert torch.equal(padded[..., :, 0], padded[..., :, 31])  # a one-pixel-wide column repeated
    rows = set(padded[0, 0, :, 0].tolist())
    assert rows == set(x[0, 0, :, 0].tolist())  # mirrored rows: no value that is not in the picture


def test_input_folder_is_translated_at_each_images_own_size(unet, tmp_path):
    _, ckpt = unet
    inputs = tmp_path / "maps"
    (inputs / "sub").mkdir(parents=True)
    sizes = {"wide.png": (300, 77), "tiny.jpg": (5, 1), "sub/square.png": (128, 128)}
    rng = np.random.default_rng(0)
    for name, (w, h) in sizes.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(inputs / name)
    (inputs / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    proc = run_cli("test.py", "--name", "rgb", "--checkpoints_dir", ckpt, "--input", inputs, "--output", out,
                   check=True)
    assert "translated 3 image(s)" in proc.stdout
    written = {p.relative_to(out).as_posix(): Image.open(p) for p in out.rglob("*.png")}
    assert {k: v.size for k, v in written.items()} == {"wide.png": (300, 77), "tiny.png": (5, 1),
                                                       "sub_square.png": (128, 128)}
    assert all(img.mode == "RGB" for img in written.values())
    assert [p.name for p in out.glob(".*")] == [".dlim-outputs.json"]  # no temporary files left, only the record


@pytest.mark.slow
def test_input_matches_the_dataset_path_and_resizes_back_with_preprocess(unet, tmp_path):
    data, ckpt = unet
    label = Image.open(sorted((data / "test").iterdir())[0])
    label = label.crop((label.width // 2, 0, label.width, label.height)).resize((128, 128), Image.NEAREST)
    (tmp_path / "maps").mkdir()
    label.save(tmp_path / "maps" / "map.png")
    run_cli("test.py", "--name", "rgb", "--checkpoints_dir", ckpt, "--input", tmp_path / "maps" / "map.png",
            "--output", tmp_path / "own", "--eval", check=True)
    run_cli("test.py", "--dataroot", tmp_path / "maps", "--dataset_mode", "single", "--name", "rgb",
            "--checkpoints_dir", ckpt, "--results_dir", tmp_path / "res", "--eval", check=True)
    own = np.asarray(Image.open(tmp_path / "own" / "map.png"))
    paged = np.asarray(Image.open(tmp_path / "res" / "rgb" / "test_latest" / "images" / "map_fake_B.png"))
    assert np.array_equal(own, paged)  # one generator, one result, whichever way test.py is called
    # --preprocess given: translated at the training size, then the photo is scaled back to the input's size
    label.resize((200, 90)).save(tmp_path / "in2.png")
    run_cli("test.py", "--name", "rgb", "--checkpoints_dir", ckpt, "--input", tmp_path / "in2.png", "--output",
            tmp_path / "scaled", "--preprocess", "resize_and_crop", check=True)
    assert Image.open(tmp_path / "scaled" / "in2.png").size == (200, 90)


def test_dataset_with_preprocess_none_is_padded_not_refused(unet, tmp_path):
    _, ckpt = unet
    test_dir = tmp_path / "odd" / "test"
    test_dir.mkdir(parents=True)
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (45, 2 * 70, 3), dtype=np.uint8)).save(test_dir / "1.png")  # A|B, 70x45
    run_cli("test.py", "--dataroot", tmp_path / "odd", "--name", "rgb", "--checkpoints_dir", ckpt, "--results_dir",
            tmp_path / "res", "--preprocess", "none", check=True)
    images = tmp_path / "res" / "rgb" / "test_latest" / "images"
    assert Image.open(images / "1_fake_B.png").size == Image.open(images / "1_real_B.png").size == (70, 45)


@pytest.mark.slow
def test_one_channel_outputs_are_one_channel_pngs(unet, tmp_path):
    data, ckpt = unet
    run_cli("test.py", "--dataroot", data, "--name", "gray", "--checkpoints_dir", ckpt, "--results_dir", tmp_path,
            "--num_test", "1", check=True)
    images = tmp_path / "gray" / "test_latest" / "images"
    assert Image.open(next(images.glob("*_fake_B.png"))).mode == "L"
    assert Image.open(next(images.glob("*_real_A.png"))).mode == "RGB"
    Image.new("RGB", (33, 20), (10, 200, 30)).save(tmp_path / "m.png")
    run_cli("test.py", "--name", "gray", "--checkpoints_dir", ckpt, "--input", tmp_path / "m.png", "--output",
            tmp_path / "o", check=True)
    out = Image.open(tmp_path / "o" / "m.png")
    assert out.mode == "L" and out.size == (33, 20)


@pytest.mark.parametrize(("args", "expect"), [
    (["--input", "{tmp}/missing"], r"--input .*missing does not exist"),
    (["--input", "{tmp}/notes.txt"], r"--input .*notes\.txt is not an image file"),
    (["--input", "{tmp}/empty"], r"--input .*empty holds no images"),
    (["--input", "{tmp}", "--dataroot", "{tmp}"], r"--input and --dataroot both given"),
    (["--input", "{tmp}", "--output", "{tmp}/out"], r"--output puts files into .*out, where test.py reads its inputs"),
    (["--dataroot", "{data}", "--output", "{tmp}/out"], r"--output goes with --input"),
])
@pytest.mark.slow
def test_input_mistakes_are_one_line_errors(unet, tmp_path, args, expect):
    data, ckpt = unet
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    args = [a.format(tmp=tmp_path, data=data) for a in args]
    line = one_line_error(run_cli("test.py", "--name", "rgb", "--checkpoints_dir", ckpt, *args))
    assert re.search(expect, line), line


def test_translator_keep_size_translates_at_the_maps_own_size(unet):
    from models.inference import Generator
    from models.options import DemoOptions

    _, ckpt = unet
    translator = Generator(DemoOptions().parse_with_checkpoint(["--name", "rgb", "--checkpoints_dir", str(ckpt)]))
    label_map = np.zeros((50, 70, 3), np.uint8)
    assert translator(label_map)[0].shape == (128, 128, 3)  # the training size, as the demo's canvas
    assert translator(label_map, keep_size=True)[0].shape == (50, 70, 3)
