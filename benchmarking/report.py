"""The benchmark's printed figures: the results table, the notes that explain it, the profile table."""
from __future__ import annotations

import shlex
from typing import Any

from models import acceleration


def fmt(value: float | None, decimals: int = 2) -> str:
    """A figure with thousands separators, '-' when missing."""
    return "-" if value is None else f"{value:,.{decimals}f}"


def aligned(lines: list[list[str]]) -> str:
    """Rows of cells as columns under the first row and a rule: the first column left-aligned, the others right.
    A shorter row (a failed measurement) is aligned up to its last cell, which is free text."""
    n = len(lines[0])
    widths = [max(len(line[i]) for line in lines if len(line) == n) for i in range(n)]

    def row(line: list[str]) -> str:
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))]
        if len(line) < n:
            cells[-1] = line[-1]
        return "  ".join(cells)

    out = [row(line) for line in lines]
    return "\n".join([out[0], "-" * max(len(x) for x in out), *out[1:]])


def peak_for(info: dict[str, Any], amp: str) -> float:
    """The matmul peak in the dtype a run computes its convolutions in."""
    return info.get(f"matmul_peak_gflops_{amp}", info["matmul_peak_gflops"])


def add_ratios(rows: list[dict[str, Any]], first: str) -> None:
    """Give every row its train and test img/s relative to the first config at the same batch size."""
    base = {r["batch_size"]: r for r in rows if r["config"] == first and "error" not in r}
    for r in rows:
        ref = base.get(r["batch_size"])
        if "error" in r or ref is None:
            continue
        r["train_ratio"] = r["train_img_per_s"] / ref["train_img_per_s"]
        r["test_ratio"] = r["test_img_per_s"] / ref["test_img_per_s"]


def table(rows: list[dict[str, Any]], info: dict[str, Any], loader: bool) -> str:
    """The results as an aligned text table."""
    head = ["config", "batch", "train img/s", "s/step", "test img/s", "peak MiB", "GFLOP/step", "GFLOP/s",
            "% peak", "x train", "x test"] + (["loader img/s"] if loader else [])
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append([r["config"], str(r["batch_size"]), r["error"]])
            continue
        cells = [r["config"], str(r["batch_size"]), fmt(r["train_img_per_s"]), fmt(r["s_per_step"], 3),
                 fmt(r["test_img_per_s"]), fmt(r["peak_mib"], 0), fmt(r["gflop_per_step"], 1),
                 fmt(r["train_gflops"], 1), fmt(100 * r["train_gflops"] / peak_for(info, r["amp"]), 1),
                 fmt(r.get("train_ratio")), fmt(r.get("test_ratio"))]
        lines.append(cells + ([fmt(r.get("loader_img_per_s"))] if loader else []))
    return aligned(lines)


def describe_device(info: dict[str, Any]) -> str:
    """Two lines about the device that does the work and its matmul peaks."""
    if "gpu" in info:
        what = (f"GPU {info['gpu']} ({info['gpu_memory_mib']:,} MiB, CUDA {info['cuda']}; TF32 matmul "
                f"{info['matmul_tf32']}, TF32 cuDNN convs {info['cudnn_tf32']}); host CPU {info['cpu']}")
    else:
        what = f"CPU {info['cpu']} ({info['logical_cpus']} logical CPUs)"
    n = info["matmul_size"]
    peaks = [f"{amp} {info[f'matmul_peak_gflops_{amp}']:,.1f}" for amp in acceleration.AMP_DTYPES
             if f"matmul_peak_gflops_{amp}" in info]
    return (f"device: {what}; torch threads {info['torch_threads']}\n"
            f"matmul peak ({n}x{n}), GFLOP/s: fp32 {info['matmul_peak_gflops']:,.1f}"
            + "".join(f", {p}" for p in peaks))


def notes(configs: list[tuple[str, list[str]]], flags: list[str], dataroot: str | None,
          rows: list[dict[str, Any]], device: str) -> str:
    """What the table's columns mean, and each config's flags."""
    inputs = (f"batches from {dataroot}'s data pipeline (loading included)" if dataroot
              else "random inputs already on the device")
    lines = [f"train: one D and one G update per step on {inputs}; test: netG forward without gradients "
             "(model.test()).",
             "GFLOP/step: forward + backward of one training step, counted by torch.utils.flop_counter; % peak: "
             "achieved GFLOP/s over the matmul peak in the config's dtype (bf16/fp16 with --amp; fp32 configs on "
             "Ampere or newer GPUs run TF32 convolutions, which can pass the fp32 matmul peak)."]
    if device == "cpu":
        base = min((r["rss_at_start_mib"] for r in rows if "error" not in r), default=0.0)
        lines.append(f"peak MiB: peak RSS of the measuring process, including ~{base:,.0f} MiB of Python and torch "
                     "before the model was built.")
    else:
        lines.append("peak MiB: torch.cuda.max_memory_allocated over training and test.")
    lines.append(f"x train, x test: img/s relative to config {configs[0][0]!r} at the same batch size.")
    if dataroot:
        lines.append(f"loader img/s: the data pipeline alone on {dataroot} (the loader's worker processes, or the "
                     "in-memory cache of --cache_dataset); training is data-bound when it is not well above train "
                     "img/s.")
        cached = next((r for r in rows if r.get("cache_mib") is not None), None)
        if cached:
            lines.append(f"cache: {cached['config']!r} holds the decoded training images in "
                         f"{cached['cache_mib']:,.1f} MiB")
    for name, own in configs:
        row = next((r for r in rows if r["config"] == name and "params" in r), {})
        sizes = ", ".join(f"net{k} {v / 1e6:.2f} M" for k, v in row.get("params", {}).items())
        lines.append(f"config {name!r}: {shlex.join(flags + own) or '(no extra flags)'}"
                     + (f"  [{row['speed']}; {sizes} parameters]" if row else ""))
    return "\n".join(lines)


def profile_table(rows: list[dict[str, Any]]) -> str:
    """Milliseconds per training step in each category, one column per (config, batch size)."""
    rows = [r for r in rows if "profile_ms" in r]
    categories = sorted({c for r in rows for c in r["profile_ms"]}, key=lambda c: (c == "other", c))
    head = ["ms per step"] + [f"{r['config']} b{r['batch_size']}" for r in rows]
    lines = [head]
    for c in categories:
        lines.append([c] + [fmt(r["profile_ms"].get(c, 0.0), 1) for r in rows])
    lines.append(["total (profiled)"] + [fmt(sum(r["profile_ms"].values()), 1) for r in rows])
    return aligned(lines)
