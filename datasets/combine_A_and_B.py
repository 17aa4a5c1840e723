#!/usr/bin/env python3
"""Combine paired A and B image folders into pix2pix AB images (A on the left, B on the right)."""

from __future__ import annotations

import argparse
import os
import sys
from multiprocessing import Pool
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from util.errors import ArgumentParser  # noqa: E402

IMG_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm"}


class CombineError(Exception):
    """A problem with the input folders that ends the run with exit code 2."""


def find_pairs(
    split_a: Path, split_b: Path, use_ab: bool, num_imgs: int | None
) -> tuple[list[tuple[Path, Path, str]], int]:
    """Return (A path, B path, output name) for the first num_imgs pairs of a split, and how many A had no B."""
    pairs, skipped = [], 0
    for path_a in sorted(p for p in split_a.iterdir() if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS):
        if use_ab:
            if not path_a.stem.endswith("_A"):
                continue
            base = path_a.stem[:-2]
            name_b, name_ab = f"{base}_B{path_a.suffix}", f"{base}{path_a.suffix}"
        else:
            name_b = name_ab = path_a.name
        path_b = split_b / name_b
        if not path_b.is_file():
            skipped += 1
            continue
        pairs.append((path_a, path_b, name_ab))
        if num_imgs is not None and len(pairs) >= num_imgs:
            break
    return pairs, skipped


def check_sizes(pairs: list[tuple[Path, Path, str]]) -> None:
    """Fail before writing anything if the two images of a pair differ in size (reads headers only)."""
    for path_a, path_b, _ in pairs:
        with Image.open(path_a) as im_a, Image.open(path_b) as im_b:
            if im_a.size != im_b.size:
                raise CombineError(
                    f"size mismatch: {path_a} is {im_a.size[0]}x{im_a.size[1]} but {path_b} is "
                    f"{im_b.size[0]}x{im_b.size[1]}"
                )


def combine_pair(task: tuple[Path, Path, Path]) -> None:
    """Write A and B side by side (RGB) to the output path."""
    path_a, path_b, path_ab = task
    with Image.open(path_a) as im_a, Image.open(path_b) as im_b:
        a, b = im_a.convert("RGB"), im_b.convert("RGB")
    ab = Image.new("RGB", (a.width + b.width, a.height))
    ab.paste(a, (0, 0))
    ab.paste(b, (a.width, 0))
    # Upstream's OpenCV writer saves JPEG at quality 95; keep that rather than PIL's default of 75.
    ab.save(path_ab, **({"quality": 95} if path_ab.suffix.lower() in {".jpg", ".jpeg"} else {}))


def combine(
    fold_a: Path, fold_b: Path, fold_ab: Path, num_imgs: int | None, use_ab: bool, workers: int
) -> dict[str, int]:
    """Combine every split subfolder of fold_a with its fold_b partner; return pairs written per split."""
    for fold in (fold_a, fold_b):
        if not fold.is_dir():
            raise CombineError(f"folder not found: {fold}")
    splits = sorted(p.name for p in fold_a.iterdir() if p.is_dir())
    if not splits:
        raise CombineError(f"no split subfolders (e.g. train/val/test) in {fold_a}")
    tasks, written, skipped = [], {}, 0
    for split in splits:
        pairs, n_skipped = find_pairs(fold_a / split, fold_b / split, use_ab, num_imgs)
        check_sizes(pairs)
        skipped += n_skipped
        if pairs:
            written[split] = len(pairs)
        tasks += [(a, b, fold_ab / split / name) for a, b, name in pairs]
    if skipped:
        print(f"warning: skipped {skipped} image(s) in {fold_a} with no partner in {fold_b}", file=sys.stderr)
    for split in written:
        (fold_ab / split).mkdir(parents=True, exist_ok=True)
    if workers > 1 and len(tasks) > 1:
        with Pool(min(workers, len(tasks))) as pool:
            pool.map(combine_pair, tasks, chunksize=max(1, len(tasks) // (4 * workers)))
    else:
        for task in tasks:
            combine_pair(task)
    return written


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    p = ArgumentParser(
        description="For each split subfolder (train, val, test, ...) of fold_A, pair every image with the "
        "file of the same name in fold_B and write the two side by side (A left, B right) to "
        "fold_AB/<split>/, the aligned layout that pix2pix reads.",
    )
    p.add_argument("--fold_A", required=True, type=Path, help="input folder A with split subfolders")
    p.add_argument("--fold_B", required=True, type=Path, help="input folder B with the same split subfolders")
    p.add_argument("--fold_AB", required=True, type=Path, help="output folder (created if needed)")
    p.add_argument("--num_imgs", type=int, default=None, help="at most this many pairs per split (default: all)")
    p.add_argument(
        "--use_AB", action="store_true", help="pair x_A.ext in fold_A with x_B.ext in fold_B and write x.ext"
    )
    p.add_argument("--no_multiprocessing", action="store_true", help="combine in a single process")
    args = p.parse_args(argv)
    if args.num_imgs is not None and args.num_imgs < 1:
        p.error(f"--num_imgs must be >= 1, got {args.num_imgs}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the tool; return the process exit code."""
    args = parse_args(argv)
    workers = 1 if args.no_multiprocessing else (os.cpu_count() or 1)
    try:
        written = combine(args.fold_A, args.fold_B, args.fold_AB, args.num_imgs, args.use_AB, workers)
    except CombineError as e:
        print(f"combine_A_and_B.py: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # unreadable or non-image input, unwritable output
        print(f"combine_A_and_B.py: error: {e}", file=sys.stderr)
        return 2
    summary = ", ".join(f"{split}: {n}" for split, n in written.items()) or "nothing"
    print(f"combined {sum(written.values())} pairs into {args.fold_AB} ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
