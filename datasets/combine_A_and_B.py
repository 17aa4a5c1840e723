#!/usr/bin/env python3
"""Combine paired A and B image folders into pix2pix AB images (A on the left, B on the right).

Images are read as everywhere in DLIM (util.images): turned as their EXIF orientation says, 16-bit scaled to 8.
A split is written only whole: its pairs go to a hidden staging folder, which is moved into place when every
pair was written; an unreadable file or a full disk leaves nothing of that split behind.
"""

from __future__ import annotations

import argparse
import os
import sys
from multiprocessing import Pool
from pathlib import Path

from PIL import Image

from util.errors import ArgumentParser, UserError, main_guard, os_error_message, warn
from util.fileio import atomic_path, staged_folder
from util.images import image_size, is_image_file, load_rgb
from util.outputs import OutputGuard


def find_pairs(
    split_a: Path, split_b: Path, use_ab: bool, num_imgs: int | None
) -> tuple[list[tuple[Path, Path, str]], int]:
    """Return (A path, B path, output name) for the first num_imgs pairs of a split, and how many A had no B."""
    pairs, skipped = [], 0
    for path_a in sorted(p for p in split_a.iterdir() if p.is_file() and is_image_file(p)):
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
        if Path(name_ab).suffix.lower() == ".gif":  # GIF keeps 256 colours: an A|B photo pair is written as PNG
            name_ab = str(Path(name_ab).with_suffix(".png"))
        pairs.append((path_a, path_b, name_ab))
        if num_imgs is not None and len(pairs) >= num_imgs:
            break
    return pairs, skipped


def check_sizes(pairs: list[tuple[Path, Path, str]]) -> None:
    """Fail before writing anything if the two images of a pair differ in size (reads headers only)."""
    for path_a, path_b, _ in pairs:
        size_a, size_b = image_size(path_a), image_size(path_b)
        if size_a != size_b:
            raise UserError(f"size mismatch: {path_a} is {size_a[0]}x{size_a[1]} but {path_b} is "
                            f"{size_b[0]}x{size_b[1]}")


def check_folders(fold_a: Path, fold_b: Path, fold_ab: Path) -> None:
    """The inputs must exist (the output guard keeps the output out of them)."""
    for flag, fold in (("--fold_A", fold_a), ("--fold_B", fold_b)):
        if not fold.is_dir():
            raise UserError(f"folder not found: {fold} ({flag})")
    if fold_a.resolve() == fold_b.resolve():
        warn(f"--fold_A and --fold_B are the same folder ({fold_a}): every pair will hold the same image twice")


def combine_pair(task: tuple[Path, Path, Path]) -> str | None:
    """Write A and B side by side (RGB) to the output path; the error message when that fails, else None."""
    path_a, path_b, path_ab = task
    try:
        a, b = load_rgb(path_a), load_rgb(path_b)
        ab = Image.new("RGB", (a.width + b.width, a.height))
        ab.paste(a, (0, 0))
        ab.paste(b, (a.width, 0))
        # Upstream's OpenCV writer saves JPEG at quality 95; keep that rather than PIL's default of 75.
        with atomic_path(path_ab) as tmp:
            ab.save(tmp, format=Image.registered_extensions()[path_ab.suffix.lower()],
                    **({"quality": 95} if path_ab.suffix.lower() in {".jpg", ".jpeg"} else {}))
    except UserError as exc:
        return str(exc)
    except OSError as exc:
        return os_error_message(exc) if exc.filename else f"cannot write {path_ab}: {exc}"
    return None


def write_split(tasks: list[tuple[Path, Path, str]], out: Path, workers: int) -> None:
    """Write one split's pairs into a staging folder beside `out`, then move them into `out`."""
    old = [p.name for p in out.iterdir() if is_image_file(p)] if out.is_dir() else []
    kept = sorted(set(old) - {name for _, _, name in tasks})
    if kept:
        print(f"warning: {out} already holds {len(kept)} other image(s), e.g. {kept[0]}; they stay beside the new "
              f"ones (use an empty --fold_AB for a clean split)", file=sys.stderr)
    with staged_folder(out) as staging:
        jobs = [(a, b, staging / name) for a, b, name in tasks]
        if workers > 1 and len(jobs) > 1:
            with Pool(min(workers, len(jobs))) as pool:
                errors = pool.imap(combine_pair, jobs, chunksize=max(1, len(jobs) // (4 * workers)))
                error = next((e for e in errors if e), None)
        else:
            error = next((e for e in map(combine_pair, jobs) if e), None)
        if error:
            raise UserError(f"{error} (nothing of {out} was written)")


def combine(
    fold_a: Path, fold_b: Path, fold_ab: Path, num_imgs: int | None, use_ab: bool, workers: int,
    overwrite: bool = False,
) -> dict[str, int]:
    """Combine every split subfolder of fold_a with its fold_b partner; return pairs written per split."""
    check_folders(fold_a, fold_b, fold_ab)
    guard = OutputGuard(tool="combine_A_and_B.py", flag="--fold_AB", reads=(fold_a, fold_b), overwrite=overwrite,
                        source=f"{fold_a.resolve()} + {fold_b.resolve()}")
    splits = sorted(p.name for p in fold_a.iterdir() if p.is_dir())
    if not splits:
        raise UserError(f"no split subfolders (e.g. train/val/test) in {fold_a}")
    found, skipped = {}, 0
    for split in splits:
        pairs, n_skipped = find_pairs(fold_a / split, fold_b / split, use_ab, num_imgs)
        check_sizes(pairs)
        skipped += n_skipped
        if pairs:
            found[split] = pairs
    if skipped:
        print(f"warning: skipped {skipped} image(s) in {fold_a} with no partner in {fold_b}", file=sys.stderr)
    if not found:
        missing = [s for s in splits if not (fold_b / s).is_dir()]
        why = (f"{fold_b} has no {', '.join(missing)} folder" if missing else
               f"no file of {fold_a} ends with _A" if use_ab else f"no file of {fold_a} has a namesake in {fold_b}")
        raise UserError(f"no pairs to combine: {why}; check --fold_A, --fold_B and --use_AB")
    guard.claim((fold_ab / split / name for split, pairs in found.items() for _, _, name in pairs), root=fold_ab)
    existed = fold_ab.exists()
    try:
        for split, pairs in found.items():
            write_split(pairs, fold_ab / split, workers)
    finally:
        if not existed and fold_ab.is_dir() and not any(fold_ab.iterdir()):
            fold_ab.rmdir()
    return {split: len(pairs) for split, pairs in found.items()}


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
    p.add_argument("--overwrite", action="store_true",
                   help="write over images in --fold_AB that this tool did not make, or made from other folders")
    args = p.parse_args(argv)
    if args.num_imgs is not None and args.num_imgs < 1:
        p.error(f"--num_imgs must be >= 1, got {args.num_imgs}")
    return args


@main_guard
def main(argv: list[str] | None = None) -> int:
    """Run the tool; return the process exit code."""
    args = parse_args(argv)
    workers = 1 if args.no_multiprocessing else (os.cpu_count() or 1)
    written = combine(args.fold_A, args.fold_B, args.fold_AB, args.num_imgs, args.use_AB, workers, args.overwrite)
    summary = ", ".join(f"{split}: {n}" for split, n in written.items()) or "nothing"
    print(f"combined {sum(written.values())} pairs into {args.fold_AB} ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
