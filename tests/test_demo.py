"""The label-painting demo without a browser: palettes and snapping, label map -> generator -> photo, the CLI."""
from __future__ import annotations

import socket

import numpy as np
import pytest
import torch
from conftest import one_line_error, run_cli
from PIL import Image

import demo
from models.inference import Generator
from models.options import DemoOptions
from util.errors import UserError
from util.palettes import CITYSCAPES_PALETTE, FACADES_PALETTE, PALETTES, guess_palette, snap_to_colours

FACADES = PALETTES["facades"]
BACKGROUND, FACADE, WINDOW = (np.array(FACADES_PALETTE[k], np.uint8) for k in ("background", "facade", "window"))


def translator(ckpt, *flags: str) -> Generator:
    """The generator of experiment 'tiny' in ckpt, with demo.py's options."""
    return Generator(DemoOptions().parse_with_checkpoint(["--name", "tiny", "--checkpoints_dir", str(ckpt), *flags]))


def label_half(dataroot, name: str = "1.jpg") -> np.ndarray:
    """The label map (right half, BtoA) of a synthetic test image, as it is in the file."""
    ab = np.asarray(Image.open(dataroot / "test" / name).convert("RGB"))
    return ab[:, ab.shape[1] // 2:]


# --- palettes and snapping ---

def test_palettes_have_the_dataset_classes_by_name_and_colour():
    assert list(FACADES.classes)[:3] == ["background", "facade", "window"] and len(FACADES.classes) == 12
    city = PALETTES["cityscapes"].classes
    assert len(city) == 20 and list(city)[-1] == "void" and city["void"] == (0, 0, 0)  # 19 classes and void
    assert city["road"] == (128, 64, 128) and city["car"] == (0, 0, 142) and city["bicycle"] == (119, 11, 32)
    for palette in PALETTES.values():
        assert len(set(palette.classes.values())) == len(palette.classes)  # a colour names one class
    assert CITYSCAPES_PALETTE is city
    assert guess_palette("../shared/data/cityscapes_sample") == "cityscapes"
    assert guess_palette("./datasets/facades") == guess_palette(None) == guess_palette("/data/synth") == "facades"


def test_snapping_gives_the_nearest_palette_colour_and_keeps_exact_ones():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    image[0, :12] = FACADES.class_colours()
    snapped = FACADES.snap(image)
    colours = FACADES.class_colours().astype(int)
    distances = ((image[:, :, None].astype(int) - colours[None, None]) ** 2).sum(-1)
    assert np.array_equal(snapped, colours[distances.argmin(-1)])
    assert np.array_equal(snapped[0, :12], FACADES.class_colours())
    jpeg_noise = np.clip(WINDOW.astype(int) + rng.integers(-12, 13, (8, 8, 3)), 0, 255).astype(np.uint8)
    assert (snap_to_colours(jpeg_noise, FACADES.class_colours()) == WINDOW).all()


def test_cityscapes_snapping_keeps_the_unpainted_official_colours():
    ground = np.full((2, 2, 3), (81, 0, 81), np.uint8)  # an official label colour, but no training class
    assert (PALETTES["cityscapes"].snap(ground) == (81, 0, 81)).all()


def test_painted_strokes_snap_to_one_class_and_never_blend_into_a_third():
    background = FACADES.blank_map((16, 16))
    layer = np.zeros((16, 16, 4), np.uint8)
    layer[4:12, 4:12] = (*WINDOW, 255)
    layer[3, 4:12] = (3, 125, 252, 200)  # anti-aliased edge: mostly covered, colour rounded off
    layer[12, 4:12] = (9, 119, 247, 90)  # faint edge
    composite = (background * (1 - layer[..., 3:] / 255) + layer[..., :3] * (layer[..., 3:] / 255)).astype(np.uint8)
    assert (FACADES.snap(composite[12:13, 4:12]) == FACADE).all()  # why strokes are not snapped after blending

    label_map = FACADES.paint(background, [layer])
    assert (label_map[3:12, 4:12] == WINDOW).all()
    assert (label_map[12] == BACKGROUND).all() and (label_map[:, :4] == BACKGROUND).all()
    assert {tuple(c) for c in label_map.reshape(-1, 3)} == {tuple(BACKGROUND), tuple(WINDOW)}


def test_layers_of_another_size_are_scaled_onto_the_label_map():
    layer = np.zeros((64, 64, 4), np.uint8)
    layer[:, 32:] = (*WINDOW, 255)
    label_map = FACADES.paint(FACADES.blank_map((16, 16)), [layer])
    assert (label_map[:, 8:] == WINDOW).all() and (label_map[:, :8] == BACKGROUND).all()


# --- label map -> generator -> photo ---

def test_translator_gives_the_photo_of_test_py(tiny_checkpoint, synth32, tmp_path):
    run_cli("test.py", "--dataroot", synth32, "--name", "tiny", "--checkpoints_dir", tiny_checkpoint, "--eval",
            "--results_dir", tmp_path, check=True)
    expected = np.asarray(Image.open(tmp_path / "tiny" / "test_latest" / "images" / "1_fake_B.png"))
    gen = translator(tiny_checkpoint, "--eval")
    assert gen.size == (32, 32) and not gen.stochastic
    [photo] = gen(label_half(synth32))
    assert photo.shape == (32, 32, 3) and photo.dtype == np.uint8
    assert np.abs(photo.astype(int) - expected).max() <= 1


def test_stochastic_generator_samples_differ_and_a_seed_repeats_them(tiny_checkpoint, synth32):
    gen = translator(tiny_checkpoint)  # as test.py: dropout on at test time
    assert gen.stochastic
    label_map = label_half(synth32)
    first = gen(label_map, n_samples=3, seed=5)
    assert len(first) == 3 and not np.array_equal(first[0], first[1])
    assert all(np.array_equal(a, b) for a, b in zip(first, gen(label_map, n_samples=3, seed=5)))
    assert not np.array_equal(first[0], gen(label_map, n_samples=1, seed=6)[0])


def test_translator_reloads_a_rewritten_checkpoint_and_reports_a_missing_one(tiny_checkpoint, tmp_path):
    (tmp_path / "tiny").mkdir()
    path = tmp_path / "tiny" / "latest_checkpoint.pth"
    path.write_bytes((tiny_checkpoint / "tiny" / "latest_checkpoint.pth").read_bytes())
    gen = translator(tmp_path, "--eval")
    label_map = FACADES.blank_map(gen.size)
    before = gen(label_map)[0]
    assert not gen.refresh()

    state = torch.load(path, weights_only=True)
    state["nets"]["G"] = {k: v * 0 if k.endswith("bias") else v for k, v in state["nets"]["G"].items()}
    torch.save(state, path)  # as training goes on and saves 'latest' again
    assert not np.array_equal(gen(label_map)[0], before)

    state["options"]["ngf"] = 16
    torch.save(state, path)  # the experiment retrained with another architecture
    with pytest.raises(UserError, match="--ngf 16"):
        gen(label_map)
    path.unlink()
    with pytest.raises(UserError, match="is gone"):
        gen(label_map)


# --- the page's actions, without the page ---

@pytest.fixture(scope="module")
def painter(tiny_checkpoint):
    opt = DemoOptions().parse_with_checkpoint(["--name", "tiny", "--checkpoints_dir", str(tiny_checkpoint)])
    return demo.LabelPainter(opt, Generator(opt))


def test_canvas_starts_from_the_label_half_of_the_training_datasets_test_images(painter, synth32):
    assert painter.opt.dataroot == str(synth32) and painter.opt.palette == "facades"
    assert list(painter.examples) == ["1.jpg", "2.jpg", "3.jpg", "4.jpg"]
    label_map = painter.example("2.jpg")
    assert np.array_equal(label_map, FACADES.snap(label_half(synth32, "2.jpg")))
    assert (painter.blank() == BACKGROUND).all() and painter.blank().shape == (32, 32, 3)


def test_a_cityscapes_dataroot_gives_the_cityscapes_palette_and_its_label_maps(tiny_checkpoint, tmp_path):
    ab = np.zeros((32, 64, 3), np.uint8)
    ab[:, 32:] = CITYSCAPES_PALETTE["road"]
    ab[:16, 32:] = np.array(CITYSCAPES_PALETTE["sky"]) + 3  # JPEG-like error
    (tmp_path / "cityscapes" / "val").mkdir(parents=True)
    Image.fromarray(ab).save(tmp_path / "cityscapes" / "val" / "frankfurt_000000_000294.png")
    opt = DemoOptions().parse_with_checkpoint(["--name", "tiny", "--checkpoints_dir", str(tiny_checkpoint),
                                               "--dataroot", str(tmp_path / "cityscapes"), "--phase", "val"])
    city = demo.LabelPainter(opt, Generator(opt))
    assert opt.palette == "cityscapes" and city.palette is PALETTES["cityscapes"]
    label_map = city.example("frankfurt_000000_000294.png")
    assert (label_map[:16] == CITYSCAPES_PALETTE["sky"]).all() and (label_map[16:] == CITYSCAPES_PALETTE["road"]).all()
    assert (city.blank() == 0).all()  # void
    (tmp_path / "cityscapes" / "val" / "broken.png").write_text("not an image")
    with pytest.raises(UserError, match="broken.png"):
        demo.LabelPainter(opt, city.translator).example("broken.png")


def test_uploaded_label_maps_are_scaled_and_snapped_and_other_files_refused(painter, tmp_path):
    big = np.zeros((64, 128, 3), np.uint8) + BACKGROUND
    big[:, :64] = WINDOW.astype(int) - (0, 3, 5)  # off by a little, as after JPEG compression
    Image.fromarray(big).save(tmp_path / "map.png")
    label_map = painter.upload(str(tmp_path / "map.png"))
    assert label_map.shape == (32, 32, 3)
    assert (label_map[:, :16] == WINDOW).all() and (label_map[:, 16:] == BACKGROUND).all()
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(UserError, match="notes.png is not an image"):
        painter.upload(str(tmp_path / "notes.png"))


def test_generate_uses_the_painted_canvas_and_k_samples(painter):
    canvas = {"background": np.dstack([painter.blank(), np.full((32, 32), 255, np.uint8)]), "layers": []}
    blank_photos, status = painter.generate(canvas, 2, 0)
    assert len(blank_photos) == 2 and status.startswith("2 photos in ")
    layer = np.zeros((32, 32, 4), np.uint8)
    layer[8:24, 8:24] = (*WINDOW, 255)
    painted, _ = painter.generate({**canvas, "layers": [layer]}, 2, 0)
    assert not np.array_equal(painted[0], blank_photos[0])
    with pytest.raises(UserError, match="canvas is empty"):
        painter.generate(None, 1, 0)
    with pytest.raises(UserError, match=r"seed must be an integer from 0 to 2\*\*32 - 1.*: change it on the page"):
        painter.generate(canvas, 1, -5)  # a value the page's number box lets through


def test_canvas_size_paints_and_translates_at_another_size(tiny_checkpoint, synth32):
    opt = DemoOptions().parse_with_checkpoint(["--name", "tiny", "--checkpoints_dir", str(tiny_checkpoint),
                                               "--canvas_size", "70x45"])
    wide = demo.LabelPainter(opt, Generator(opt))  # the generator was trained on 32x32 crops
    assert wide.blank().shape == (45, 70, 3) and wide.example("2.jpg").shape == (45, 70, 3)
    canvas = {"background": np.dstack([wide.example("2.jpg"), np.full((45, 70), 255, np.uint8)]), "layers": []}
    photos, _ = wide.generate(canvas, 1, 0)
    assert photos[0].shape == (45, 70, 3)  # padded to 72x48 for the ResNet, cropped back


def test_legend_names_each_class_with_its_colour():
    legend = demo.legend_html("cityscapes")
    assert "traffic light" in legend and "rgb(250, 170, 30)" in legend and legend.count("dlim-swatch") == 20


# --- command line ---

def test_missing_checkpoint_is_a_one_line_error(tmp_path):
    line = one_line_error(run_cli("demo.py", "--name", "nothing", "--checkpoints_dir", tmp_path, "--ngf", "8"))
    assert "no checkpoint" in line and "--name" in line


@pytest.mark.parametrize("flags, expect", [(["--palette", "maps"], "--palette"),
                                           (["--dataroot", "/nonexistent"], "--dataroot /nonexistent"),
                                           (["--canvas_size", "512"], "--canvas_size")])
def test_bad_flags_are_one_line_errors(tiny_checkpoint, flags, expect):
    proc = run_cli("demo.py", "--name", "tiny", "--checkpoints_dir", tiny_checkpoint, *flags)
    assert expect in one_line_error(proc)


@pytest.mark.slow
def test_port_in_use_is_a_one_line_error(tiny_checkpoint):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_cli("demo.py", "--name", "tiny", "--checkpoints_dir", tiny_checkpoint, "--port", port, timeout=120)
    assert f"127.0.0.1:{port}" in one_line_error(proc)


def test_training_and_testing_do_not_import_gradio():
    code = "import sys, train, test, demo; sys.exit('gradio' in sys.modules)"
    assert run_cli("-c", code).returncode == 0
