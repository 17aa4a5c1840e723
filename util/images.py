"""Reading image files, the one way every part of DLIM does it: training, testing, evaluation, the dataset tools
and the demo.

- One list of file extensions (IMG_EXTENSIONS). Of an animated or multi-page file (GIF, WebP, TIFF) the first
  frame is read, with one warning per file.
- Orientation as photo viewers show it: the EXIF orientation tag is applied (and `image_size` swaps width and
  height when it says the picture is turned by 90 degrees).
- 8 bits per channel: 16-bit integer images (PIL modes I;16 and I, e.g. 16-bit PNG and TIFF) are scaled from
  0..65535 to 0..255, float images (mode F) from 0..1 to 0..255, so a 16-bit ramp stays a ramp instead of being
  clipped to white. Values outside those ranges are refused, naming the file. Label maps whose values are class
  ids are read as stored instead (`open_stored`), and `lossy_encoding` says whether compression changed them.
- A file that is not an image, is truncated, or is larger than PIL's decompression-bomb limit gives a UserError
  that names it and says what to do.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import UserError, warn

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp", ".gif")
_INT16_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
# EXIF orientation -> the transposition that shows the picture as a viewer does (5 to 8 turn it by 90 degrees)
_ORIENTATIONS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                 4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270,
                 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
_READ_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError)
_WARNED_FRAMES: set[str] = set()  # animated files already warned about in this process (a loader reads each often)


class TooLargeImage(UserError):
    """An image above PIL's decompression-bomb limit."""


def is_image_file(path: str | os.PathLike) -> bool:
    """Whether the file name has one of the image extensions DLIM reads (hidden files are not images)."""
    name = Path(path).name
    return not name.startswith(".") and Path(name).suffix.lower() in IMG_EXTENSIONS


def _bomb_message(path: str | os.PathLike) -> str:
    """What to say about an image above PIL's decompression-bomb limit, with its size read from the header."""
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with Image.open(path) as img:  # the header only: nothing is decoded
            width, height = img.size
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    return (f"{path} is {width}x{height} ({width * height / 1e6:.0f} megapixels), above the "
            f"{2 * (limit or 0) / 1e6:.0f} megapixels that PIL decodes safely: downscale it (e.g. to the size you "
            f"train at)")


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation tag (1 = as stored) from what PIL read when opening the file, without decoding it.
    PIL turns TIFF images itself (their size already is the turned one): 1 for them."""
    if "exif" not in img.info or img.format == "TIFF":
        return 1
    exif = Image.Exif()
    exif.load(img.info["exif"])
    return exif.get(0x0112, 1)


def _warn_if_animated(img: Image.Image, path: str | os.PathLike) -> None:
    """Say once per file that only the first frame of an animated or multi-page image is read."""
    frames = getattr(img, "n_frames", 1)
    if frames > 1 and str(path) not in _WARNED_FRAMES:
        _WARNED_FRAMES.add(str(path))
        warn(f"{path} holds {frames} frames (animated or multi-page): only the first is used")


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) as shown by a photo viewer, read from the file header only."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            turned = _orientation(img) in (5, 6, 7, 8)
            _warn_if_animated(img, path)
    except Image.DecompressionBombError:
        raise TooLargeImage(_bomb_message(path)) from None
    except _READ_ERRORS as exc:
        raise UserError(f"cannot read image {path} ({type(exc).__name__}: {exc}): replace or remove the "
                        f"file") from None
    return (height, width) if turned else (width, height)


def to_8bit(img: Image.Image, path: str | os.PathLike) -> Image.Image:
    """A 16-bit or float image as 8-bit gray ("L") with its range scaled; other images as they are."""
    if img.mode not in _INT16_MODES and img.mode != "F":
        return img
    values = np.asarray(img)
    if img.mode == "F":
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if not (np.isfinite(values).all() and low >= 0 and high <= 1):
            raise UserError(f"{path} is a floating-point image with values from {low:g} to {high:g}; DLIM reads "
                            f"float images as 0..1: rescale it to 0..1, or save it as an 8- or 16-bit image")
        scaled = values.astype(np.float64) * 255
    else:
        low, high = (int(values.min()), int(values.max())) if values.size else (0, 0)
        if low < 0 or high > 65535:
            raise UserError(f"{path} holds integers from {low} to {high}; DLIM reads integer images as 8 or 16 "
                            f"bits (0..65535): save it as an 8- or 16-bit image")
        scaled = values.astype(np.float64) / 257
    return Image.fromarray(np.round(scaled).astype(np.uint8))


def open_stored(path: str | os.PathLike) -> Image.Image:
    """The decoded image (its first frame), turned as EXIF says, with the values and mode it is stored in (16-bit
    integers, palette indices and alpha kept)."""
    try:
        with warnings.catch_warnings(record=True) as caught, Image.open(path) as img:
            warnings.simplefilter("always", Image.DecompressionBombWarning)
            orientation = _orientation(img)
            _warn_if_animated(img, path)
            img.load()
            if orientation in _ORIENTATIONS:
                img = img.transpose(_ORIENTATIONS[orientation])
    except Image.DecompressionBombError:
        raise TooLargeImage(_bomb_message(path)) from None
    except _READ_ERRORS as exc:
        raise UserError(f"cannot read image {path} ({type(exc).__name__}: {exc}): the file is corrupt or "
                        f"truncated; replace or remove it") from None
    if any(issubclass(w.category, Image.DecompressionBombWarning) for w in caught):
        warn(f"{path} is {img.width}x{img.height} ({img.width * img.height / 1e6:.0f} megapixels): decoding it takes "
             f"much memory and time; downscale it once instead")
    return img


def open_image(path: str | os.PathLike) -> Image.Image:
    """The decoded image, turned as EXIF says and with 8 bits per channel (RGB, RGBA, L, P, ... as stored)."""
    return to_8bit(open_stored(path), path)


def lossy_encoding(path: str | os.PathLike) -> str | None:
    """The name of the lossy compression the file is stored with (JPEG, lossy WebP, JPEG in TIFF), else None;
    read from the header (WebP: from its chunk list)."""
    try:
        with Image.open(path) as img:
            fmt, compression = img.format, img.info.get("compression")
    except _READ_ERRORS as exc:
        raise UserError(f"cannot read image {path} ({type(exc).__name__}: {exc}): replace or remove the "
                        f"file") from None
    if fmt in ("JPEG", "MPO"):
        return "JPEG"
    if fmt == "TIFF" and compression in ("jpeg", "tiff_jpeg"):
        return "JPEG-compressed TIFF"
    if fmt == "WEBP" and _webp_chunk(path) == b"VP8 ":
        return "lossy WebP"
    return None


def _webp_chunk(path: str | os.PathLike) -> bytes | None:
    """The kind of a WebP file's (first) image chunk: b"VP8 " (lossy) or b"VP8L" (lossless)."""
    with open(path, "rb") as f:
        f.seek(12)  # after "RIFF", the size and "WEBP"
        while len(header := f.read(8)) == 8:
            kind, size = header[:4], int.from_bytes(header[4:], "little")
            if kind in (b"VP8 ", b"VP8L"):
                return kind
            # an animation frame's image chunks follow its 16-byte frame header; other chunks are skipped whole
            f.seek(16 if kind == b"ANMF" else size + (size & 1), os.SEEK_CUR)
    return None


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """The image as 8-bit RGB (gray, palette, RGBA and CMYK are converted; alpha is dropped)."""
    return open_image(path).convert("RGB")


def load_uint8(path: str | os.PathLike) -> np.ndarray:
    """The image as an HxWx3 uint8 array."""
    return np.asarray(load_rgb(path))
