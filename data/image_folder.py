"""Listing and reading image files, with errors that name the file."""
from __future__ import annotations

import os
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from util.errors import UserError, warn

IMG_EXTENSIONS = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp"}


def list_images(folder: str | os.PathLike, max_size: float = float("inf")) -> list[str]:
    """Sorted image paths under folder (recursive); other files are skipped with one warning."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"image folder {folder} does not exist: check --dataroot and --phase")
    images, others = [], []
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            if name.startswith("."):
                continue
            (images if Path(name).suffix.lower() in IMG_EXTENSIONS else others).append(os.path.join(root, name))
    if others:
        warn(f"skipped {len(others)} non-image file(s) in {folder}, e.g. {others[0]}")
    if not images:
        raise UserError(f"no images in {folder}: put .jpg/.png files there or point --dataroot elsewhere")
    return images[: int(min(max_size, len(images)))]


def image_size(path: str) -> tuple[int, int]:
    """(width, height) from the file header; a file that is not an image raises a UserError naming it."""
    try:
        with Image.open(path) as img:
            return img.size
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise UserError(f"cannot read image {path} ({exc}): replace or remove the file") from None


def load_rgb(path: str) -> Image.Image:
    """Decode an image as RGB (grayscale and RGBA are converted); unreadable files raise a UserError."""
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"cannot read image {path} ({exc}): the file is corrupt or truncated; "
                        f"replace or remove it") from None
