"""What evaluate.py writes: metrics.json in the results folder and one row per experiment in a CSV table."""
from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from util.errors import UserError
from util.fileio import atomic_write_text, check_writable
from util.locks import FolderLock

# training options that tell recipes apart in the table (those the run's checkpoint has); the options that shape the
# run's networks join them from the networks' registry (evaluate.py passes models.networks.shape_options)
RECIPE_OPTIONS = ("model", "gan_mode", "lambda_L1", "lambda_GAN", "lambda_perceptual", "perceptual_net", "lambda_feat",
                  "lambda_gp", "lambda_labelmix", "dropout_rate", "weight_noise", "batch_size", "n_epochs",
                  "n_epochs_decay", "lr", "crop_size", "direction", "dataroot", "seed", "ema", "diffaug", "label_nc")
KEY_COLUMNS = ("experiment", "run")  # what makes a CSV file an evaluate.py table
ROW_KEY = (*KEY_COLUMNS, "weights")  # a re-run replaces the row with the same key (raw and ema rows stay apart)
LITE0_METRICS = ("fd_lite0", "kid_lite0", "diversity_lite0")


def lite0_training(options: dict[str, Any]) -> list[str]:
    """What of the run was trained against EfficientNet-Lite0, the network of fd_lite0/kid_lite0 (empty: nothing):
    its perceptual loss, and a projected discriminator on a Lite0 backbone."""
    parts = []
    if options.get("perceptual_net") == "efficientnet_lite0" and float(options.get("lambda_perceptual") or 0) > 0:
        parts.append("the EfficientNet-Lite0 perceptual loss")
    if "projected" in str(options.get("netD", "")).split(",") and \
            options.get("projected_backbone") == "efficientnet_lite0" and float(options.get("lambda_GAN", 1)) > 0:
        parts.append("a projected discriminator on EfficientNet-Lite0")
    return parts


def is_lite0_trained(options: dict[str, Any]) -> bool:
    """Whether the run's generator was trained against EfficientNet-Lite0 (its perceptual loss or its features in D)."""
    return bool(lite0_training(options))


def summarise(per_image: dict[str, dict[str, float]], names: list[str], n_samples: int) -> dict[str, dict[str, Any]]:
    """Mean and standard deviation over images of each per-image metric."""
    summary = {}
    for name in names:
        values = torch.tensor([v[name] for v in per_image.values()], dtype=torch.float64)
        summary[name] = {"value": values.mean().item(), "std": values.std(unbiased=False).item(),
                         "n_images": len(values), "n_samples": n_samples}
    return summary


def run_info(folder: Path | None) -> dict[str, Any]:
    """The checkpoint's training options and progress that test.py saved next to its images (checkpoint.json)."""
    file = folder / "checkpoint.json" if folder else None
    if file is None or not file.is_file():
        return {}
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def table_row(report: dict[str, Any], network_options: Sequence[str] = ()) -> dict[str, Any]:
    """One CSV row: experiment, run, epoch, the recipe's options and `network_options` (those that shape its
    networks), each metric (and its std), sizes, date."""
    options = report.get("options", {})
    row: dict[str, Any] = {"experiment": report["experiment"], "run": report["run"], "epoch": report.get("epoch", ""),
                           "epochs_trained": report.get("epochs_trained", ""),
                           "train_seconds": report.get("train_seconds", ""), "weights": report.get("weights", "")}
    names = dict.fromkeys(("model", *network_options, *RECIPE_OPTIONS))
    row.update((key, options[key]) for key in names if key in options)
    for name, score in report["metrics"].items():
        row[name] = _number(score["value"])
        if "std" in score:
            row[f"{name}_std"] = _number(score["std"])
    sizes = [s.get("n_fake", s.get("n_images")) for s in report["metrics"].values()]
    row["n_images"] = max(sizes, default="")
    row["n_real"] = max((s["n_real"] for s in report["metrics"].values() if "n_real" in s), default="")
    row["n_samples"] = report.get("n_samples", 1)
    if is_lite0_trained(options) and any(name in LITE0_METRICS for name in report["metrics"]):
        row["lite0_trained"] = "yes"  # its lite0 scores come from the network it was trained against
    row["date"] = report["date"]
    return row


def _number(value: float | None) -> str:
    return f"{value:.6g}" if value is not None and math.isfinite(value) else ""


def read_table(table: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The columns and rows of an evaluate.py CSV table; a table a person edited into something that is not one
    (another delimiter, a row with more or fewer cells than the header, binary data) is a UserError naming the
    line, so that the table is never overwritten with rows lost."""
    if not table.exists():
        return [], []
    if table.is_dir():
        raise UserError(f"--table {table} is a folder: pass the path of a CSV file")
    try:
        text = table.read_text(encoding="utf-8-sig")  # -sig: also a table saved by Excel
    except UnicodeDecodeError:
        raise UserError(f"--table {table} is not a text CSV file: pass another --table (it was not changed)") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        columns = next(reader, [])
        missing = [k for k in KEY_COLUMNS if k not in columns]
        if missing:
            raise UserError(f"--table {table} has no {missing[0]!r} column in its first line (comma-separated): it "
                            f"is not an evaluate.py table; pass another --table (it was not changed)")
        rows = []
        for cells in reader:
            if not cells:  # a blank line
                continue
            if len(cells) != len(columns):
                comma = " (a number with a decimal comma is two cells: numbers need a decimal point)" \
                    if len(cells) > len(columns) else ""
                raise UserError(f"--table {table} line {reader.line_num} has {len(cells)} cells where the header has "
                                f"{len(columns)}{comma}: fix or delete that row (the table was not changed)")
            rows.append(dict(zip(columns, cells)))
    except csv.Error as exc:
        raise UserError(f"--table {table} line {reader.line_num} is not valid CSV ({exc}): fix or delete that row "
                        f"(the table was not changed)") from None
    return columns, rows


def check_table(table: str | Path) -> None:
    """Fail before any metric is computed if the table cannot be read back or its folder cannot be written."""
    table = Path(table)
    read_table(table)
    check_writable(table.parent, f"the folder of --table {table}")


def upsert_row(table: str | Path, row: dict[str, Any]) -> None:
    """Add `row` to the CSV table, replacing the row of the same experiment and run; columns are merged. Writers
    in parallel (a sweep's evaluations) take turns, so no row is lost."""
    table = Path(table)
    lock = FolderLock(table.with_name(f".{table.name}.lock"))
    lock.acquire(f"--table {table}", "", wait=True)
    try:
        columns, rows = read_table(table)
        key = tuple(str(row.get(k, "")) for k in ROW_KEY)
        rows = [r for r in rows if tuple(r.get(k, "") for k in ROW_KEY) != key]
        rows.append(row)
        new = [c for c in row if c not in columns]
        if "date" in columns and new:  # keep the date last
            columns.remove("date")
            new.append("date")
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns + new, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(table, out.getvalue())
    finally:
        lock.release()


def merge_previous(report: dict[str, Any], path: Path) -> dict[str, Any]:
    """Keep the metrics of an earlier report on the same images that this run did not recompute."""
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return report
    if not isinstance(previous, dict) or previous.get("images") != report["images"] or \
            previous.get("source") != report.get("source"):
        return report  # other images: nothing of that report describes these
    metrics = {**previous.get("metrics", {}), **report["metrics"]}
    per_image = previous.get("per_image", {})
    for image_id, values in report["per_image"].items():
        per_image[image_id] = {**per_image.get(image_id, {}), **values}
    return {**report, "metrics": metrics, "per_image": per_image}


def is_report(path: Path) -> bool:
    """Whether a file is an evaluate.py report (written before reports were recorded as evaluate.py's)."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(report, dict) and {"experiment", "run", "metrics"} <= set(report)


def _finite(value: Any) -> Any:
    """NaN and infinity become null: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def write_json(report: dict[str, Any], path: str | Path) -> None:
    """The whole report (metrics with their sample sizes, per-image values, options) as JSON, atomically."""
    atomic_write_text(path, json.dumps(_finite(report), indent=2, allow_nan=False) + "\n")


def format_scores(metrics: dict[str, dict[str, Any]]) -> str:
    """A small aligned table for the terminal: metric, value (± std), sample size."""
    rows = []
    for name, score in metrics.items():
        value = _number(score["value"]) + (f" ± {_number(score['std'])}" if "std" in score else "")
        if "n_real" in score:
            size = f"{score['n_fake']} generated vs {score['n_real']} real"
        elif "n_fake" in score:
            size = f"{score['n_fake']} generated"
        else:
            samples = f" x {score['n_samples']} samples" if score["n_samples"] > 1 else ""
            size = f"{score['n_images']} images{samples}"
        rows.append((name, value, size))
    name_width = max((len(row[0]) for row in rows), default=0) + 2
    value_width = max((len(row[1]) for row in rows), default=0) + 2
    return "\n".join(f"{name:<{name_width}}{value:<{value_width}}{size}" for name, value, size in rows)
