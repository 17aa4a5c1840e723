"""Label maps as classes (--label_nc): colour or id label maps to class ids, class ids to one-hot inputs, and back
to colours for the pages that show them.

A label map comes in one of two layouts (--palette):
- colours of a dataset's palette (facades, cityscapes; util/palettes.py): each pixel takes the class of the nearest
  palette colour, so JPEG's smeared edges go to a class. Colours farther than --label_threshold (by default the
  palette's spacing, Palette.spacing) from every palette colour are no class where they fill a region of at least
  REGION x REGION pixels; smaller specks of them are what JPEG makes of edges and thin stripes, and take the nearest
  class;
- ids: values that are the class ids themselves, read as stored: grey levels of any bit depth (Cityscapes'
  *_labelIds.png, prepare_cityscapes_dataset.py --labels ids) or the indices of a palette ("P") image, unless its
  palette is grey (then its grey levels). An id of --label_nc or more is no class; id maps stored lossily (JPEG,
  lossy WebP) are refused, as compression turns ids into other ids.
Transparent pixels (alpha under half) are no class. Pixels that are no class are an error naming the file, or with
--dontcare one more class (id label_nc, its own input channel), counted once over the dataset. An image that does
not look like a label map (`likeness`: a photo given as the input side) is an error, also with --dontcare.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from .errors import UserError
from .images import lossy_encoding, to_8bit
from .palettes import PALETTES, STROKE_ALPHA, guess_palette, nearest_colours

ID_PALETTE = "ids"  # --palette ids: the values of the label maps are class ids
PALETTE_CHOICES = ("auto", *PALETTES, ID_PALETTE)  # values of --palette
# The smallest square of far colours that is no class: one JPEG colour block (16x16 pixels with 4:2:0 chroma), the
# extent of its colour errors. On the real label maps (facades 606, cityscapes sample 200, JPEG), at the palettes'
# spacing, the largest squares of far pixels are 10 and 11 pixels wide, although single pixels reach 189 and 122.
REGION = 16
# A label map is flat areas of class colours: of its pixels whose neighbours differ by at most FLAT levels, those
# within NEAR of a palette colour. Measured: facades label maps 0.85-1, their photos 0; cityscapes label maps
# 0.99-1, their photos 0.01-0.47. MIN_LIKENESS lies between (and more than half no class is no label map).
FLAT, NEAR, MIN_LIKENESS = 4, 12, 0.7

# Cityscapes' label ids 0..33 in the colours of cityscapesScripts' helpers/labels.py (ids 0-4 are void, black), for
# showing id label maps; ids beyond take colours of the generic map below
CITYSCAPES_ID_COLOURS = [
    (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (111, 74, 0), (81, 0, 81), (128, 64, 128),
    (244, 35, 232), (250, 170, 160), (230, 150, 140), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (180, 165, 180), (150, 100, 100), (150, 120, 90), (153, 153, 153), (153, 153, 153), (250, 170, 30),
    (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142),
    (0, 0, 70), (0, 60, 100), (0, 0, 90), (0, 0, 110), (0, 80, 100), (0, 0, 230), (119, 11, 32),
]
DONTCARE_COLOUR = (255, 255, 255)


def generic_colours(n: int) -> np.ndarray:
    """n distinct colours (PASCAL VOC's bit-interleaving colour map), n x 3 uint8."""
    colours = np.zeros((n, 3), np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for shift in range(7, -1, -1):
            r, g, b = r | ((c & 1) << shift), g | (((c >> 1) & 1) << shift), b | (((c >> 2) & 1) << shift)
            c >>= 3
        colours[i] = (r, g, b)
    return colours


def resolve_palette(palette: str, dataroot: str | None) -> str:
    """--palette auto -> the palette named in the dataset's path (cityscapes), else facades."""
    return guess_palette(dataroot) if palette == "auto" else palette


class LabelCoder:
    """Class ids of label-map images, one-hot tensors of class ids, and colours of one-hot tensors, for the options'
    --label_nc, --palette, --dontcare and --label_threshold."""

    def __init__(self, opt: argparse.Namespace):
        self.label_nc, self.dontcare = opt.label_nc, opt.dontcare
        self.palette = resolve_palette(opt.palette, opt.dataroot)
        self.channels = self.label_nc + int(self.dontcare)  # the network's input channels
        if self.palette == ID_PALETTE:
            self.colours = None
            shown = np.concatenate([np.array(CITYSCAPES_ID_COLOURS, np.uint8), generic_colours(256)[34:]])
        else:
            palette = PALETTES[self.palette]
            if len(palette.classes) != self.label_nc:
                raise UserError(f"--label_nc {self.label_nc}: --palette {self.palette} has {len(palette.classes)} "
                                f"classes ({', '.join(palette.classes)}); pass --label_nc {len(palette.classes)}")
            # colours of the label maps that are not classes count as the blank class (Cityscapes' ignored labels)
            blank = list(palette.classes).index(palette.blank)
            self.colours = palette.all_colours().astype(np.int32)
            self.colour_ids = np.array(list(range(len(palette.classes))) + [blank] * len(palette.others), np.uint8)
            self.threshold = getattr(opt, "label_threshold", None) or palette.spacing()
            shown = palette.class_colours()
        self.shown = np.concatenate([shown[: self.label_nc], np.array([DONTCARE_COLOUR], np.uint8)])

    def class_ids(self, image: Image.Image, path: str) -> tuple[np.ndarray, int]:
        """The HxW uint8 class ids of a label-map image (any mode: its values as stored, util.images.open_stored),
        and how many of its pixels are no class (those take the dontcare id with --dontcare; without it they are a
        UserError naming the file). A UserError too: an image that does not look like a label map (likeness below
        MIN_LIKENESS), and with --palette ids a `path` (the file the image comes from) stored lossily."""
        lossy = None if self.colours is not None else lossy_encoding(path) if os.path.isfile(path) else \
            "JPEG" if image.format in ("JPEG", "MPO") else None  # an image opened by the caller (the Generator API)
        if lossy:
            raise UserError(f"{path} is stored as {lossy}, whose compression turns the class ids of --palette ids "
                            f"into other ids: save id maps as PNG (lossless), e.g. prepare_cityscapes_dataset.py "
                            f"--labels ids")
        found = self._classes(image, path)
        if found is None:
            raise UserError(f"{path}: --palette ids reads grey label maps whose levels (or a palette image's "
                            f"indices) are class ids, but this one has colours: pass the palette of its colours "
                            f"(--palette facades|cityscapes), or write id maps, e.g. prepare_cityscapes_dataset.py "
                            f"--labels ids")
        ids, blank, near, pixels = found
        count = int(blank.sum())
        if count and not self.dontcare:
            what = (f"ids of {self.label_nc} or more" if self.colours is None else
                    f"colours farther than --label_threshold {self.threshold:.0f} from every {self.palette} class "
                    f"colour, filling regions of {REGION}x{REGION} px or more")
            raise UserError(f"{path}: {count} label-map pixels are no {self.palette} class ({what}, or transparent): "
                            f"check --palette and --direction (the label map must be the input side), or pass "
                            f"--dontcare to give them a class of their own")
        likeness = _likeness(blank, near, pixels)
        if likeness < MIN_LIKENESS:
            why = (f"{blank.mean():.0%} of it is no class" if blank.mean() > 0.5 else
                   f"{likeness:.0%} of its flat areas are in class colours, label maps have {MIN_LIKENESS:.0%} or more")
            raise UserError(f"{path} does not look like a {self.palette} label map ({why}): is it a photo? The input "
                            f"must be the label map, in the colours or ids of --palette (check --direction, --input "
                            f"and --palette)")
        ids[blank] = self.label_nc
        return ids, count

    def _classes(self, image: Image.Image, path: str) -> tuple[np.ndarray, ...] | None:
        """(class ids, pixels of no class, pixels that hold a class as label maps do, the values to judge flatness
        by) of a label-map image; None for a colour image with --palette ids."""
        transparent = _transparent(image)
        if self.colours is None:
            values = _id_values(image, path)
            if values is None:
                return None
            blank = (values < 0) | (values >= self.label_nc) | transparent
            return np.where(blank, 0, values).astype(np.uint8), blank, ~blank, values[..., None]
        rgb = np.asarray(to_8bit(image, path).convert("RGB"))
        nearest, distance = nearest_colours(rgb, self.colours)
        blank = _regions(distance > self.threshold**2, REGION) | transparent
        return self.colour_ids[nearest], blank, distance <= NEAR**2, rgb

    def survey(self, paths: list[str], read: Callable[[int], Image.Image]) -> int:
        """Check every label map of a dataset (read(i) gives the i-th) as class_ids does: the first with pixels of no
        class is an error without --dontcare (with it, the count is reported once), and so is the first that does
        not look like a label map. Returns that count."""
        total, files = 0, 0
        for index, path in enumerate(paths):
            _, count = self.class_ids(read(index), path)
            total, files = total + count, files + bool(count)
        if total:
            print(f"--dontcare: {total} pixels in {files} of {len(paths)} label maps are no {self.palette} class; "
                  f"they form class {self.label_nc} (input channel {self.label_nc})")
        return total

    def likeness(self, image: Image.Image, path: str) -> float:
        """How much an image looks like a label map of these classes, 0 to 1: of its flat areas outside pixels of
        no class, the fraction in class colours (ids: class ids); 0 when more than half of it is no class or it has
        colours (--palette ids); 1 when it is too small to tell (under REGION x REGION)."""
        found = self._classes(image, path)
        return 0.0 if found is None else _likeness(*found[1:])

    def one_hot(self, ids: torch.Tensor) -> torch.Tensor:
        """Class ids (... x H x W, any integer dtype) as float one-hot maps (... x channels x H x W)."""
        one_hot = torch.nn.functional.one_hot(ids.long(), self.channels)
        return one_hot.movedim(-1, -3).float()

    def colorize(self, one_hot: torch.Tensor) -> torch.Tensor:
        """One-hot maps (N x channels x H x W, or C x H x W) as [-1, 1] RGB images in the palette's colours."""
        shown = torch.from_numpy(self.shown).to(one_hot.device)
        rgb = shown[one_hot.argmax(-3)].movedim(-1, -3)
        return rgb.float().div(127.5).sub(1.0)



def _transparent(image: Image.Image) -> np.ndarray:
    """The pixels less than half opaque: nothing is painted there."""
    if "A" in image.getbands():
        alpha = image.getchannel("A")
    elif "transparency" in image.info and image.mode in ("P", "L", "RGB"):
        alpha = image.convert("RGBA").getchannel("A")
    else:
        return np.zeros(image.size[::-1], bool)
    return np.asarray(alpha) < STROKE_ALPHA


def _id_values(image: Image.Image, path: str) -> np.ndarray | None:
    """The ids an id map stores, HxW int64: grey levels of any bit depth (never scaled), whole-number floats, palette
    indices (the grey levels when its palette is grey); None for a colour image."""
    if image.mode not in ("1", "L", "LA", "I", "F", "P", "PA") and not image.mode.startswith("I;16"):
        rgb = np.asarray(image.convert("RGB"))
        return rgb[..., 0].astype(np.int64) if (rgb == rgb[..., :1]).all() else None
    values = np.asarray(image)
    values = values[..., 0] if values.ndim == 3 else values  # LA, PA: alpha is read apart
    if image.mode == "F" and not np.array_equal(values, np.round(values)):
        raise UserError(f"{path} holds fractional values: --palette ids reads whole numbers, the class ids; save the "
                        f"id map as an 8- or 16-bit integer image")
    if image.mode in ("P", "PA"):
        entries = np.array(image.getpalette("RGB") or [], np.int64).reshape(-1, 3)
        palette = np.zeros((256, 3), np.int64)
        palette[: len(entries)] = entries
        used = palette[np.unique(values)]
        if (used == used[:, :1]).all():  # a grey palette: its levels are the ids, whatever the order of its entries
            return palette[values, 0]
    return values.astype(np.int64)


def _regions(mask: np.ndarray, size: int) -> np.ndarray:
    """The pixels of a HxW mask that lie in a size x size square of mask pixels (a morphological opening); the square
    shrinks to fit images smaller than it."""
    size = min(size, *mask.shape)
    full = _window_sums(mask, size) == size * size  # top-left corners of full squares
    return _window_sums(np.pad(full, size - 1), size) > 0


def _window_sums(mask: np.ndarray, size: int) -> np.ndarray:
    """The number of set pixels in every size x size window of a HxW mask, (H - size + 1) x (W - size + 1)."""
    sums = np.pad(mask.astype(np.int32), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    return sums[size:, size:] - sums[:-size, size:] - sums[size:, :-size] + sums[:-size, :-size]


def _flat(pixels: np.ndarray) -> np.ndarray:
    """The pixels of a HxWxC image whose right and lower neighbours differ from them by at most FLAT levels."""
    values = pixels.astype(np.int32)
    corner = values[:-1, :-1]
    flat = np.zeros(values.shape[:2], bool)
    flat[:-1, :-1] = ((np.abs(values[:-1, 1:] - corner).max(-1) <= FLAT)
                      & (np.abs(values[1:, :-1] - corner).max(-1) <= FLAT))
    return flat


def _likeness(blank: np.ndarray, near: np.ndarray, pixels: np.ndarray) -> float:
    """LabelCoder.likeness of an image's pixels of no class, pixels in class colours and values."""
    if min(blank.shape) < REGION:
        return 1.0
    if blank.mean() > 0.5:
        return 0.0
    flat = _flat(pixels) & ~blank
    return float((flat & near).sum() / flat.sum()) if flat.any() else 0.0  # no flat area at all: noise, a photo
