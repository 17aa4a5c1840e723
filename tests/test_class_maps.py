"""Class maps and input images read as what they are: id maps at any bit depth and as palette indices, ids of no
class, lossy id maps, photos given as label maps, colours of no class, transparent pixels, links to nothing and
animated GIFs, through train.py and test.py."""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import FACADES, REPO, TINY, one_line_error, run_cli
from PIL import Image

from util.errors import UserError
from util.images import load_rgb, lossy_encoding
from util.labels import LabelCoder, generic_colours

CITYSCAPES = REPO.parent / "shared" / "data" / "cityscapes_sample"
# four 16x16 quadrants of class ids, on 32x32 maps, which test.py shows in four colours (Cityscapes' void, road,
# ground, dynamic)
IDS = np.kron(np.array([[3, 7], [6, 5]]), np.ones((16, 16), int))
ID_FLAGS = [*TINY, "--label_nc", "8", "--palette", "ids", "--gpu_ids", "-1"]
TRAIN_ONCE = ["--n_epochs", "1", "--n_epochs_decay", "0", "--batch_size", "2"]


def photo(seed: int, size: int = 32) -> np.ndarray:
    """A noisy gradient picture, HxWx3 uint8."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(40, 200, size)[None, :, None] + np.linspace(0, 40, size)[:, None, None]
    return np.clip(ramp + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)


def write_id_pairs(folder: Path, ids: np.ndarray = IDS, n: int = 4, mode: str = "RGB", name: str = "{i}.png") -> Path:
    """n A|B files: a picture on the left, the id map as grey levels on the right (mode I;16: 16-bit grey)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        if mode == "I;16":
            ab = Image.fromarray(np.concatenate([photo(i)[..., 0].astype(np.uint16) * 257, ids], 1).astype(np.uint16))
        else:
            grey = np.repeat(ids.astype(np.uint8)[..., None], 3, -1)
            ab = Image.fromarray(np.concatenate([photo(i), grey], 1))
        ab.save(folder / name.format(i=i))
    return folder


@pytest.fixture(scope="module")
def ids_checkpoint(tmp_path_factory) -> Path:
    """Checkpoints folder of 'ids': class inputs from id maps (--palette ids --label_nc 8), one epoch."""
    data, ckpt = tmp_path_factory.mktemp("id_pairs"), tmp_path_factory.mktemp("ids_ckpt")
    write_id_pairs(data / "train")
    run_cli("train.py", "--dataroot", data, *ID_FLAGS, "--name", "ids", "--checkpoints_dir", ckpt, *TRAIN_ONCE,
            check=True)
    return ckpt


@pytest.mark.slow
def test_id_maps_are_read_as_ids_at_any_bit_depth_and_as_palette_indices(ids_checkpoint: Path,
                                                                          tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.mkdir()
    Image.fromarray(IDS.astype(np.uint8)).save(maps / "grey8.png")
    Image.fromarray(IDS.astype(np.uint16)).save(maps / "grey16.png")  # mode I;16: ids, not 0..65535 to scale
    Image.fromarray(IDS.astype(np.uint16)).save(maps / "grey16tif.tif")
    Image.fromarray(IDS.astype(np.int32)).save(maps / "int32.tif")  # mode I
    indexed = Image.fromarray(IDS.astype(np.uint8), "P")
    indexed.putpalette(generic_colours(256).tobytes())  # VOC-style: the indices are the ids, the colours are shown
    indexed.save(maps / "indexed.png")
    Image.fromarray(IDS.astype(np.uint8)).save(maps / "greygif.gif")  # a grey palette in its own order
    results = tmp_path / "results"
    run_cli("test.py", "--dataroot", maps, "--dataset_mode", "single", "--name", "ids", "--checkpoints_dir",
            ids_checkpoint, "--results_dir", results, "--gpu_ids", "-1", check=True)
    images = results / "ids" / "test_latest" / "images"
    shown = {p.name.split("_real_A")[0]: np.asarray(Image.open(p)) for p in images.glob("*_real_A.png")}
    assert len(shown) == 6 and len(np.unique(shown["grey8"].reshape(-1, 3), axis=0)) == 4  # four classes
    assert all(np.array_equal(image, shown["grey8"]) for image in shown.values()), sorted(shown)


@pytest.mark.slow
def test_test_py_input_reads_16_bit_ids_as_ids(ids_checkpoint: Path, tmp_path: Path) -> None:
    wraps = IDS.copy()
    wraps[:8, :8] = 259
    Image.fromarray(wraps.astype(np.uint16)).save(tmp_path / "wraps.png")
    proc = run_cli("test.py", "--input", tmp_path / "wraps.png", "--output", tmp_path / "out", "--name", "ids",
                   "--checkpoints_dir", ids_checkpoint, "--gpu_ids", "-1")
    assert "wraps.png: 64 label-map pixels are no ids class (ids of 8 or more" in one_line_error(proc)


@pytest.mark.slow
def test_ids_of_label_nc_or_more_are_no_class_at_any_bit_depth(ids_checkpoint: Path, tmp_path: Path) -> None:
    wraps = IDS.copy()
    wraps[:8, :8] = 259  # 259 % 256 == 3: a uint8 cast would make it class 3
    maps = tmp_path / "maps"
    maps.mkdir()
    Image.fromarray(wraps.astype(np.uint16)).save(maps / "wraps.png")
    proc = run_cli("test.py", "--dataroot", maps, "--dataset_mode", "single", "--name", "ids", "--checkpoints_dir",
                   ids_checkpoint, "--results_dir", tmp_path / "results", "--gpu_ids", "-1")
    assert "wraps.png: 64 label-map pixels are no ids class (ids of 8 or more" in one_line_error(proc)
    data = write_id_pairs(tmp_path / "pairs" / "train", wraps, mode="I;16").parent  # a 16-bit A|B layout
    for cache in ("off", "on"):
        proc = run_cli("train.py", "--dataroot", data, *ID_FLAGS, "--checkpoints_dir", tmp_path / "ckpt",
                       "--cache_dataset", cache, *TRAIN_ONCE)
        assert "0.png: 64 label-map pixels" in one_line_error(proc)
    proc = run_cli("train.py", "--dataroot", data, *ID_FLAGS, "--dontcare", "--checkpoints_dir", tmp_path / "ckpt",
                   "--cache_dataset", "on", *TRAIN_ONCE, check=True)
    assert "--dontcare: 256 pixels in 4 of 4 label maps are no ids class; they form class 8" in proc.stdout


@pytest.mark.slow
def test_lossy_id_maps_are_refused_naming_the_file(ids_checkpoint: Path, tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.mkdir()
    Image.fromarray(IDS.astype(np.uint8)).save(maps / "blurred.jpg", quality=95)
    proc = run_cli("test.py", "--input", maps / "blurred.jpg", "--output", tmp_path / "out", "--name", "ids",
                   "--checkpoints_dir", ids_checkpoint, "--gpu_ids", "-1")
    assert "blurred.jpg is stored as JPEG" in one_line_error(proc) and "save id maps as PNG" in proc.stderr
    assert not (tmp_path / "out" / "blurred.png").exists()
    data = write_id_pairs(tmp_path / "pairs" / "train", name="{i}.jpg").parent
    proc = run_cli("train.py", "--dataroot", data, *ID_FLAGS, "--checkpoints_dir", tmp_path / "ckpt", *TRAIN_ONCE)
    assert "0.jpg is stored as JPEG" in one_line_error(proc)
    for lossless, expected in ((False, "lossy WebP"), (True, None)):
        Image.fromarray(IDS.astype(np.uint8)).save(tmp_path / "ids.webp", lossless=lossless)
        assert lossy_encoding(tmp_path / "ids.webp") == expected


@pytest.fixture(scope="module")
def colour_checkpoint(synth32: Path, tmp_path_factory) -> Path:
    """Checkpoints folder of 'colours': class inputs from facades colours with --dontcare, one epoch on synth32."""
    ckpt = tmp_path_factory.mktemp("colour_ckpt")
    run_cli("train.py", "--dataroot", synth32, *TINY, "--label_nc", "12", "--dontcare", "--gpu_ids", "-1", "--name",
            "colours", "--checkpoints_dir", ckpt, *TRAIN_ONCE, check=True)
    return ckpt


@pytest.mark.slow
def test_a_photo_given_as_label_map_is_refused_even_with_dontcare(synth32: Path, colour_checkpoint: Path,
                                                                  tmp_path: Path) -> None:
    ab = load_rgb(synth32 / "test" / "1.jpg")
    photos, maps = tmp_path / "photos", tmp_path / "maps"
    photos.mkdir()
    maps.mkdir()
    ab.crop((0, 0, 32, 32)).save(photos / "photo.png")
    ab.crop((32, 0, 64, 32)).save(maps / "map.png")
    common = ["--name", "colours", "--checkpoints_dir", colour_checkpoint, "--gpu_ids", "-1"]
    proc = run_cli("test.py", "--input", photos / "photo.png", "--output", tmp_path / "out", *common)
    assert "photo.png does not look like a facades label map" in one_line_error(proc)
    proc = run_cli("test.py", "--dataroot", photos, "--dataset_mode", "single", "--results_dir", tmp_path / "r",
                   *common)
    assert "photo.png does not look like a facades label map" in one_line_error(proc)
    run_cli("test.py", "--input", maps, "--output", tmp_path / "out", *common, check=True)  # the label map side
    assert (tmp_path / "out" / "map.png").is_file()

    from models.inference import Generator
    from models.options import DemoOptions

    translate = Generator(DemoOptions().parse([str(arg) for arg in common]))
    assert translate(np.asarray(ab.crop((32, 0, 64, 32))))[0].shape == (32, 32, 3)
    with pytest.raises(UserError, match="does not look like a facades label map"):
        translate(np.asarray(ab.crop((0, 0, 32, 32))))


@pytest.mark.slow
@pytest.mark.parametrize("paint", ["white", "black", "green", "transparent"])
def test_colours_of_no_class_in_a_label_map_name_the_file(synth128: Path, tmp_path: Path, paint: str) -> None:
    data = tmp_path / "data"
    shutil.copytree(synth128 / "train", data / "train")
    ab = np.array(load_rgb(data / "train" / "3.jpg").convert("RGBA"))
    colour = {"white": (255, 255, 255, 255), "black": (0, 0, 0, 255), "green": (0, 255, 0, 255),
              "transparent": (0, 0, 222, 0)}[paint]  # transparent background: its colour is a class
    ab[50:70, 180:200] = colour  # a 20x20 square in the label map (the right half)
    (data / "train" / "3.jpg").unlink()
    if paint == "transparent":
        Image.fromarray(ab).save(data / "train" / "3.png")
    else:
        Image.fromarray(ab[..., :3]).save(data / "train" / "3.jpg", quality=95)
    flags = ["--dataroot", data, *TINY, "--label_nc", "12", "--gpu_ids", "-1", "--checkpoints_dir", tmp_path / "c",
             *TRAIN_ONCE]
    message = one_line_error(run_cli("train.py", *flags))
    assert "label-map pixels are no facades class (colours farther than --label_threshold 79" in message
    assert f"3.{'png' if paint == 'transparent' else 'jpg'}: " in message
    if paint == "white":  # white is 182 from the nearest facades colour
        run_cli("train.py", *flags, "--label_threshold", "190", "--name", "wide", check=True)


def test_a_link_to_nothing_in_an_input_folder_is_skipped_with_one_warning(synth32: Path, tiny_checkpoint: Path,
                                                                        tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in (1, 2):
        load_rgb(synth32 / "test" / f"{i}.jpg").crop((32, 0, 64, 32)).save(folder / f"{i}.png")
    (folder / "gone.png").symlink_to(tmp_path / "deleted.png")
    proc = run_cli("test.py", "--input", folder, "--output", tmp_path / "out", "--name", "tiny", "--checkpoints_dir",
                   tiny_checkpoint, "--gpu_ids", "-1", check=True)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["1.png", "2.png"]
    warnings = [line for line in proc.stderr.splitlines() if "gone.png" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: skipped 1 link(s) to nothing")


def test_an_animated_gif_is_read_by_its_first_frame_with_one_warning(tiny_checkpoint: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    first = np.kron(np.array([[[0, 0, 222], [255, 0, 0]], [[0, 128, 255], [255, 240, 0]]], np.uint8),
                    np.ones((16, 16, 1), np.uint8))  # four colours: a GIF's palette holds them exactly
    frames = [Image.fromarray(first)] + [Image.fromarray(np.roll(first, 8 * k, 1)) for k in (1, 2)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    frames[0].save(folder / "first.png")  # an image beside it
    proc = run_cli("test.py", "--input", folder, "--output", tmp_path / "out", "--name", "tiny", "--checkpoints_dir",
                   tiny_checkpoint, "--gpu_ids", "-1", check=True)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["anim.png", "first.png"]
    assert np.array_equal(np.asarray(load_rgb(folder / "anim.gif")), first)  # as test.py reads it
    warning = f"warning: {folder / 'anim.gif'} holds 3 frames (animated or multi-page): only the first is used"
    assert proc.stderr.count(warning) == 1


def real_maps(root: Path, palette: str, label_nc: int):
    """(coder, [(path, label map, photo)]) of every A|B file of a dataset, the label map on the right."""
    coder = LabelCoder(argparse.Namespace(label_nc=label_nc, palette=palette, dontcare=True, label_threshold=None,
                                          dataroot=""))
    pairs = []
    for path in sorted(root.glob("*/*.jpg")):
        ab = load_rgb(path)
        half = ab.width // 2
        pairs.append((str(path), ab.crop((half, 0, ab.width, ab.height)), ab.crop((0, 0, half, ab.height))))
    return coder, pairs


@pytest.mark.slow
@pytest.mark.parametrize("root, palette, label_nc", [(FACADES, "facades", 12), (CITYSCAPES, "cityscapes", 20)])
def test_real_label_maps_are_all_classes_and_their_photos_are_refused(root: Path, palette: str, label_nc: int) -> None:
    if not root.is_dir():
        pytest.skip(f"{root} is absent (only on the project's machines)")
    coder, pairs = real_maps(root, palette, label_nc)
    assert len(pairs) >= 200
    for path, label_map, picture in pairs:
        assert coder.class_ids(label_map, path)[1] == 0, path  # no pixel of no class, with the derived threshold
        with pytest.raises(UserError, match="does not look like"):
            coder.class_ids(picture, path)


def test_the_python_translator_reads_a_16_bit_id_map_image_as_ids(ids_checkpoint: Path, tmp_path: Path) -> None:
    from models.inference import Generator
    from models.options import TestOptions

    translator = Generator(TestOptions().parse(["--name", "ids", "--checkpoints_dir", str(ids_checkpoint),
                                                 "--dataroot", str(tmp_path), "--gpu_ids", "-1"]))
    translator(Image.fromarray(IDS.astype(np.uint16)), keep_size=True)
    assert np.array_equal(translator.model.real_A[0].argmax(0).numpy(), IDS)  # 16-bit levels, not scaled to 0


def test_the_python_translator_refuses_a_jpeg_id_map_image(ids_checkpoint: Path, tmp_path: Path) -> None:
    from models.inference import Generator
    from models.options import TestOptions

    Image.fromarray(IDS.astype(np.uint8)).save(tmp_path / "ids.jpg", quality=90)
    translator = Generator(TestOptions().parse(["--name", "ids", "--checkpoints_dir", str(ids_checkpoint),
                                                 "--dataroot", str(tmp_path), "--gpu_ids", "-1"]))
    with pytest.raises(UserError, match="stored as JPEG, whose compression turns the class ids"):
        translator(Image.open(tmp_path / "ids.jpg"))
