"""Cost curves: what a training step costs as the image size and the batch grow, and what an unmeasured run will.

Memory is the peak above the process's own baseline (CPU: resident memory above what the process held before the
model was built; GPU: torch's peak allocated), time is seconds per training step. Both are fitted as a straight
line in the megapixels of a batch (width x height x batch size / 1e6): a fixed part (weights, optimizer state,
framework) plus a part per megapixel (activations). `--predict WxH,B` reads the line at an unmeasured point.
"""
from __future__ import annotations

import argparse
import csv
import io
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from util.fileio import atomic_path, atomic_write_text

SIZE_SEP = "@"  # config names with --sizes: <config>@<width>x<height>


def parse_size(text: str) -> tuple[int, int]:
    """'256' -> (256, 256); '1024x512' -> (1024, 512) as (width, height)."""
    w, sep, h = text.strip().lower().partition("x")
    try:
        size = (int(w), int(h if sep else w))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: give SIDE or WIDTHxHEIGHT, e.g. 256 or "
                                         "1024x512") from None
    if min(size) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: sides must be positive")
    return size


def sizes(text: str) -> list[tuple[int, int]]:
    """argparse type of --sizes: '128,256,1024x512'; each size once."""
    values = [parse_size(t) for t in text.split(",") if t.strip()] or [parse_size("")]
    if len(set(values)) < len(values):
        raise argparse.ArgumentTypeError(f"{text!r} names a size twice: give each once")
    return values


def prediction_point(text: str) -> tuple[tuple[int, int], int]:
    """argparse type of --predict: 'WxH,B' or 'SIDE,B'."""
    size, _, batch = text.partition(",")
    if not batch.strip().isdigit() or int(batch) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not SIZE,BATCH, e.g. 1024x512,4")
    return parse_size(size), int(batch)


def megapixels(row: dict[str, Any]) -> float:
    """Megapixels of one batch of the row's run."""
    w, h = row["size"]
    return w * h * row["batch_size"] / 1e6


def memory_mib(row: dict[str, Any]) -> float:
    """The row's peak memory above the process's baseline (GPU: torch's peak allocated, already so)."""
    return row["peak_mib"] - (row.get("rss_at_start_mib") or 0.0)


@dataclass(frozen=True)
class Line:
    """y = fixed + per_mp * megapixels, fitted by least squares over `points` runs."""

    fixed: float
    per_mp: float
    points: int
    worst: float  # largest relative residual of a measured run
    lo: float = 0.0  # the measured range of megapixels
    hi: float = 0.0

    def at(self, mp: float) -> float:
        return self.fixed + self.per_mp * mp


def fit(xs: list[float], ys: list[float]) -> Line | None:
    """The least-squares line through (xs, ys); None with fewer than two distinct xs."""
    if len(set(xs)) < 2:
        return None
    per_mp, fixed = np.polyfit(np.array(xs), np.array(ys), 1)
    worst = max(abs(fixed + per_mp * x - y) / max(abs(y), 1e-9) for x, y in zip(xs, ys))
    return Line(float(fixed), float(per_mp), len(xs), float(worst), float(min(xs)), float(max(xs)))


def curves(rows: list[dict[str, Any]]) -> dict[str, tuple[Line | None, Line | None]]:
    """Per base config (the name before @size): the (memory MiB, seconds per step) lines of its measured runs."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if "error" not in r and "size" in r:
            groups.setdefault(r["config"].split(SIZE_SEP)[0], []).append(r)
    return {name: (fit([megapixels(r) for r in rs], [memory_mib(r) for r in rs]),
                   fit([megapixels(r) for r in rs], [r["s_per_step"] for r in rs]))
            for name, rs in groups.items()}


def curve_table(fitted: dict[str, tuple[Line | None, Line | None]]) -> str:
    """The fitted lines as text, one line per config."""
    out = ["cost curves (least squares in the megapixels of a batch: width x height x batch / 1e6):"]
    for name, (mem, time) in fitted.items():
        if mem is None or time is None:
            out.append(f"  {name}: one batch size in megapixels only: give more --sizes or --batch_sizes")
            continue
        out.append(f"  {name}: memory {mem.fixed:,.0f} MiB + {mem.per_mp:,.0f} MiB per megapixel of batch (worst "
                   f"fit {mem.worst:.0%}); time {time.fixed:.3f} s + {time.per_mp:.3f} s per megapixel of batch "
                   f"(worst fit {time.worst:.0%}); {mem.points} runs")
        if mem.points == 2:
            out.append(f"  {name}: a line through two runs fits them exactly, so its fit is untested: measure a third "
                       f"size or batch size to check it")
    return "\n".join(out)


def predictions(fitted: dict[str, tuple[Line | None, Line | None]],
                points: list[tuple[tuple[int, int], int]]) -> str:
    """Predicted peak memory and step time of each config at each --predict point."""
    out = []
    for (w, h), batch in points:
        mp = w * h * batch / 1e6
        for name, (mem, time) in fitted.items():
            if mem is None or time is None:
                continue
            where = f"predicted for {name} at {w}x{h}, batch {batch} ({mp:.2f} megapixels)"
            if mem.at(mp) <= 0 or time.at(mp) <= 0:
                out.append(f"{where}: no prediction, the fitted lines give no positive cost there (the measured runs "
                           f"are too few, too close together or too noisy): measure more and larger --sizes")
                continue
            out.append(f"{where}: peak {mem.at(mp):,.0f} MiB above the baseline, {time.at(mp):.3f} s/step"
                       f"{_extrapolation(mp, mem)}")
    return "\n".join(out)


def _extrapolation(mp: float, line: Line) -> str:
    """A caution when `mp` lies far outside the measured megapixels (more than twice the largest, or below half the
    smallest): a straight line is only checked where it was measured."""
    if mp > 2 * line.hi:
        return f" (an extrapolation to {mp / line.hi:.0f}x the largest measured run: measure nearer it to trust it)"
    if mp < line.lo / 2:
        return " (an extrapolation below the smallest measured run: measure nearer it to trust it)"
    return ""


CSV_FIELDS = ["config", "width", "height", "batch_size", "megapixels", "memory_mib", "s_per_step", "train_img_per_s"]


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """The measured points of the cost curves as CSV (the figure is drawn from these)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        if "error" in r or "size" not in r:
            continue
        writer.writerow({"config": r["config"].split(SIZE_SEP)[0], "width": r["size"][0], "height": r["size"][1],
                         "batch_size": r["batch_size"], "megapixels": f"{megapixels(r):.6f}",
                         "memory_mib": f"{memory_mib(r):.3f}", "s_per_step": f"{r['s_per_step']:.4f}",
                         "train_img_per_s": f"{r['train_img_per_s']:.3f}"})
    atomic_write_text(path, buffer.getvalue())


def plot(csv_path: Path, out: Path, title: str = "") -> None:
    """Memory and step time against megapixels of batch, a line per config, from write_csv's file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name in dict.fromkeys(r["config"] for r in rows):
        own = sorted((float(r["megapixels"]), float(r["memory_mib"]), float(r["s_per_step"]))
                     for r in rows if r["config"] == name)
        xs = [p[0] for p in own]
        for ax, k in zip(axes, (1, 2)):
            ys = [p[k] for p in own]
            line = fit(xs, ys)
            dots = ax.plot(xs, ys, "o", label=name)[0]
            if line is not None:
                ax.plot([0, max(xs)], [line.at(0), line.at(max(xs))], "-", color=dots.get_color(), alpha=0.6)
    for ax, label in zip(axes, ("peak memory above baseline (MiB)", "seconds per training step")):
        ax.set_xlabel("megapixels of a batch (width x height x batch / 1e6)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:  # the command that measured it, wrapped to the figure's width
        fig.suptitle("\n".join(textwrap.wrap(title, 150, break_on_hyphens=False)), fontsize=7)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format=out.suffix.lstrip(".") or "png", dpi=110)
    plt.close(fig)
