"""Listing the image files of a dataset folder, reading the input side, and naming each one uniquely for test.py's
results."""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from PIL import Image

from util.errors import UserError, warn
from util.images import IMG_EXTENSIONS, image_size, is_image_file, load_rgb, open_stored
from util.labels import LabelCoder

__all__ = ["IMG_EXTENSIONS", "image_size", "list_images", "load_input", "load_rgb", "result_ids"]


def load_input(path: str, labels: LabelCoder | None) -> Image.Image:
    """An input-side image file as data.transforms.input_tensor takes it: with `labels` (--label_nc) the label map
    with its values as stored (16-bit ids, palette indices, alpha), else 8-bit RGB."""
    return open_stored(path) if labels is not None else load_rgb(path)


def list_images(folder: str | os.PathLike, max_size: float = float("inf")) -> list[str]:
    """Sorted image paths under folder (recursive, following links to folders, each folder once); other files and
    links to nothing are skipped, with one warning each kind."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"image folder {folder} does not exist: check --dataroot and --phase")
    images, others, broken = [], [], []
    for root, files in _walk(folder):
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(root, name)
            if not os.path.exists(path):  # a link whose target is gone
                broken.append(path)
                continue
            (images if is_image_file(name) else others).append(path)
    if others:
        warn(f"skipped {len(others)} non-image file(s) in {folder}, e.g. {others[0]}")
    if broken:
        warn(f"skipped {len(broken)} link(s) to nothing in {folder}: {', '.join(broken[:3])}"
             f"{', ...' if len(broken) > 3 else ''}")
    if not images:
        raise UserError(f"no images in {folder}: put .jpg/.png files there or point --dataroot elsewhere")
    return images[: int(min(max_size, len(images)))]


def _walk(folder: Path) -> list[tuple[str, list[str]]]:
    """(folder, file names) of every folder under `folder`, sorted by path; links to folders are followed, each
    real folder once (a link back up the tree is not followed again)."""
    found, seen = [], {os.path.realpath(folder)}
    for root, dirs, files in os.walk(folder, followlinks=True):
        kept = []
        for name in sorted(dirs):
            real = os.path.realpath(os.path.join(root, name))
            if real not in seen:
                seen.add(real)
                kept.append(name)
        dirs[:] = kept
        found.append((root, files))
    return sorted(found)


def result_ids(paths: list[str], root: str | os.PathLike) -> list[str]:
    """A distinct name per image for test.py's result files: the file name without its extension, prefixed by
    its subfolders when it is in one (siteA/1.jpg -> siteA_1); names that still clash keep their extension
    (1.jpg and 1.png -> 1_jpg, 1_png), and a number when even that clashes."""
    relative = [Path(os.path.relpath(p, root)) for p in paths]
    ids = ["_".join((*r.parent.parts, r.stem)) for r in relative]
    clashes = Counter(ids)
    ids = [i if clashes[i] == 1 else "_".join((*r.parent.parts, r.name.replace(".", "_")))
           for i, r in zip(ids, relative)]
    taken, unique = set(ids), []
    for image_id, count in zip(ids, _running_count(ids)):
        k = count
        while count > 1 and f"{image_id}_{k}" in taken:
            k += 1
        unique.append(image_id if count == 1 else f"{image_id}_{k}")
        taken.add(unique[-1])
    return unique


def _running_count(items: list[str]) -> list[int]:
    """For each item, how many times it has occurred so far (1 for its first occurrence)."""
    seen: Counter[str] = Counter()
    counts = []
    for item in items:
        seen[item] += 1
        counts.append(seen[item])
    return counts
