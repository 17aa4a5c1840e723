"""Label maps as classes (--label_nc): colour or id label maps to class ids, class ids to one-hot inputs, and back
to colours for the pages that show them.

A label map comes in one of two layouts (--palette):
- colours of a dataset's palette (facades, cityscapes; util/palettes.py): each pixel takes the class of the nearest
  palette colour, so JPEG's smeared edges go to a class; a pixel farther than --label_threshold from every colour
  is not a label colour at all;
- ids: grey levels that are the class ids themselves (Cityscapes' *_labelIds.png, prepare_cityscapes_dataset.py
  --labels ids; saved as PNG, exact); an id of --label_nc or more is not a class.
Pixels that are not a class are an error naming the file, or with --dontcare one more class (id label_nc, its own
input channel), counted once over the dataset.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from .errors import UserError
from .palettes import PALETTES, guess_palette, nearest_colours

ID_PALETTE = "ids"  # --palette ids: grey levels are class ids
PALETTE_CHOICES = ("auto", *PALETTES, ID_PALETTE)  # values of --palette
DEFAULT_THRESHOLD = 200.0  # RGB distance; the farthest JPEG pixels of the standard sets: facades 189, cityscapes 119

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
        self.threshold = getattr(opt, "label_threshold", DEFAULT_THRESHOLD)
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
            shown = palette.class_colours()
        self.shown = np.concatenate([shown[: self.label_nc], np.array([DONTCARE_COLOUR], np.uint8)])

    def class_ids(self, image: Image.Image, path: str) -> tuple[np.ndarray, int]:
        """The HxW uint8 class ids of a label-map image, and how many of its pixels are no class (those take the
        dontcare id with --dontcare; without it they are a UserError naming the file)."""
        if self.colours is None:
            ids, unknown = self._from_ids(image, path)
        else:
            ids, unknown = self._from_colours(np.asarray(image.convert("RGB")))
        count = int(unknown.sum())
        if count and not self.dontcare:
            what = (f"ids of {self.label_nc} or more" if self.colours is None else
                    f"colours farther than --label_threshold {self.threshold:g} from every {self.palette} class")
            raise UserError(f"{path}: {count} label-map pixels hold {what}: check --palette and --direction (the "
                            f"label map must be the input side), or pass --dontcare to give them a class of their own")
        if count:
            ids[unknown] = self.label_nc
        return ids, count

    def _from_colours(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nearest, distance = nearest_colours(rgb, self.colours)
        return self.colour_ids[nearest], distance > self.threshold**2

    def _from_ids(self, image: Image.Image, path: str) -> tuple[np.ndarray, np.ndarray]:
        values = np.asarray(image)
        if values.ndim == 3:
            if not (np.array_equal(values[..., 0], values[..., 1]) and np.array_equal(values[..., 0], values[..., 2])):
                raise UserError(f"{path}: --palette ids reads grey label maps whose levels are class ids, but this "
                                f"one has colours: pass the palette of its colours (--palette facades|cityscapes), "
                                f"or write id maps, e.g. prepare_cityscapes_dataset.py --labels ids")
            values = values[..., 0]
        ids = values.astype(np.uint8)
        return ids, ids >= self.label_nc

    def survey(self, paths: list[str], read: Callable[[int], Image.Image]) -> int:
        """Check every label map of a dataset (read(i) gives the i-th): the first with pixels of no class is an
        error without --dontcare; with it, the count is reported once. Returns that count."""
        total, files = 0, 0
        for index, path in enumerate(paths):
            _, count = self.class_ids(read(index), path)
            total, files = total + count, files + bool(count)
        if total:
            print(f"--dontcare: {total} pixels in {files} of {len(paths)} label maps are no {self.palette} class; "
                  f"they form class {self.label_nc} (input channel {self.label_nc})")
        return total

    def likeness(self, image: Image.Image) -> float:
        """How much an image looks like a label map of these classes: the fraction of its pixels within 20 of a
        class colour (ids: grey levels below label_nc). Measured: facades label maps 0.43-1, their photos 0;
        Cityscapes label maps 0.77-1, their photos at most 0.46."""
        rgb = np.asarray(image.convert("RGB"))
        if self.colours is None:
            grey = (rgb[..., 0] == rgb[..., 1]) & (rgb[..., 0] == rgb[..., 2])
            return float((grey & (rgb[..., 0] < self.label_nc)).mean())
        return float((nearest_colours(rgb, self.colours)[1] <= 20**2).mean())

    def one_hot(self, ids: torch.Tensor) -> torch.Tensor:
        """Class ids (... x H x W, any integer dtype) as float one-hot maps (... x channels x H x W)."""
        one_hot = torch.nn.functional.one_hot(ids.long(), self.channels)
        return one_hot.movedim(-1, -3).float()

    def colorize(self, one_hot: torch.Tensor) -> torch.Tensor:
        """One-hot maps (N x channels x H x W, or C x H x W) as [-1, 1] RGB images in the palette's colours."""
        shown = torch.from_numpy(self.shown).to(one_hot.device)
        rgb = shown[one_hot.argmax(-3)].movedim(-1, -3)
        return rgb.float().div(127.5).sub(1.0)

