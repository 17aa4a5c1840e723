"""Validation during training (--val_freq): translate held-out images, score them, and keep the best checkpoint.

Every --val_freq epochs the generator test.py would use (the moving average with --ema) translates the first
--val_num images of --val_phase as test.py does (dropout and batch statistics on, unless --eval), into
<checkpoints_dir>/<name>/val/images/, laid out like a test.py results folder; a scoring function (train.py passes
the metrics package's) scores them. The run's random streams are left as they were, so validating does not change
what is trained, and the generator itself is not touched (its batch-norm statistics included).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from models import networks
from models.checkpoint import experiment_dir
from models.inference import Generator
from options.parser import Options
from util.results import save_visuals, write_record
from util.seeding import preserved_rng
from util.util import options_to_dict

if TYPE_CHECKING:
    from .run import Progress

Scores = dict[str, dict[str, Any]]  # metric -> {"value": ..., "std": ..., sizes}


class Validation:
    """Validates a generator on `data` with `score(folder) -> Scores`; tracks the best value of `metric`."""

    def __init__(self, opt, data, score: Callable[[Path], Scores], higher_is_better: bool):
        self.opt, self.data, self.score = opt, data, score
        self.metric, self.higher_is_better = opt.val_metric, higher_is_better
        self.folder = experiment_dir(opt) / "val"
        with preserved_rng(opt.gpu_ids):  # building it draws initial weights: the run's random streams stay
            self.generator = Generator.of_run(validation_options(opt))  # test.py's path, with the run's weights

    def due(self, epoch: int) -> bool:
        """Whether the end of `epoch` is a validation point (every --val_freq epochs, and the last epoch)."""
        last = self.opt.n_epochs + self.opt.n_epochs_decay
        return self.opt.val_freq > 0 and (epoch % self.opt.val_freq == 0 or epoch == last)

    def run(self, net: nn.Module, weights: str, progress: Progress) -> tuple[Scores, float]:
        """Translate with `net`'s weights ('ema' or 'raw') and score; returns the scores and the seconds it took."""
        start = time.perf_counter()
        images = self.folder / "images"
        images.mkdir(parents=True, exist_ok=True)
        for old in images.glob("*.png"):
            old.unlink()
        self.generator.use_weights(net, weights)
        with preserved_rng(self.opt.gpu_ids):
            self._translate(images)
        write_record(self.folder, {"progress": progress.state(), "options": options_to_dict(self.opt),
                                   "translated": len(self.data), "n_samples": 1, "test_set_size": len(self.data),
                                   "weights": weights})
        scores = self.score(self.folder)
        return scores, time.perf_counter() - start

    def _translate(self, images: Path) -> None:
        """test.py's pass over the validation images, the same dropout draws at every validation."""
        torch.manual_seed(self.opt.seed)
        with self.generator.generating():
            for batch in self.data:
                visuals = self.generator.visuals(batch)
                for i, image_id in enumerate(batch["id"]):
                    save_visuals(images, image_id, {label: tensor[i] for label, tensor in visuals.items()})

    def improved(self, scores: Scores, progress: Progress) -> bool:
        """Whether `scores` beat the best so far (progress.best, which it then records)."""
        value = scores.get(self.metric, {}).get("value")
        if value is None or not math.isfinite(value):
            return False
        best, judged = progress.best, self.judged_by()
        if best and all(best.get(k) == v for k, v in judged.items()):
            better = value > best["value"] if self.higher_is_better else value < best["value"]
            if not better:
                return False
        progress.best = {**judged, "value": value, "epoch": progress.epoch - 1}
        return True

    def judged_by(self) -> dict[str, Any]:
        """What makes two best values comparable: the metric and the validation images (a resumed run that changes
        either starts its best anew)."""
        return {"metric": self.metric, "phase": self.opt.val_phase, "images": len(self.data)}


def describe(scores: Scores) -> str:
    """'kid_lite0 0.312 ± 0.004, psnr 12.9': one line of scores."""
    return ", ".join(f"{name} {s['value']:.4g}" + (f" ± {s['std']:.2g}" if "std" in s else "")
                     for name, s in scores.items())


def validation_options(opt: Options) -> Options:
    """The options of the validation: --val_phase read as test.py reads its images by default (resized to
    --crop_size: no flip, no random crop, in order), the first --val_num of them, translated as test.py does (in
    eval mode with --eval or for SPADE)."""
    val = Options(**{k: v for k, v in vars(opt).items() if not k.startswith("_")})
    val.phase, val.is_train, val.serial_batches, val.no_flip = opt.val_phase, False, True, True
    val.max_dataset_size, val.num_threads, val.cache_dataset = opt.val_num, 0, "off"
    val.load_size, val.eval = opt.crop_size, networks.evaluates_at_test(opt)
    return val.freeze()
