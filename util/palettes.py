"""Label-map colours by dataset, and snapping painted or resized label maps to exact class colours."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

RGB = tuple[int, int, int]
# a painted layer pixel counts as painted when at least half covered: anti-aliased stroke edges go one way or the
# other instead of blending two classes into the colour of a third
STROKE_ALPHA = 128


@dataclass(frozen=True)
class Palette:
    """A dataset's label colours: the classes one can paint, in the dataset's order, and other colours its maps use."""

    classes: dict[str, RGB]
    blank: str  # the class that fills a new, empty label map
    others: dict[str, RGB] = field(default_factory=dict)  # colours in the label maps that are not painted

    def class_colours(self) -> np.ndarray:
        """The paintable colours, K x 3 uint8."""
        return np.array(list(self.classes.values()), dtype=np.uint8)

    def all_colours(self) -> np.ndarray:
        """Every colour a label map of this dataset may hold, K x 3 uint8."""
        return np.array(list(self.classes.values()) + list(self.others.values()), dtype=np.uint8)

    def spacing(self) -> float:
        """How far apart neighbouring colours of the label maps are: the median, over the colours, of the RGB distance
        to the nearest other one (facades 79, cityscapes 49)."""
        colours = self.all_colours().astype(np.float64)
        distances = np.sqrt(((colours[:, None] - colours[None]) ** 2).sum(-1))
        np.fill_diagonal(distances, np.inf)
        return float(np.median(distances.min(1)))

    def snap(self, image: np.ndarray) -> np.ndarray:
        """An HxWx3 uint8 image with every pixel set to the nearest colour of this dataset's label maps."""
        return snap_to_colours(image, self.all_colours())

    def blank_map(self, size: tuple[int, int]) -> np.ndarray:
        """A (width, height) label map filled with the blank class."""
        return np.broadcast_to(np.array(self.classes[self.blank], np.uint8), (size[1], size[0], 3)).copy()

    def paint(self, background: np.ndarray, layers: list[np.ndarray]) -> np.ndarray:
        """The label map under painted RGBA layers: stroke pixels take the nearest class colour, nothing blends.
        The background is an HxWx3 or HxWx4 uint8 image, each layer an RGBA uint8 image; else a ValueError."""
        if not (isinstance(background, np.ndarray) and background.dtype == np.uint8 and background.ndim == 3
                and background.shape[2] in (3, 4)):
            raise ValueError(f"the canvas background must be an HxWx3 or HxWx4 uint8 image, got "
                             f"{getattr(background, 'dtype', type(background).__name__)} "
                             f"{getattr(background, 'shape', '')}")
        bad = next((layer for layer in layers if not (isinstance(layer, np.ndarray) and layer.dtype == np.uint8
                                                      and layer.ndim == 3 and layer.shape[2] == 4)), None)
        if bad is not None:
            raise ValueError(f"each painted layer must be an HxWx4 (RGBA) uint8 image, got "
                             f"{getattr(bad, 'dtype', type(bad).__name__)} {getattr(bad, 'shape', '')}")
        label_map = self.snap(background[..., :3])
        for layer in layers:
            if layer.shape[:2] != label_map.shape[:2]:
                layer = np.asarray(Image.fromarray(layer).resize(label_map.shape[1::-1], Image.NEAREST))
            painted = layer[..., 3] >= STROKE_ALPHA
            label_map[painted] = snap_to_colours(layer[painted][None, :, :3], self.class_colours())[0]
        return label_map


def nearest_colours(image: np.ndarray, colours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel of an HxWx3 uint8 image, the index of the nearest (Euclidean RGB) of the K x 3 colours and the
    squared distance to it, both HxW."""
    pixels = image.reshape(-1, 3).astype(np.int32)
    packed = (pixels[:, 0] << 16) | (pixels[:, 1] << 8) | pixels[:, 2]
    unique, inverse = np.unique(packed, return_inverse=True)  # an image holds few distinct colours: compare those
    rgb = np.stack([unique >> 16, (unique >> 8) & 255, unique & 255], axis=1)
    distance = ((rgb[:, None, :] - colours[None, :, :].astype(np.int32)) ** 2).sum(-1)
    nearest = distance.argmin(1)
    inverse, shape = inverse.reshape(-1), image.shape[:2]
    return nearest[inverse].reshape(shape), distance[np.arange(len(unique)), nearest][inverse].reshape(shape)


def snap_to_colours(image: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Replace each pixel of an HxWx3 uint8 image by the nearest (Euclidean RGB) of the K x 3 colours."""
    return colours[nearest_colours(image, colours)[0]].astype(np.uint8)


def resize_label_map(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an HxWx3 label map to (width, height) without interpolating between class colours."""
    if image.shape[1::-1] == tuple(size):
        return image
    return np.asarray(Image.fromarray(image).resize(size, Image.NEAREST))


def guess_palette(dataroot: str | None) -> str:
    """The palette named in the dataset's path (./datasets/cityscapes_sample -> cityscapes), else facades."""
    path = str(Path(dataroot)).lower() if dataroot else ""
    return next((name for name in PALETTES if name != DEFAULT_PALETTE and name in path), DEFAULT_PALETTE)


# The CMP facade classes, measured from the pix2pix facades label maps (right halves of facades/train/*.jpg): the
# 12 colour clusters, each the median of its flat, artifact-free JPEG pixels, in the CMP class order.
FACADES_PALETTE: dict[str, RGB] = {
    "background": (0, 0, 222),
    "facade": (0, 48, 255),
    "window": (0, 128, 255),
    "door": (0, 207, 255),
    "cornice": (32, 255, 224),
    "sill": (112, 255, 142),
    "balcony": (192, 255, 63),
    "blind": (255, 240, 0),
    "deco": (255, 159, 0),
    "molding": (255, 80, 0),
    "pillar": (255, 0, 0),
    "shop": (174, 0, 0),
}

# Cityscapes' 19 training classes in trainId order, with the colours of cityscapesScripts' helpers/labels.py (the
# colours of gtFine/*_gtFine_color.png), and void (unlabelled, ego vehicle, static, ...), which is black.
CITYSCAPES_PALETTE: dict[str, RGB] = {
    "road": (128, 64, 128),
    "sidewalk": (244, 35, 232),
    "building": (70, 70, 70),
    "wall": (102, 102, 156),
    "fence": (190, 153, 153),
    "pole": (153, 153, 153),
    "traffic light": (250, 170, 30),
    "traffic sign": (220, 220, 0),
    "vegetation": (107, 142, 35),
    "terrain": (152, 251, 152),
    "sky": (70, 130, 180),
    "person": (220, 20, 60),
    "rider": (255, 0, 0),
    "car": (0, 0, 142),
    "truck": (0, 0, 70),
    "bus": (0, 60, 100),
    "train": (0, 80, 100),
    "motorcycle": (0, 0, 230),
    "bicycle": (119, 11, 32),
    "void": (0, 0, 0),
}
# the other labels of *_gtFine_color.png, which are not trained on (polegroup and license plate share the colours
# of pole and car)
CITYSCAPES_OTHERS: dict[str, RGB] = {
    "dynamic": (111, 74, 0),
    "ground": (81, 0, 81),
    "parking": (250, 170, 160),
    "rail track": (230, 150, 140),
    "guard rail": (180, 165, 180),
    "bridge": (150, 100, 100),
    "tunnel": (150, 120, 90),
    "caravan": (0, 0, 90),
    "trailer": (0, 0, 110),
}

DEFAULT_PALETTE = "facades"
PALETTES: dict[str, Palette] = {
    "facades": Palette(FACADES_PALETTE, blank="background"),
    "cityscapes": Palette(CITYSCAPES_PALETTE, blank="void", others=CITYSCAPES_OTHERS),
}
