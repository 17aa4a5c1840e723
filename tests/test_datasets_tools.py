"""Tests for the data tools in datasets/, driven through their command lines."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import load_script
from PIL import Image

ROOT = Path(__file__).parents[1]
DATASETS = ROOT / "datasets"
NAMES = ["facades", "cityscapes", "maps", "edges2shoes", "edges2handbags", "night2day"]


def combine(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """combine_A_and_B.py on tmp_path/A and tmp_path/B, writing tmp_path/AB."""
    return run_tool("combine_A_and_B.py", "--fold_A", str(tmp_path / "A"), "--fold_B", str(tmp_path / "B"),
                    "--fold_AB", str(tmp_path / "AB"), *flags)


def run_tool(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a datasets/ tool from the repository root and capture its output."""
    path = DATASETS / script
    cmd = ["bash", str(path)] if script.endswith(".sh") else [sys.executable, str(path)]
    return subprocess.run(
        [*cmd, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """A failed run exits with 2 and explains itself in exactly one stderr line, without a traceback; the line."""
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr.strip()


def load(path: Path) -> np.ndarray:
    """Decode an image file to an RGB uint8 array."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


# --- make_synthetic_dataset.py ---

SIZE = 64
COUNTS = {"train": 5, "val": 2, "test": 1}


def make_synthetic(out: Path, *extra: str, seed: int = 0) -> subprocess.CompletedProcess[str]:
    """Write a tiny synthetic dataset and check that the tool succeeded."""
    proc = run_tool(
        "make_synthetic_dataset.py",
        "--out",
        str(out),
        "--n_train",
        str(COUNTS["train"]),
        "--n_val",
        str(COUNTS["val"]),
        "--n_test",
        str(COUNTS["test"]),
        "--size",
        str(SIZE),
        "--seed",
        str(seed),
        *extra,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def synthetic_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic") / "png"
    proc = make_synthetic(out, "--format", "png")
    assert len(proc.stdout.strip().splitlines()) == 1 and str(out) in proc.stdout
    return out


@functools.lru_cache(maxsize=1)
def palette() -> np.ndarray:
    """The label colours of FACADES_PALETTE, loaded from the script by path (datasets/ is not a package)."""
    module = load_script(DATASETS / "make_synthetic_dataset.py")
    colours = np.array(list(module.FACADES_PALETTE.values()), dtype=np.int32)
    assert colours.shape == (12, 3) and len({tuple(c) for c in colours}) == 12
    return colours


def split_ab(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (photo, label class indices) of a synthetic PNG, checking that labels use palette colours only."""
    ab = load(path).astype(np.int32)
    photo, label = ab[:, :SIZE], ab[:, SIZE:]
    match = (label[:, :, None, :] == palette()[None, None]).all(-1)
    assert match.any(-1).all(), f"{path}: label half has colours outside FACADES_PALETTE"
    return photo, match.argmax(-1)


def r2_from_classes(photo: np.ndarray, classes: np.ndarray) -> float:
    """Share of the photo's variance explained by its per-class mean colour."""
    photo = photo.astype(np.float64)
    pred = np.zeros_like(photo)
    for k in np.unique(classes):
        pred[classes == k] = photo[classes == k].mean(0)
    return 1.0 - ((photo - pred) ** 2).sum() / ((photo - photo.mean((0, 1))) ** 2).sum()


def test_synthetic_layout_and_sizes(synthetic_png: Path) -> None:
    for split, n in COUNTS.items():
        files = sorted((synthetic_png / split).iterdir())
        assert [f.name for f in files] == sorted(f"{i}.png" for i in range(1, n + 1))
        for f in files:
            with Image.open(f) as im:
                assert im.size == (2 * SIZE, SIZE) and im.mode == "RGB"


def test_synthetic_labels_and_photos(synthetic_png: Path) -> None:
    rng = np.random.default_rng(0)
    for f in sorted(synthetic_png.glob("*/*.png")):
        photo, classes = split_ab(f)
        assert len(np.unique(classes)) >= 4
        assert photo.std() > 10
        # The photo must be mostly predictable from the labels: a random photo would explain nothing.
        assert r2_from_classes(photo, classes) > 0.5
        shuffled = rng.permutation(photo.reshape(-1, 3)).reshape(photo.shape)
        assert r2_from_classes(shuffled, classes) < 0.2


def test_synthetic_is_deterministic(synthetic_png: Path, tmp_path: Path) -> None:
    make_synthetic(tmp_path / "again", "--format", "png")
    make_synthetic(tmp_path / "seed1", "--format", "png", seed=1)
    for f in sorted(synthetic_png.glob("*/*.png")):
        rel = f.relative_to(synthetic_png)
        assert (tmp_path / "again" / rel).read_bytes() == f.read_bytes()
        assert not np.array_equal(load(tmp_path / "seed1" / rel), load(f))


def test_synthetic_jpg_default(synthetic_png: Path, tmp_path: Path) -> None:
    make_synthetic(tmp_path / "a")
    make_synthetic(tmp_path / "b")
    files = sorted((tmp_path / "a").glob("*/*"))
    assert len(files) == sum(COUNTS.values()) and all(f.suffix == ".jpg" for f in files)
    for f in files:
        jpg = load(f)
        assert np.array_equal(jpg, load(tmp_path / "b" / f.relative_to(tmp_path / "a")))
        photo, classes = split_ab(synthetic_png / f.relative_to(tmp_path / "a").with_suffix(".png"))
        assert np.abs(jpg[:, :SIZE].astype(int) - photo).mean() < 6  # same content, only JPEG loss
        # JPEG noise must not change which class a label pixel is closest to.
        dist = ((jpg[:, SIZE:, None].astype(int) - palette()[None, None]) ** 2).sum(-1)
        assert (dist.argmin(-1) == classes).mean() > 0.99


def test_synthetic_never_writes_over_what_it_did_not_make_nor_mixes_two_seeds(tmp_path: Path) -> None:
    def make(*flags: str) -> subprocess.CompletedProcess[str]:
        return run_tool("make_synthetic_dataset.py", "--out", str(tmp_path / "d"), "--size", "16", "--n_train", "2",
                        "--n_val", "0", "--n_test", "0", *flags)

    assert make().returncode == 0 and make().returncode == 0  # its own files: a second run is fine
    before = (tmp_path / "d" / "train" / "1.jpg").read_bytes()
    line = assert_one_line_error(make("--seed", "1"))
    assert "made from seed 0, size 16, not seed 1, size 16" in line and "--overwrite" in line
    assert (tmp_path / "d" / "train" / "1.jpg").read_bytes() == before
    (tmp_path / "d" / "train" / "2.jpg").unlink()
    (tmp_path / "d" / "train" / "2.jpg").write_bytes(b"a photo of mine")
    assert make("--seed", "1", "--overwrite").returncode == 0
    assert (tmp_path / "d" / "train" / "1.jpg").read_bytes() != before
    mine = tmp_path / "e" / "train" / "1.jpg"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"mine")
    proc = run_tool("make_synthetic_dataset.py", "--out", str(tmp_path / "e"), "--size", "16")
    assert "which make_synthetic_dataset.py did not write" in assert_one_line_error(proc)
    assert mine.read_bytes() == b"mine"


def test_combine_never_writes_over_what_it_did_not_make(tmp_path: Path) -> None:
    for side in "AB":
        write_image(tmp_path / side / "train" / "1.png", (4, 4), seed=1)
    mine = tmp_path / "AB" / "train" / "1.png"
    write_image(mine, (4, 4), seed=2)
    before = mine.read_bytes()
    args = ["--fold_A", str(tmp_path / "A"), "--fold_B", str(tmp_path / "B"), "--fold_AB", str(tmp_path / "AB")]
    line = assert_one_line_error(run_tool("combine_A_and_B.py", *args))
    assert "which combine_A_and_B.py did not write" in line and mine.read_bytes() == before
    assert run_tool("combine_A_and_B.py", *args, "--overwrite").returncode == 0
    assert load(mine).shape == (4, 8, 3)
    assert run_tool("combine_A_and_B.py", *args).returncode == 0  # now its own


@pytest.mark.parametrize(
    "args", [["--size", "8"], ["--size", "33"], ["--n_val", "-1"], ["--size", "abc"], ["--format", "gif"]]
)
def test_synthetic_bad_arguments(tmp_path: Path, args: list[str]) -> None:
    assert_one_line_error(run_tool("make_synthetic_dataset.py", "--out", str(tmp_path / "out"), *args))


def test_synthetic_unwritable_out(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = run_tool("make_synthetic_dataset.py", "--out", str(blocker / "out"), "--size", "16")
    assert_one_line_error(proc)


# --- combine_A_and_B.py ---


def write_image(path: Path, size: tuple[int, int], seed: int) -> np.ndarray:
    """Write a random RGB PNG of size (width, height) and return its pixels."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return pixels


@pytest.mark.parametrize("multiprocessing", [True, False])
def test_combine_concatenates_pairs(tmp_path: Path, multiprocessing: bool) -> None:
    expected = {}
    for i, split in enumerate(["train", "train", "test"]):
        name = f"{split}/{i}.png"
        a = write_image(tmp_path / "A" / name, (10, 6), seed=2 * i)
        b = write_image(tmp_path / "B" / name, (10, 6), seed=2 * i + 1)
        expected[name] = np.concatenate([a, b], axis=1)
    write_image(tmp_path / "A" / "train" / "lonely.png", (10, 6), seed=99)
    flags = [] if multiprocessing else ["--no_multiprocessing"]
    proc = combine(tmp_path, *flags)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "skipped 1" in proc.stderr
    assert sorted(str(p.relative_to(tmp_path / "AB")) for p in (tmp_path / "AB").glob("*/*")) == sorted(expected)
    for name, ab in expected.items():
        assert np.array_equal(load(tmp_path / "AB" / name), ab)


def test_combine_use_ab_names(tmp_path: Path) -> None:
    a = write_image(tmp_path / "A" / "val" / "x_A.png", (4, 4), seed=0)
    b = write_image(tmp_path / "B" / "val" / "x_B.png", (4, 4), seed=1)
    proc = combine(tmp_path, "--use_AB", "--no_multiprocessing")
    assert proc.returncode == 0, proc.stderr
    assert np.array_equal(load(tmp_path / "AB" / "val" / "x.png"), np.concatenate([a, b], axis=1))


def test_combine_size_mismatch(tmp_path: Path) -> None:
    write_image(tmp_path / "A" / "train" / "1.png", (8, 8), seed=0)
    write_image(tmp_path / "B" / "train" / "1.png", (8, 6), seed=1)
    proc = combine(tmp_path)
    assert_one_line_error(proc)
    assert str(tmp_path / "A" / "train" / "1.png") in proc.stderr
    assert str(tmp_path / "B" / "train" / "1.png") in proc.stderr
    assert not (tmp_path / "AB").exists()


def test_combine_missing_folder(tmp_path: Path) -> None:
    write_image(tmp_path / "A" / "train" / "1.png", (4, 4), seed=0)
    proc = run_tool(
        "combine_A_and_B.py",
        "--fold_A",
        str(tmp_path / "A"),
        "--fold_B",
        str(tmp_path / "nope"),
        "--fold_AB",
        str(tmp_path / "AB"),
    )
    assert_one_line_error(proc)
    assert "nope" in proc.stderr


# --- download_pix2pix_dataset.sh (never touches the internet: closed port or a local server) ---

needs_downloader = pytest.mark.skipif(
    not shutil.which("bash") or not (shutil.which("curl") or shutil.which("wget")), reason="needs bash and curl/wget"
)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def local_server(tmp_path: Path):
    """Serve tmp_path/served over HTTP on localhost; yields (base URL, served folder)."""
    served = tmp_path / "served"
    served.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", served
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(not shutil.which("bash"), reason="needs bash")
def test_download_unknown_name(tmp_path: Path) -> None:
    proc = run_tool(
        "download_pix2pix_dataset.sh", "imagenet", str(tmp_path), env={"PIX2PIX_DATASETS_URL": "http://127.0.0.1:9"}
    )
    assert_one_line_error(proc)
    assert "usage" in proc.stderr and all(name in proc.stderr for name in NAMES)
    assert list(tmp_path.iterdir()) == []


@needs_downloader
def test_download_no_network_leaves_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    proc = run_tool(
        "download_pix2pix_dataset.sh", "facades", str(dest), env={"PIX2PIX_DATASETS_URL": "http://127.0.0.1:9"}
    )
    assert_one_line_error(proc)
    assert "could not download http://127.0.0.1:9/facades.tar.gz" in proc.stderr
    assert list(dest.iterdir()) == []


@needs_downloader
def test_download_and_extract(tmp_path: Path, local_server: tuple[str, Path]) -> None:
    url, served = local_server
    write_image(tmp_path / "src" / "facades" / "train" / "1.png", (8, 4), seed=0)
    with tarfile.open(served / "facades.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "facades", arcname="facades")
    dest = tmp_path / "dest"
    proc = run_tool("download_pix2pix_dataset.sh", "facades", str(dest), env={"PIX2PIX_DATASETS_URL": url})
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in dest.iterdir()] == ["facades"]
    assert (dest / "facades" / "train" / "1.png").read_bytes() == (tmp_path / "src/facades/train/1.png").read_bytes()


@needs_downloader
def test_download_corrupt_archive_leaves_nothing(tmp_path: Path, local_server: tuple[str, Path]) -> None:
    url, served = local_server
    (served / "maps.tar.gz").write_bytes(b"this is not a gzip file")
    dest = tmp_path / "dest"
    proc = run_tool("download_pix2pix_dataset.sh", "maps", str(dest), env={"PIX2PIX_DATASETS_URL": url})
    assert_one_line_error(proc)
    assert list(dest.iterdir()) == []


# --- prepare_cityscapes_dataset.py ---

CITY_IDS = {"train": ["aachen_000000_000019", "bremen_000001_000019"], "val": ["lindau_000000_000019"]}


def official_colours() -> np.ndarray:
    """Every colour of Cityscapes' *_gtFine_color.png files."""
    from util.palettes import CITYSCAPES_OTHERS, CITYSCAPES_PALETTE

    return np.array(list(CITYSCAPES_PALETTE.values()) + list(CITYSCAPES_OTHERS.values()), dtype=np.uint8)


@pytest.fixture
def cityscapes_tree(tmp_path: Path) -> Path:
    """A tiny fake of the official download: 64x32 photos, RGBA colour label maps, and files to be ignored."""
    rng = np.random.default_rng(0)
    for split, ids in CITY_IDS.items():
        for key in ids:
            city = key.split("_")[0]
            write_image(tmp_path / "leftImg8bit" / split / city / f"{key}_leftImg8bit.png", (64, 32), seed=len(key))
            classes = rng.integers(0, len(official_colours()), (4, 8)).repeat(8, 0).repeat(8, 1)
            label = np.concatenate([official_colours()[classes], np.full((32, 64, 1), 255, np.uint8)], axis=2)
            gt = tmp_path / "gtFine" / split / city
            gt.mkdir(parents=True, exist_ok=True)
            Image.fromarray(label, "RGBA").save(gt / f"{key}_gtFine_color.png")
            Image.fromarray(classes.astype(np.uint8)).save(gt / f"{key}_gtFine_labelIds.png")
            (gt / f"{key}_gtFine_polygons.json").write_text("{}")
    return tmp_path


def prepare(tree: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """prepare_cityscapes_dataset.py on tree/{leftImg8bit,gtFine}, writing tree/out."""
    return run_tool("prepare_cityscapes_dataset.py", "--leftImg8bit_dir", str(tree / "leftImg8bit"),
                    "--gtFine_dir", str(tree / "gtFine"), "--output_dir", str(tree / "out"), *flags)


def test_cityscapes_pairs_photo_and_official_colour_labels(cityscapes_tree: Path) -> None:
    proc = prepare(cityscapes_tree, "--size", "16", "--format", "png")
    assert proc.returncode == 0, proc.stderr
    assert "2 train / 1 val" in proc.stdout
    out = cityscapes_tree / "out"
    for split, ids in CITY_IDS.items():
        assert sorted(p.name for p in (out / split).iterdir()) == [f"{key}.png" for key in ids]
        for key in ids:
            city = key.split("_")[0]
            ab = load(out / split / f"{key}.png")
            assert ab.shape == (16, 32, 3)
            with Image.open(cityscapes_tree / "leftImg8bit" / split / city / f"{key}_leftImg8bit.png") as photo:
                assert np.array_equal(ab[:, :16], np.asarray(photo.resize((16, 16), Image.BICUBIC)))
            with Image.open(cityscapes_tree / "gtFine" / split / city / f"{key}_gtFine_color.png") as label:
                expected = np.asarray(label.convert("RGB").resize((16, 16), Image.NEAREST))
            assert np.array_equal(ab[:, 16:], expected)  # label colours exact, never blended
            assert (ab[:, 16:, None] == official_colours()[None, None]).all(-1).any(-1).all()
    assert not list(out.rglob("*.tmp"))


def test_cityscapes_never_writes_over_what_it_did_not_make_nor_mixes_two_sizes(cityscapes_tree: Path) -> None:
    assert prepare(cityscapes_tree, "--size", "16", "--format", "png").returncode == 0
    line = assert_one_line_error(prepare(cityscapes_tree, "--size", "8", "--format", "png"))
    assert "--output_dir" in line and "made from" in line and "--overwrite" in line
    assert Image.open(cityscapes_tree / "out" / "val" / "lindau_000000_000019.png").size == (32, 16)
    assert prepare(cityscapes_tree, "--size", "8", "--format", "png", "--overwrite").returncode == 0
    assert Image.open(cityscapes_tree / "out" / "val" / "lindau_000000_000019.png").size == (16, 8)
    mine = cityscapes_tree / "out2" / "train" / "aachen_000000_000019.jpg"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"mine")
    proc = run_tool("prepare_cityscapes_dataset.py", "--leftImg8bit_dir", str(cityscapes_tree / "leftImg8bit"),
                    "--gtFine_dir", str(cityscapes_tree / "gtFine"), "--output_dir", str(cityscapes_tree / "out2"))
    assert "which prepare_cityscapes_dataset.py did not write" in assert_one_line_error(proc)
    assert mine.read_bytes() == b"mine"
    proc = run_tool("prepare_cityscapes_dataset.py", "--leftImg8bit_dir", str(cityscapes_tree / "leftImg8bit"),
                    "--gtFine_dir", str(cityscapes_tree / "gtFine"), "--output_dir",
                    str(cityscapes_tree / "gtFine" / "prepared"))
    assert "where prepare_cityscapes_dataset.py reads its inputs" in assert_one_line_error(proc)


def test_cityscapes_default_jpg_and_width_by_height(cityscapes_tree: Path) -> None:
    proc = prepare(cityscapes_tree, "--size", "32x16", "--splits", "val", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    files = [f for f in (cityscapes_tree / "out").rglob("*.*") if not f.name.startswith(".")]  # not the manifest
    assert [f.relative_to(cityscapes_tree / "out").as_posix() for f in files] == ["val/lindau_000000_000019.jpg"]
    assert load(files[0]).shape == (16, 64, 3)


def test_cityscapes_unmatched_files_are_a_one_line_error(cityscapes_tree: Path) -> None:
    (cityscapes_tree / "gtFine/train/bremen/bremen_000001_000019_gtFine_color.png").unlink()
    proc = prepare(cityscapes_tree)
    assert_one_line_error(proc)
    assert "bremen_000001_000019_leftImg8bit.png" in proc.stderr and "--gtFine_dir" in proc.stderr
    assert not (cityscapes_tree / "out").exists()


@pytest.mark.parametrize("flags", [["--gtFine_dir", "/nonexistent"], ["--splits", "test"], ["--size", "0"],
                                   ["--size", "big"], ["--workers", "0"]])
def test_cityscapes_bad_arguments_are_one_line_errors(cityscapes_tree: Path, flags: list[str]) -> None:
    assert_one_line_error(prepare(cityscapes_tree, *flags))


def test_cityscapes_unreadable_label_map_is_a_one_line_error(cityscapes_tree: Path) -> None:
    (cityscapes_tree / "gtFine/val/lindau/lindau_000000_000019_gtFine_color.png").write_text("not a png")
    proc = prepare(cityscapes_tree, "--splits", "val")
    assert_one_line_error(proc)
    assert "lindau_000000_000019_gtFine_color.png" in proc.stderr


def test_cityscapes_label_ids_are_written_exactly_as_grey_png(cityscapes_tree: Path) -> None:
    proc = prepare(cityscapes_tree, "--size", "16", "--labels", "ids", "--splits", "val")
    assert proc.returncode == 0, proc.stderr
    ab = load(cityscapes_tree / "out/val/lindau_000000_000019.png")  # png by default with --labels ids
    with Image.open(cityscapes_tree / "gtFine/val/lindau/lindau_000000_000019_gtFine_labelIds.png") as ids:
        expected = np.asarray(ids.resize((16, 16), Image.NEAREST))
    assert all(np.array_equal(ab[:, 16:, c], expected) for c in range(3))  # grey levels are the ids


def test_cityscapes_label_ids_refuse_jpeg(cityscapes_tree: Path) -> None:
    proc = prepare(cityscapes_tree, "--labels", "ids", "--format", "jpg")
    assert_one_line_error(proc)
    assert "--format png" in proc.stderr and not (cityscapes_tree / "out").exists()


@pytest.mark.slow
def test_cityscapes_label_ids_train_test_and_evaluate_end_to_end(cityscapes_tree: Path) -> None:
    """prepare_cityscapes_dataset.py --labels ids -> train.py --palette ids --label_nc 35 -> test.py -> evaluate.py."""
    from conftest import TINY, run_cli

    assert prepare(cityscapes_tree, "--size", "32", "--labels", "ids").returncode == 0
    data, ckpt, results = cityscapes_tree / "out", cityscapes_tree / "ckpt", cityscapes_tree / "results"
    run_cli("train.py", "--dataroot", data, *TINY, "--name", "city", "--palette", "ids", "--label_nc", "35",
            "--checkpoints_dir", ckpt, "--n_epochs", "1", "--n_epochs_decay", "0", "--gpu_ids", "-1", check=True)
    run_cli("test.py", "--dataroot", data, "--name", "city", "--checkpoints_dir", ckpt, "--results_dir", results,
            "--phase", "val", "--gpu_ids", "-1", check=True)
    shown = load(results / "city" / "val_latest" / "images" / "lindau_000000_000019_real_A.png")
    assert len(np.unique(shown.reshape(-1, 3), axis=0)) > 1  # the ids, in colours
    run_cli("evaluate.py", "--results_dir", results / "city" / "val_latest", "--metrics", "l1,psnr", "--table",
            cityscapes_tree / "metrics.csv", check=True)
    assert "label_nc" in (cityscapes_tree / "metrics.csv").read_text().splitlines()[0]


def test_combine_writes_gif_pairs_as_png(tmp_path: Path) -> None:
    for side in "AB":
        pixels = write_image(tmp_path / side / "train" / "1.png", (4, 4), seed=3 if side == "A" else 4)
        Image.fromarray(pixels).save(tmp_path / side / "train" / "2.gif")
    assert run_tool("combine_A_and_B.py", "--fold_A", str(tmp_path / "A"), "--fold_B", str(tmp_path / "B"),
                    "--fold_AB", str(tmp_path / "AB")).returncode == 0
    assert sorted(p.name for p in (tmp_path / "AB" / "train").iterdir()) == ["1.png", "2.png"]
