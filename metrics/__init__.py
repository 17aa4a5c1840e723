"""Registry of evaluation metrics, and `calculate_metrics`, the Python API behind evaluate.py.

    from metrics import calculate_metrics
    calculate_metrics("results/facades_pix2pix/test_latest", fd_lite0=True, kid_lite0=True, psnr=True)
    calculate_metrics("my_fakes/", "my_reals/", fid=True, kid=True, inception_weights="weights-inception.pth")

Metrics are computed by groups that share one pass over the images (all torch-fidelity metrics of one feature
extractor see each image once); a group's function returns {metric: score}, and per-image values when it has them.
Each group's module is imported when first used: `import metrics.fidelity` (which evaluate.py's torch-fidelity
metrics do) registers `efficientnet-lite0` in torch-fidelity and makes its loads read weights only.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from options.types import at_least_two, positive_int
from util.errors import UserError, option, python_api, warn
from util.registry import Plugin

from .folders import ImageSets, content_digest, plain_folders, results_folder


def _inception_options(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--inception_weights", metavar="PATH",
                   help="torch-fidelity's weights-inception-2015-12-05-6726825d.pth for fid/isc/kid "
                        "(default: $TORCH_HOME/hub/checkpoints/, downloaded there when missing)")


def _kid_options(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--kid_subsets", type=positive_int, default=100, help="random subsets KID averages over")
    g.add_argument("--kid_subset_size", type=at_least_two,
                   help="images per KID subset (default: half the images, at most 1000, so subsets differ)")


def _isc_options(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--isc_splits", type=positive_int, default=10, help="splits of the Inception Score")


@dataclass(frozen=True)
class Metric(Plugin):
    """A metric: its description, its flags, whether higher is better, and the function that computes it as
    'module.function' of this package. Metrics with one function are computed together, in one pass over the
    images: function(image sets, metric names, settings) -> {name: score}, or (scores, per-image values)."""

    higher_is_better: bool = False
    compute: str = ""

    @property
    def group(self) -> str:
        """The metrics computed together, named after their function: 'fidelity.lite0_metrics' -> 'lite0'."""
        return self.compute.rsplit(".", 1)[1].removesuffix("_metrics")


_INCEPTION, _LITE0 = "fidelity.inception_metrics", "fidelity.lite0_metrics"
METRICS: dict[str, Metric] = {
    "fid": Metric("Fréchet Inception Distance (torch-fidelity's Inception-v3, 2048-d pool)",
                  _inception_options, False, _INCEPTION),
    "isc": Metric("Inception Score of the generated images, mean ± std over splits",
                  (_inception_options, _isc_options), True, _INCEPTION),
    "kid": Metric("Kernel Inception Distance, mean ± std over random subsets",
                  (_inception_options, _kid_options), False, _INCEPTION),
    "fd_lite0": Metric("Fréchet distance on EfficientNet-Lite0 pooled features (not FID)", None, False, _LITE0),
    "kid_lite0": Metric("KID on EfficientNet-Lite0 pooled features, mean ± std over subsets",
                        _kid_options, False, _LITE0),
    "l1": Metric("mean absolute difference to the ground truth, pixel values in [0, 1]",
                 None, False, "pixel.pixel_metrics"),
    "psnr": Metric("peak signal-to-noise ratio to the ground truth in dB (capped at 100)",
                   None, True, "pixel.pixel_metrics"),
    "ssim": Metric("structural similarity to the ground truth (11x11 Gaussian window)",
                   None, True, "pixel.pixel_metrics"),
    "diversity_l1": Metric("mean pairwise L1 between the samples of one input",
                           None, True, "diversity.diversity_metrics"),
    "diversity_lite0": Metric("mean pairwise LPIPS-style EfficientNet-Lite0 distance between the samples of one "
                              "input", None, True, "diversity.diversity_metrics"),
}
# what evaluate.py computes without --metrics: everything that works offline (diversity only with samples)
DEFAULT_METRICS = ("fd_lite0", "kid_lite0", "l1", "psnr", "ssim", "diversity_l1", "diversity_lite0")
ALIASES: dict[str, tuple[str, ...]] = {
    "is": ("isc",),
    "inception": ("fid", "isc", "kid"),
    "lite0": ("fd_lite0", "kid_lite0"),
    "pixel": ("l1", "psnr", "ssim"),
    "diversity": ("diversity_l1", "diversity_lite0"),
    "default": DEFAULT_METRICS,
    "all": tuple(METRICS),
}


def _function(compute: str) -> Callable[[ImageSets, list[str], dict[str, Any]], Any]:
    """A metric's function 'module.function', imported when first used (torch-fidelity and torchmetrics are slow
    to import)."""
    module, function = compute.rsplit(".", 1)
    return getattr(importlib.import_module(f".{module}", __name__), function)


def is_default(text: str) -> bool:
    """Whether a --metrics value asks for the defaults only (so that metrics which do not apply are skipped)."""
    return {w.strip().lower() for w in text.split(",") if w.strip()} == {"default"}


def parse_metrics(text: str) -> list[str]:
    """'fid,pixel' -> ['fid', 'l1', 'psnr', 'ssim'] in registry order; a one-line error for an unknown name."""
    names: set[str] = set()
    for word in (w.strip().lower() for w in text.split(",")):
        if word in METRICS:
            names.add(word)
        elif word in ALIASES:
            names.update(ALIASES[word])
        elif word:
            raise UserError(f"{option('metrics')}: unknown metric {word!r} (choose from {', '.join(METRICS)}, "
                            f"or the groups {', '.join(ALIASES)})")
    if not names:
        raise UserError(f"{option('metrics')} is empty: name at least one metric, e.g. "
                        f"{option('metrics', 'fd_lite0,psnr')}")
    return [name for name in METRICS if name in names]


def evaluate(sets: ImageSets, names: list[str], settings: dict[str, Any] | None = None,
             explicit: bool = True) -> dict[str, Any]:
    """Compute the named metrics on `sets`; the report holds each score with its sample size, and per-image values.

    With explicit=False (evaluate.py's defaults) metrics that do not apply are skipped: diversity without
    several samples per input, pixel metrics without ground-truth pairs.
    """
    settings = settings or {}
    if not explicit:
        few = min(len(sets.fake), len(sets.real)) < 2
        applicable = [n for n in names if not (METRICS[n].group == "diversity" and sets.n_samples < 2)
                      and not (METRICS[n].group == "pixel" and not sets.pairs)]
        if few and any(METRICS[n].group in ("inception", "lite0") for n in applicable):
            warn(f"{min(len(sets.fake), len(sets.real))} image(s) on a side: no distribution metrics (fd_lite0, "
                 f"kid_lite0 need at least 2 generated and 2 real images)")
        names = [n for n in applicable if not (few and METRICS[n].group in ("inception", "lite0"))]
    metrics: dict[str, dict[str, Any]] = {}
    per_image: dict[str, dict[str, float]] = {}
    for compute in dict.fromkeys(METRICS[n].compute for n in names):  # one pass per function, in registry order
        wanted = [n for n in names if METRICS[n].compute == compute]
        out = _function(compute)(sets, wanted, settings)
        scores, images = out if isinstance(out, tuple) else (out, {})
        metrics.update(scores)
        for image_id, values in images.items():
            per_image.setdefault(image_id, {}).update(values)
    return {"metrics": {n: metrics[n] for n in names}, "per_image": per_image, "n_samples": sets.n_samples,
            "images": content_digest([f for files in sets.samples.values() for f in files] + sets.real),
            "date": datetime.datetime.now().isoformat(timespec="seconds")}


def image_sets(input1: str | Path, input2: str | Path | None = None,
               labels: tuple[str, str, str] = ("--results_dir", "--fake", "--real")) -> ImageSets:
    """A test.py results folder (input2 None), or generated images `input1` against real images `input2`;
    `labels` name the inputs in messages (the flags, or the Python arguments)."""
    if input2 is None:
        return results_folder(input1, labels[0])
    return plain_folders(input1, input2, labels[1:])


# calculate_metrics' settings: (check, what the value must be)
_SETTING_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "inception_weights": (lambda v: v is None or isinstance(v, (str, os.PathLike)), "a file path or None"),
    "device": (lambda v: v in ("cpu", "cuda"), "'cpu' or 'cuda'"),
    "batch_size": (lambda v: _is_int(v) and v >= 1, "a positive integer"),
    "cache": (lambda v: isinstance(v, bool), "True or False"),
    "cache_root": (lambda v: v is None or isinstance(v, (str, os.PathLike)), "a folder path or None"),
    "kid_subsets": (lambda v: _is_int(v) and v >= 1, "a positive integer"),
    "kid_subset_size": (lambda v: v is None or (_is_int(v) and v >= 2), "an integer of at least 2, or None"),
    "isc_splits": (lambda v: _is_int(v) and v >= 1, "a positive integer"),
    "seed": (lambda v: _is_int(v) and v >= 0, "an integer of at least 0"),
    "verbose": (lambda v: isinstance(v, bool), "True or False"),
}
SETTINGS = set(_SETTING_TYPES)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_api_arguments(input1: Any, input2: Any, metrics: Any, flags: dict[str, Any],
                         settings: dict[str, Any]) -> None:
    """ValueErrors for arguments of the wrong type, saying what each must be."""
    for name, value in (("input1", input1), ("input2", input2)):
        if not (isinstance(value, (str, os.PathLike)) or (name == "input2" and value is None)):
            raise ValueError(f"calculate_metrics: {name} must be a folder path (str or pathlib.Path), "
                             f"got {type(value).__name__}")
    if metrics is not None and not isinstance(metrics, str):
        raise ValueError(f"calculate_metrics: metrics must be a comma-separated string such as 'fid,pixel', "
                         f"got {type(metrics).__name__}")
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise ValueError(f"calculate_metrics: {name} must be True or False, got {value!r}")
    unknown = set(settings) - SETTINGS
    if unknown:
        raise ValueError(f"calculate_metrics: unknown keyword {sorted(unknown)[0]!r} (metrics: "
                         f"{', '.join(METRICS)}; settings: {', '.join(sorted(SETTINGS))})")
    for name, value in settings.items():
        check, what = _SETTING_TYPES[name]
        if not check(value):
            raise ValueError(f"calculate_metrics: {name} must be {what}, got {value!r}")


def calculate_metrics(input1: str | Path, input2: str | Path | None = None, *, metrics: str | None = None,
                      **kwargs: Any) -> dict[str, float]:
    """Metrics in one flat dict, like torch_fidelity.calculate_metrics: {'fid': .., 'kid': .., 'kid_std': .., ...}.

    input1: a test.py results folder (fake_B against real_B of the same ids), or a folder of generated images
    with input2 a folder of real ones. Choose metrics with boolean keywords (fid=True, psnr=True, ...) or
    metrics='fid,pixel'. Other keywords are settings: inception_weights, device ('cpu' or 'cuda'), batch_size,
    cache, cache_root, kid_subsets, kid_subset_size, isc_splits, seed, verbose. Bad arguments raise ValueError.
    """
    flags = {k: kwargs.pop(k) for k in list(kwargs) if k in METRICS or k in ALIASES}
    if "cuda" in kwargs:  # torch-fidelity's spelling
        kwargs["device"] = "cuda" if kwargs.pop("cuda") else "cpu"
    _check_api_arguments(input1, input2, metrics, flags, kwargs)
    chosen = [k for k, on in flags.items() if on] + ([metrics] if metrics else [])
    if not chosen:
        raise ValueError("calculate_metrics: choose metrics, e.g. fid=True or metrics='fd_lite0,pixel'")
    import torch

    if "device" not in kwargs:  # like torch-fidelity: the GPU when there is one
        kwargs["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    elif kwargs["device"] == "cuda" and not torch.cuda.is_available():
        raise ValueError("calculate_metrics: device='cuda' (or cuda=True), but this machine has no CUDA device: "
                         "pass device='cpu'")
    with python_api():
        names = parse_metrics(",".join(chosen))
        sets = image_sets(input1, input2, ("input1", "input1", "input2"))
        report = evaluate(sets, names, kwargs, explicit=not is_default(",".join(chosen)))
    flat: dict[str, float] = {}
    for name, score in report["metrics"].items():
        flat[name] = score["value"]
        if "std" in score:
            flat[f"{name}_std"] = score["std"]
    return flat


__all__ = ["ALIASES", "DEFAULT_METRICS", "METRICS", "SETTINGS", "Metric", "calculate_metrics", "evaluate",
           "image_sets", "is_default", "parse_metrics"]
