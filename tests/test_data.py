"""Data: aligned A|B splitting, channels, shared crop/flip, preprocess modes, single folders, bad files."""
from __future__ import annotations

from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from data import EpochSampler, create_dataset
from data.aligned_dataset import AlignedDataset
from data.single_dataset import SingleDataset
from util.errors import UserError


def options(root: Path, **kw) -> Namespace:
    base = dict(dataroot=str(root), phase="train", direction="AtoB", input_nc=3, output_nc=3,
                preprocess="resize_and_crop", load_size=40, crop_size=32, no_flip=False, is_train=True,
                max_dataset_size=float("inf"), seed=0,
                dataset_mode="aligned", serial_batches=False, batch_size=2, num_threads=0, gpu_ids=[])
    return Namespace(**{**base, **kw})


def write_pair(path: Path, w: int = 64, h: int = 32, mode: str = "RGB") -> None:
    """A|B image whose left half is a horizontal ramp and right half the same ramp inverted."""
    ramp = np.tile(np.linspace(0, 255, w // 2, dtype=np.uint8), (h, 1))
    ab = np.concatenate([ramp, 255 - ramp], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.stack([ab] * 3, -1))
    img.convert(mode).save(path)


@pytest.fixture
def pairs(tmp_path) -> Path:
    for i in range(4):
        write_pair(tmp_path / "train" / f"{i}.png")
    return tmp_path


def test_aligned_splits_halves_and_follows_direction(pairs):
    a_to_b = AlignedDataset(options(pairs, preprocess="none", no_flip=True))[0]
    b_to_a = AlignedDataset(options(pairs, preprocess="none", no_flip=True, direction="BtoA"))[0]
    assert a_to_b["A"].shape == (3, 32, 32)
    assert a_to_b["A"][0, 0, 0] == -1 and a_to_b["B"][0, 0, 0] == 1  # ramp vs inverted ramp
    assert torch.equal(a_to_b["A"], b_to_a["B"]) and torch.equal(a_to_b["B"], b_to_a["A"])


def test_same_random_crop_and_flip_for_a_and_b(pairs):
    ds = AlignedDataset(options(pairs, load_size=48, crop_size=32))
    for key in [(e, i) for e in range(6) for i in range(4)]:
        item = ds[key]
        assert torch.allclose(item["A"], -item["B"], atol=0.05)  # B is A inverted wherever both were cut
    flips = {bool(ds[(e, 0)]["A"][0, 0, 0] > ds[(e, 0)]["A"][0, 0, -1]) for e in range(16)}
    assert flips == {True, False}


def test_augmentation_is_fixed_by_seed_epoch_and_index(pairs):
    ds = AlignedDataset(options(pairs, load_size=48, crop_size=32))
    assert torch.equal(ds[(3, 1)]["A"], ds[(3, 1)]["A"])
    assert any(not torch.equal(ds[(3, 1)]["A"], ds[(e, 1)]["A"]) for e in range(4, 10))


@pytest.mark.parametrize("mode,nc", [("L", 3), ("RGBA", 3), ("RGB", 1)])
def test_gray_and_rgba_files_become_the_requested_channels(tmp_path, mode, nc):
    write_pair(tmp_path / "train" / "0.png", mode=mode)
    item = AlignedDataset(options(tmp_path, input_nc=nc, output_nc=3, preprocess="none"))[0]
    assert item["A"].shape[0] == nc and item["B"].shape[0] == 3


@pytest.mark.parametrize("preprocess,load,crop,shape", [
    ("resize_and_crop", 40, 32, (32, 32)), ("crop", 40, 16, (16, 16)), ("scale_width", 48, 32, (48, 48)),
    ("scale_width_and_crop", 48, 32, (32, 32)), ("none", 40, 32, (32, 32))])
def test_preprocess_modes_give_expected_sizes(pairs, preprocess, load, crop, shape):
    item = AlignedDataset(options(pairs, preprocess=preprocess, load_size=load, crop_size=crop))[0]
    assert tuple(item["A"].shape[1:]) == shape == tuple(item["B"].shape[1:])


def test_any_even_width_with_scale_width(tmp_path):
    write_pair(tmp_path / "train" / "0.png", w=96, h=24)
    item = AlignedDataset(options(tmp_path, preprocess="scale_width", load_size=48, crop_size=12))[0]
    assert item["A"].shape == (3, 24, 48)


def test_loader_batches_and_shuffles_per_epoch(pairs):
    pipe = create_dataset(options(pairs))
    orders = []
    for epoch in (1, 2, 1):
        pipe.set_epoch(epoch)
        batches = list(pipe)
        assert [len(b["A"]) for b in batches] == [2, 2]
        orders.append([p for b in batches for p in b["A_paths"]])
    assert orders[0] == orders[2] and sorted(orders[0]) == sorted(orders[1])
    pipe.set_epoch(1, samples_done=2)
    assert [p for b in pipe for p in b["A_paths"]] == orders[0][2:]


def test_batch_of_differently_sized_images_names_them(tmp_path):
    write_pair(tmp_path / "train" / "wide.png", w=96, h=24)
    write_pair(tmp_path / "train" / "square.png", w=64, h=32)
    pipe = create_dataset(options(tmp_path, preprocess="scale_width", load_size=32, crop_size=8, serial_batches=True))
    with pytest.raises(UserError, match=r"different sizes.*square\.png.*--batch_size 1"):
        list(pipe)


def test_single_dataset_reads_a_plain_folder(tmp_path):
    for i in range(3):
        Image.new("RGB", (20, 30), (i, 0, 0)).save(tmp_path / f"{i}.jpg")
    ds = SingleDataset(options(tmp_path, preprocess="none", is_train=False))
    assert len(ds) == 3 and ds[0]["A"].shape == (3, 30, 20) and "B" not in ds[0]  # test time: its own size


def test_max_dataset_size_limits_images(pairs):
    assert len(AlignedDataset(options(pairs, max_dataset_size=2))) == 2


def test_non_image_files_are_skipped_with_one_warning(pairs, capsys):
    (pairs / "train" / "notes.txt").write_text("hi")
    (pairs / "train" / "Thumbs.db").write_text("x")
    assert len(AlignedDataset(options(pairs))) == 4
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "2 non-image" in err


@pytest.mark.parametrize("make,expect", [
    (lambda root: None, "does not exist"),
    (lambda root: (root / "train").mkdir(parents=True), "no images"),
    (lambda root: (root / "val").mkdir(parents=True), "'train' folder"),
])
def test_missing_or_empty_folders_are_user_errors(tmp_path, make, expect):
    root = tmp_path / "data"
    make(root)
    with pytest.raises(UserError, match=expect):
        AlignedDataset(options(root))


def test_image_that_is_not_side_by_side_is_rejected_naming_it(tmp_path):
    write_pair(tmp_path / "train" / "square.png", w=32, h=32)
    with pytest.raises(UserError, match=r"square\.png is 32x32.*combine_A_and_B"):
        AlignedDataset(options(tmp_path))


def test_truncated_image_names_the_file(pairs):
    bad = pairs / "train" / "9.jpg"
    write_pair(bad, w=512, h=256)
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) * 2 // 3])  # the header survives, the pixels do not
    ds = AlignedDataset(options(pairs))
    with pytest.raises(UserError, match=r"9\.jpg.*truncated"):
        ds[ds.AB_paths.index(str(bad))]


def test_file_with_image_name_but_no_image_inside(pairs):
    (pairs / "train" / "fake.png").write_text("not an image")
    with pytest.raises(UserError, match=r"fake\.png"):
        AlignedDataset(options(pairs))


def test_real_facades_load_as_label_to_photo_pairs(facades):
    ds = AlignedDataset(options(facades, direction="BtoA", load_size=286, crop_size=256))
    assert len(ds) == 400
    item = ds[(1, 0)]
    assert item["A"].shape == item["B"].shape == (3, 256, 256)
    # BtoA: A is the label map (mostly the blues of background, facade and windows), B the photo
    def blue_over_red(x):
        return (x[2] - x[0]).mean().item()
    assert blue_over_red(item["A"]) > 0.8 and abs(blue_over_red(item["B"])) < 0.4


def test_epoch_sampler_shards_like_distributed_sampler():
    """Under torchrun each process takes every world-th index of one shared order, padded to equal lengths."""
    for n, world, start in [(8, 2, 0), (7, 2, 0), (11, 3, 4), (1, 2, 0)]:
        shards = []
        for rank in range(world):
            sampler = EpochSampler(n, shuffle=True, seed=3, rank=rank, world=world)
            sampler.set_epoch(2, start)
            shards.append([i for _, i in sampler])
            assert len(sampler) == len(shards[-1])
        assert len({len(s) for s in shards}) == 1  # the same number of steps everywhere
        single = EpochSampler(n, shuffle=True, seed=3)
        single.set_epoch(2)
        order = single.order()[start:]
        assert set(sum(shards, [])) == set(order)  # every remaining image once (a few twice, as padding)
        assert [shards[r][0] for r in range(min(world, len(order)))] == order[:world]
