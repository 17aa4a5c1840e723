#!/usr/bin/env python3
"""Generate a synthetic facades-like paired dataset (photo | label map) that needs no download."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from options.types import seed
from util.errors import ArgumentParser, main_guard
from util.fileio import atomic_path
from util.outputs import OutputGuard
from util.palettes import FACADES_PALETTE

(BACKGROUND, FACADE, WINDOW, DOOR, CORNICE, SILL, BALCONY, BLIND, DECO, MOLDING, PILLAR, SHOP) = range(12)
PALETTE_ARRAY = np.array(list(FACADES_PALETTE.values()), dtype=np.uint8)

# Base photo colour of each class (RGB in [0, 1]), before texture, shading and noise.
_BASE_COLOURS = np.array(
    [
        (0.62, 0.67, 0.73),  # background: sky / surroundings
        (0.66, 0.42, 0.33),  # facade: brick
        (0.20, 0.25, 0.32),  # window: glass
        (0.30, 0.19, 0.12),  # door: wood
        (0.82, 0.78, 0.70),  # cornice: stone
        (0.86, 0.84, 0.78),  # sill
        (0.30, 0.30, 0.32),  # balcony: iron railing
        (0.25, 0.38, 0.27),  # blind: green shutters
        (0.78, 0.72, 0.62),  # deco
        (0.74, 0.69, 0.60),  # molding
        (0.84, 0.80, 0.72),  # pillar
        (0.16, 0.18, 0.21),  # shop: storefront glass
    ],
    dtype=np.float32,
)
SPLITS = ("train", "val", "test")


class Canvas:
    """Label map plus, per pixel, its offset and the size of the rectangle that painted it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.labels = np.zeros((size, size), np.uint8)
        # [offset_y, offset_x, height, width]; textures use it for gradients, frames and mullions.
        self.geom = np.zeros((4, size, size), np.int32)
        self.rect(BACKGROUND, 0, 0, size, size)

    def rect(self, cls: int, y0: float, x0: float, y1: float, x1: float) -> None:
        """Paint class `cls` on the pixel rectangle [y0, y1) x [x0, x1), at least one pixel each way."""
        a, c = int(round(y0)), int(round(x0))
        b, d = max(a + 1, int(round(y1))), max(c + 1, int(round(x1)))
        a, b = max(a, 0), min(b, self.size)
        c, d = max(c, 0), min(d, self.size)
        if a >= b or c >= d:
            return
        self.labels[a:b, c:d] = cls
        self.geom[0, a:b, c:d] = np.arange(b - a)[:, None]
        self.geom[1, a:b, c:d] = np.arange(d - c)[None, :]
        self.geom[2, a:b, c:d] = b - a
        self.geom[3, a:b, c:d] = d - c


@dataclass
class Grid:
    """Where a facade's floors and window columns are, in pixels."""

    fx0: float  # the facade's left and right edges
    fx1: float
    cornice_bottom: float
    top: float  # where the floors start
    gtop: float  # where the ground floor starts, and its height
    gh: float
    floor_h: float
    n_floors: int
    col_x: np.ndarray  # window column centres
    pitch: float
    margin: float
    win_w: float = 0.0  # drawn with the windows


def make_layout(rng: np.random.Generator, size: int) -> Canvas:
    """Draw a random facade layout (nearest-neighbour rectangles) with the CMP facade classes."""
    cv = Canvas(size)
    grid = _facade(cv, rng)
    _windows(cv, rng, grid)
    _ground_floor(cv, rng, grid)
    return cv


def _facade(cv: Canvas, rng: np.random.Generator) -> Grid:
    """The facade, its cornice (with dentils, sometimes), and the grid of floors and columns."""
    S = float(cv.size)
    fx0 = rng.uniform(0.0, 0.1) * S if rng.random() < 0.7 else 0.0
    fx1 = S - (rng.uniform(0.0, 0.1) * S if rng.random() < 0.7 else 0.0)
    ftop = rng.uniform(0.02, 0.2) * S
    fw = fx1 - fx0
    cv.rect(FACADE, ftop, fx0, S, fx1)
    ch = max(1.0, rng.uniform(0.025, 0.05) * S)
    over = 0.012 * S
    cv.rect(CORNICE, ftop, fx0 - over, ftop + ch, fx1 + over)
    if rng.random() < 0.4:  # dentils / brackets under the cornice
        step = max(2.0, rng.uniform(0.03, 0.06) * S)
        for x in np.arange(fx0 + step / 2, fx1 - step / 2, step):
            cv.rect(DECO, ftop + ch, x, ftop + ch + max(1.0, 0.015 * S), x + step / 2)
    gh = rng.uniform(0.16, 0.24) * S
    gtop = S - gh
    upper_top = ftop + ch + 0.03 * S
    n_floors = int(rng.integers(3, 6))
    n_cols = int(np.clip(fw / (S * rng.uniform(0.14, 0.24)), 2, 7))
    margin = fw * rng.uniform(0.03, 0.08)
    pitch = (fw - 2 * margin) / n_cols
    return Grid(fx0, fx1, ftop + ch, upper_top, gtop, gh, (gtop - upper_top) / n_floors, n_floors,
                fx0 + margin + pitch * (np.arange(n_cols) + 0.5), pitch, margin)


def _windows(cv: Canvas, rng: np.random.Generator, g: Grid) -> None:
    """The upper floors: molding bands and pilasters, then each floor's windows with their frames, pediments,
    shutters, blinds and sills, and its balconies."""
    S = float(cv.size)
    win_w = g.pitch * rng.uniform(0.4, 0.62)
    win_h = g.floor_h * rng.uniform(0.45, 0.68)
    win_off = g.floor_h * rng.uniform(0.12, 0.28)
    sill_h = max(1.0, 0.015 * S)
    has_sills, has_frames, has_pediments = rng.random(3) < (0.7, 0.35, 0.3)
    has_shutters, has_closed_blinds = rng.random() < 0.3, rng.random() < 0.35
    balcony_floors = rng.random(g.n_floors) < (0.45 if rng.random() < 0.5 else 0.0)
    continuous_balcony = rng.random() < 0.4
    if rng.random() < 0.5:  # horizontal molding bands between floors
        mh = max(1.0, rng.uniform(0.008, 0.02) * S)
        for f in range(1, g.n_floors + 1):
            cv.rect(MOLDING, g.top + f * g.floor_h - mh, g.fx0, g.top + f * g.floor_h, g.fx1)
    if rng.random() < 0.3:  # pilasters between the window columns, from the ground floor to the cornice
        pw = min(0.5 * (g.pitch - win_w), max(1.0, rng.uniform(0.02, 0.04) * S))
        for x in g.fx0 + g.margin + g.pitch * np.arange(len(g.col_x) + 1):
            cv.rect(PILLAR, g.cornice_bottom, x - pw / 2, g.gtop, x + pw / 2)
    for f in range(g.n_floors):
        wy0 = g.top + f * g.floor_h + win_off
        wy1 = wy0 + win_h
        for x in g.col_x:
            wx0, wx1 = x - win_w / 2, x + win_w / 2
            if has_frames:
                fr = max(1.0, 0.012 * S)
                cv.rect(MOLDING, wy0 - fr, wx0 - fr, wy1 + fr, wx1 + fr)
            if has_pediments:
                cv.rect(DECO, wy0 - max(2.0, 0.03 * S), wx0 - 0.1 * win_w, wy0 - max(1.0, 0.012 * S), wx1 + 0.1 * win_w)
            cv.rect(WINDOW, wy0, wx0, wy1, wx1)
            if has_shutters:
                sw = min(0.4 * win_w, 0.4 * (g.pitch - win_w))  # leave facade between neighbours
                cv.rect(BLIND, wy0, wx0 - sw, wy1, wx0)
                cv.rect(BLIND, wy0, wx1, wy1, wx1 + sw)
            if has_closed_blinds and rng.random() < 0.4:
                cv.rect(BLIND, wy0, wx0, wy0 + win_h * rng.uniform(0.2, 1.0), wx1)
            if has_sills:
                cv.rect(SILL, wy1, wx0 - 0.08 * win_w, wy1 + sill_h, wx1 + 0.08 * win_w)
        if balcony_floors[f]:
            _balconies(cv, g, wy1 - 0.3 * win_h, wy1 + sill_h, win_w, continuous_balcony)
    g.win_w = win_w


def _balconies(cv: Canvas, g: Grid, y0: float, y1: float, win_w: float, continuous: bool) -> None:
    if continuous:
        cv.rect(BALCONY, y0, g.fx0 + g.margin / 2, y1, g.fx1 - g.margin / 2)
        return
    for x in g.col_x:
        cv.rect(BALCONY, y0, x - 0.7 * win_w, y1, x + 0.7 * win_w)


def _ground_floor(cv: Canvas, rng: np.random.Generator, g: Grid) -> None:
    """A molding over the ground floor (sometimes), shop fronts or windows, and the door."""
    S, gh = float(cv.size), g.gh
    if rng.random() < 0.6:
        cv.rect(MOLDING, g.gtop - max(1.0, 0.02 * S), g.fx0, g.gtop, g.fx1)
    door_col = int(rng.integers(len(g.col_x)))
    door_w = min(0.8 * g.pitch, max(2.0, rng.uniform(0.1, 0.16) * S))
    door_h = gh * rng.uniform(0.7, 0.88)
    shops = rng.random() < 0.55  # shop fronts on the ground floor, else windows
    for i, x in enumerate(g.col_x):
        if i == door_col:
            continue
        if shops:
            cv.rect(SHOP, g.gtop + 0.12 * gh, x - 0.42 * g.pitch, S - 0.06 * gh, x + 0.42 * g.pitch)
        else:
            cv.rect(WINDOW, g.gtop + 0.2 * gh, x - g.win_w / 2, g.gtop + 0.2 * gh + 0.55 * gh, x + g.win_w / 2)
    x = g.col_x[door_col]
    cv.rect(DOOR, S - door_h, x - door_w / 2, S, x + door_w / 2)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int, scale: float) -> np.ndarray:
    """Low-frequency noise: a coarse Gaussian grid upsampled bilinearly to size x size."""
    grid = rng.normal(0.0, scale, (cells + 1, cells + 1)).astype(np.float32)
    return np.asarray(Image.fromarray(grid, mode="F").resize((size, size), Image.BILINEAR))


def render_photo(cv: Canvas, rng: np.random.Generator) -> np.ndarray:
    """Render the 'photo' of a layout: per-class colours and textures, shading and mild noise (uint8 HxWx3)."""
    S = cv.size
    col = _textures(cv, rng)
    py, px = np.mgrid[0:S, 0:S].astype(np.float32)
    y, x = (py + 0.5) / S, (px + 0.5) / S
    light = 1.08 - 0.18 * y + rng.uniform(-0.12, 0.12) * (x - 0.5) + _smooth_noise(rng, S, 6, 0.035)
    tint = rng.normal(1.0, 0.03, 3).astype(np.float32)
    col *= light[..., None] * tint
    col += 0.02 * rng.standard_normal(col.shape, dtype=np.float32)
    return (np.clip(col, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _textures(cv: Canvas, rng: np.random.Generator) -> np.ndarray:
    """Each class's colour and texture (sky gradient, bricks, framed glass, ...), HxWx3 floats in [0, 1]."""
    S = cv.size
    lab = cv.labels
    oy, ox, h, w = (g.astype(np.float32) for g in cv.geom)
    ry, rx = (oy + 0.5) / h, (ox + 0.5) / w  # position inside the painting rectangle, in (0, 1)
    py, px = np.mgrid[0:S, 0:S].astype(np.float32)
    y = (py + 0.5) / S
    col = _BASE_COLOURS[lab].copy()

    def put(cls: int, rgb: np.ndarray) -> None:
        """Give class `cls` the colours rgb (HxWx3), or scale its base colour by rgb (HxW)."""
        m = lab == cls
        col[m] = rgb[m] if rgb.ndim == 3 else rgb[m][:, None] * col[m]

    sky_top, sky_bottom = np.array([0.70, 0.78, 0.88], np.float32), np.array([0.52, 0.54, 0.56], np.float32)
    put(BACKGROUND, sky_top + (sky_bottom - sky_top) * y[..., None])

    bh = max(2.0, S / 42.0)  # brick course height in pixels
    bw = 2.2 * bh
    row = np.floor(py / bh)
    bx = px + (row % 2) * bw / 2
    joint = max(1.0, 0.22 * bh)
    mortar = ((py % bh) < joint) | ((bx % bw) < joint)
    tints = rng.normal(0.0, 0.05, (int(S / bh) + 2, int(S / bw) + 3)).astype(np.float32)
    brick = (1.0 + tints[row.astype(int), (bx // bw).astype(int)]) * np.where(mortar, 1.2, 1.0)
    put(FACADE, brick)

    glass_top, glass_bottom = np.array([0.58, 0.65, 0.74], np.float32), np.array([0.10, 0.13, 0.18], np.float32)
    glass = glass_top + (glass_bottom - glass_top) * (ry**0.6)[..., None]
    glass += (0.12 * (np.abs(rx - 0.6 * ry - 0.3) < 0.08))[..., None]
    fwid = max(1.0, round(S / 128))
    frame = (oy < fwid) | (ox < fwid) | (h - oy <= fwid) | (w - ox <= fwid) | (np.abs(ox + 0.5 - w / 2) <= fwid / 2)
    frame &= (h >= 10) & (w >= 10)
    framed_glass = np.where(frame[..., None], np.float32(0.86), glass)
    put(WINDOW, framed_glass)

    interior = np.array([0.38, 0.28, 0.14], np.float32)
    shop = glass + (interior - glass) * np.clip(2.0 * ry - 0.6, 0.0, 1.0)[..., None]
    put(SHOP, np.where(frame[..., None], np.float32(0.15), shop))

    put(DOOR, (1.0 + 0.1 * np.sin(2 * np.pi * px / max(2.0, S / 48.0))) * (1.1 - 0.3 * ry))
    put(CORNICE, 1.0 - 0.4 * ry**2)
    put(SILL, 1.0 - 0.3 * ry)
    period = max(3.0, S / 40.0)
    bars = ((px % period) < max(1.0, period / 3)) | (ry < 0.15)
    put(BALCONY, np.where(bars, 0.5, 1.4))
    slat = max(2.0, S / 64.0)
    put(BLIND, np.where((py % slat) < slat / 2, 0.78, 1.05))
    put(DECO, 1.0 + 0.15 * np.sin(3 * np.pi * rx) * np.sin(np.pi * ry))
    put(MOLDING, 1.0 - 0.2 * np.sin(3 * np.pi * ry) ** 2)
    put(PILLAR, 0.65 + 0.45 * np.sin(np.pi * rx))
    return col


def colorize(labels: np.ndarray) -> np.ndarray:
    """Map a class-index map to its facades label colours (uint8 HxWx3)."""
    return PALETTE_ARRAY[labels]


def make_pair(seed: int, split: str, index: int, size: int) -> np.ndarray:
    """Return the AB image (photo left, label map right) for one sample, as uint8 size x 2*size x 3."""
    rng = np.random.default_rng([seed, SPLITS.index(split), index])
    cv = make_layout(rng, size)
    return np.concatenate([render_photo(cv, rng), colorize(cv.labels)], axis=1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and validate the command line."""
    p = ArgumentParser(
        description="Write a synthetic facades-like pix2pix dataset: OUT/{train,val,test}/<i>.jpg, each image "
        "2*size wide with the photo on the left (A) and the facades label map on the right (B), so "
        "label->photo is --direction BtoA, as for the real facades set.",
    )
    p.add_argument("--out", required=True, type=Path, help="output folder (created if needed)")
    p.add_argument("--n_train", type=int, default=64, help="number of training images (default: 64)")
    p.add_argument("--n_val", type=int, default=8, help="number of validation images (default: 8)")
    p.add_argument("--n_test", type=int, default=8, help="number of test images (default: 8)")
    p.add_argument("--size", type=int, default=256, help="side of each half in pixels, even, >= 16 (default: 256)")
    p.add_argument("--seed", type=seed, default=0, help="random seed; same arguments give the same files")
    p.add_argument(
        "--format",
        choices=("jpg", "png"),
        default="jpg",
        help="jpg (quality 95, 4:4:4 chroma) or png (exact label colours); default: jpg",
    )
    p.add_argument("--overwrite", action="store_true",
                   help="write over images in --out that this tool did not make, or made with another seed or size")
    args = p.parse_args(argv)
    if args.size < 16 or args.size % 2:
        p.error(f"--size must be an even number >= 16, got {args.size}")
    for name in ("n_train", "n_val", "n_test"):
        if getattr(args, name) < 0:
            p.error(f"--{name} must be >= 0, got {getattr(args, name)}")
    return args


@main_guard
def main(argv: list[str] | None = None) -> int:
    """Generate the dataset; return the process exit code."""
    args = parse_args(argv)
    counts = {"train": args.n_train, "val": args.n_val, "test": args.n_test}
    # 4:4:4 chroma: the default 4:2:0 subsampling smears the saturated label colours of small images so much
    # that about a quarter of a 64x64 label map decodes to the wrong class.
    save_kwargs = {"format": "JPEG", "quality": 95, "subsampling": 0} if args.format == "jpg" else {"format": "PNG"}
    files = [f"{split}/{i}.{args.format}" for split, n in counts.items() for i in range(1, n + 1)]
    OutputGuard(tool="make_synthetic_dataset.py", flag="--out", overwrite=args.overwrite,
                source=f"seed {args.seed}, size {args.size}").claim_folder(args.out, files)
    for split, n in counts.items():
        folder = args.out / split
        others = sorted(p.name for p in folder.iterdir() if p.suffix in (".jpg", ".png") and not (
            p.suffix == f".{args.format}" and p.stem.isdecimal() and 1 <= int(p.stem) <= n)) if folder.is_dir() else []
        if others:
            print(f"warning: {folder} already holds {len(others)} other image(s), e.g. {others[0]}; they stay "
                  f"beside the new ones (pass an empty --out for a clean dataset)", file=sys.stderr)
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(1, n + 1):
            ab = make_pair(args.seed, split, i, args.size)
            with atomic_path(args.out / split / f"{i}.{args.format}") as tmp:
                Image.fromarray(ab).save(tmp, **save_kwargs)
    print(
        f"wrote {args.n_train} train / {args.n_val} val / {args.n_test} test synthetic facades "
        f"({2 * args.size}x{args.size} {args.format}, photo|label, use --direction BtoA) to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
