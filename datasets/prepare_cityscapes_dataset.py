#!/usr/bin/env python3
"""Build the pix2pix cityscapes dataset (photo | colour label map) from the official Cityscapes download.

    python datasets/prepare_cityscapes_dataset.py --gtFine_dir ./gtFine --leftImg8bit_dir ./leftImg8bit \
        --output_dir ./datasets/cityscapes

Download gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip from https://www.cityscapes-dataset.com and
unzip them. Each leftImg8bit/<split>/<city>/<id>_leftImg8bit.png is paired with gtFine/<split>/<city>/
<id>_gtFine_color.png and written to <output_dir>/<split>/<id>.jpg: the photo on the left, the label map in the
official Cityscapes colours on the right (label -> photo is --direction BtoA), as in the pix2pix download.
With --labels ids the right half holds <id>_gtFine_labelIds.png instead: grey levels that are the 34 label ids, in
PNG (exact), for class inputs (train.py --palette ids --label_nc 35).
"""
from __future__ import annotations

import argparse
import os
import sys
from multiprocessing import Pool
from pathlib import Path

from PIL import Image

from options.types import positive_int
from util.errors import ArgumentParser, UserError, main_guard
from util.fileio import atomic_path, staged_folder
from util.images import load_rgb
from util.outputs import OutputGuard

PHOTO_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIXES = {"color": "_gtFine_color.png", "ids": "_gtFine_labelIds.png"}  # by --labels
SAVE_OPTIONS = {"jpg": {"format": "JPEG", "quality": 100, "subsampling": 0}, "png": {"format": "PNG"}}


def image_size(text: str) -> tuple[int, int]:
    """argparse type: 256 (square) or WIDTHxHEIGHT such as 512x256."""
    try:
        width, height = (int(v) for v in text.lower().split("x")) if "x" in text.lower() else (int(text),) * 2
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be N or WIDTHxHEIGHT, e.g. 256 or 512x256, got {text}") from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return width, height


def find_pairs(leftimg8bit_dir: Path, gtfine_dir: Path, split: str,
               labels: str = "color") -> list[tuple[Path, Path, str]]:
    """(photo, label map, Cityscapes id) for every image of a split; every photo needs its label map."""
    label_suffix = LABEL_SUFFIXES[labels]
    folders = {"--leftImg8bit_dir": leftimg8bit_dir / split, "--gtFine_dir": gtfine_dir / split}
    for flag, folder in folders.items():
        if not folder.is_dir():
            raise UserError(f"{folder} does not exist: {flag} must be the unzipped folder that holds {split}/<city>/")
    photos = {p.name[: -len(PHOTO_SUFFIX)]: p for p in folders["--leftImg8bit_dir"].glob(f"*/*{PHOTO_SUFFIX}")}
    maps = {p.name[: -len(label_suffix)]: p for p in folders["--gtFine_dir"].glob(f"*/*{label_suffix}")}
    if not photos:
        raise UserError(f"no <city>/*{PHOTO_SUFFIX} in {folders['--leftImg8bit_dir']}: check --leftImg8bit_dir")
    for missing, have, folder, suffix in [(photos.keys() - maps.keys(), photos, "--gtFine_dir", label_suffix),
                                          (maps.keys() - photos.keys(), maps, "--leftImg8bit_dir", PHOTO_SUFFIX)]:
        if missing:
            first = sorted(missing)[0]
            raise UserError(f"{len(missing)} file(s) of {split} have no partner, e.g. {have[first]} has no "
                            f"{first}{suffix} under {folders[folder]}: pass matching {folder} and --splits")
    return [(photos[key], maps[key], key) for key in sorted(photos)]


def write_pair(task: tuple[Path, Path, Path, tuple[int, int], str]) -> None:
    """Resize photo (bicubic) and label map (nearest: only official colours) and write them side by side."""
    photo_path, label_path, out, (width, height), fmt = task
    photo = load_rgb(photo_path).resize((width, height), Image.BICUBIC)
    label = load_rgb(label_path).resize((width, height), Image.NEAREST)  # ids: grey, each level an id
    ab = Image.new("RGB", (2 * width, height))
    ab.paste(photo, (0, 0))
    ab.paste(label, (width, 0))
    with atomic_path(out) as tmp:
        ab.save(tmp, **SAVE_OPTIONS[fmt])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    p = ArgumentParser(description=__doc__.split("\n\n")[0] + " Writes <output_dir>/<split>/<id>.jpg.")
    p.add_argument("--gtFine_dir", required=True, type=Path, help="unzipped gtFine folder (holds train/ val/)")
    p.add_argument("--leftImg8bit_dir", required=True, type=Path, help="unzipped leftImg8bit folder")
    p.add_argument("--output_dir", type=Path, default=Path("./datasets/cityscapes"),
                   help="where to write (default: ./datasets/cityscapes)")
    p.add_argument("--splits", nargs="+", default=["train", "val"], choices=["train", "val", "test"],
                   help="splits to convert (test has no public labels); test.py and demo.py read val with "
                        "--phase val")
    p.add_argument("--size", type=image_size, default=(256, 256),
                   help="size of each half: N or WIDTHxHEIGHT (default: 256, as the pix2pix cityscapes set)")
    p.add_argument("--format", choices=sorted(SAVE_OPTIONS), default=None,
                   help="jpg (quality 100, no chroma subsampling, as upstream) or png (exact label colours); "
                        "default: jpg, png with --labels ids")
    p.add_argument("--labels", choices=sorted(LABEL_SUFFIXES), default="color",
                   help="color: *_gtFine_color.png (pix2pix's layout); ids: *_gtFine_labelIds.png as grey levels, "
                        "written as png, for class inputs (--palette ids --label_nc 35)")
    p.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1, help="parallel processes")
    p.add_argument("--overwrite", action="store_true",
                   help="write over images in --output_dir that this tool did not make, or made from other folders "
                        "or at another size")
    return p.parse_args(argv)


@main_guard
def main(argv: list[str] | None = None) -> int:
    """Convert the splits; return the process exit code."""
    args = parse_args(argv)
    if args.labels == "ids" and args.format == "jpg":
        raise UserError("--labels ids needs --format png: JPEG would blur the ids into other classes")
    args.format = args.format or ("png" if args.labels == "ids" else "jpg")
    pairs = {split: find_pairs(args.leftImg8bit_dir, args.gtFine_dir, split, args.labels) for split in args.splits}
    OutputGuard(tool="prepare_cityscapes_dataset.py", flag="--output_dir", overwrite=args.overwrite,
                reads=(args.leftImg8bit_dir, args.gtFine_dir),
                source=f"{args.leftImg8bit_dir.resolve()} + {args.gtFine_dir.resolve()}, {args.labels}, "
                       f"{args.size[0]}x{args.size[1]}").claim(
        (args.output_dir / split / f"{key}.{args.format}" for split, found in pairs.items() for _, _, key in found),
        root=args.output_dir)
    for split, found in pairs.items():  # each split whole or not at all: through a staging folder
        with staged_folder(args.output_dir / split) as staging:
            tasks = [(photo, label, staging / f"{key}.{args.format}", args.size, args.format)
                     for photo, label, key in found]
            if args.workers > 1 and len(tasks) > 1:
                with Pool(min(args.workers, len(tasks))) as pool:
                    for _ in pool.imap_unordered(write_pair, tasks, chunksize=8):
                        pass
            else:
                for task in tasks:
                    write_pair(task)
    counts = " / ".join(f"{len(found)} {split}" for split, found in pairs.items())
    width, height = args.size
    print(f"wrote {counts} pairs ({2 * width}x{height} {args.format}, photo|label, use --direction BtoA) "
          f"to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
