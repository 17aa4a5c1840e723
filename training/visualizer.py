"""Training feedback: loss log (text + JSON lines), an HTML page of samples, visdom when it answers, and the
trackers of --logger (TensorBoard, Weights & Biases: training/loggers.py)."""
from __future__ import annotations

import argparse
import json
import re
import time
from collections import OrderedDict
from pathlib import Path

import torch

from util.errors import warn
from util.html import HTML
from util.util import save_image, tensor2im

from . import loggers

# loss_log.jsonl fields that are not losses
_LOG_FIELDS = {"epoch", "epoch_iter", "total_iters", "lr", "time_per_image", "data_time", "wall"}


class Visualizer:
    """Writes <checkpoints_dir>/<name>/{loss_log.txt, loss_log.jsonl}, and what --logger names: the page
    web/index.html (html), visdom's plots when a server answers, TensorBoard's events, a W&B run."""

    def __init__(self, opt: argparse.Namespace, total_iters: int = 0):
        """total_iters: the training images seen before this run (a resumed run's trackers continue from there)."""
        self.opt = opt
        self.save_dir = Path(opt.checkpoints_dir) / opt.name
        self.save_dir.mkdir(parents=True, exist_ok=True)
        self.log_txt = self.save_dir / "loss_log.txt"
        self.log_jsonl = self.save_dir / "loss_log.jsonl"
        self.val_jsonl = self.save_dir / "validation.jsonl"  # --val_freq scores, one line per validation
        self.web_dir = self.save_dir / "web"
        chosen = loggers.parse_loggers(opt.logger)
        self.use_html = opt.is_train and not opt.no_html and "html" in chosen
        self.saved_epochs = self._epochs_on_page() if opt.continue_train else []
        self.vis = self._connect_visdom() if opt.display_id > 0 and "visdom" in chosen else None
        self.trackers = loggers.open_trackers(opt, self.save_dir, total_iters)
        self.images_step = -1  # the step whose images the trackers have (the end of an epoch may show them again)
        with open(self.log_txt, "a") as f:
            f.write(f"================ Training Loss ({time.strftime('%c')}) ================\n")

    def _epochs_on_page(self) -> list[int]:
        """Epochs whose samples an earlier run of this experiment already saved (kept on the page on resume)."""
        names = (p.name for p in (self.web_dir / "images").glob("epoch*_*.png"))
        return sorted({int(m.group(1)) for m in map(re.compile(r"epoch(\d+)_").match, names) if m})

    def _connect_visdom(self):
        opt = self.opt
        try:
            import visdom
        except ImportError:
            warn("visdom is not installed, so losses are not plotted live (pip install visdom, or --display_id 0 "
                 "to silence this); the loss log and HTML page are written as usual")
            return None
        vis = visdom.Visdom(server=opt.display_server, port=opt.display_port, env=opt.display_env,
                            use_incoming_socket=False, raise_exceptions=False)
        if not vis.check_connection(timeout_seconds=3):
            warn(f"no visdom server at {opt.display_server}:{opt.display_port} (start one with "
                 f"'python -m visdom.server', or --display_id 0 to silence this); training goes on without it")
            return None
        return vis

    def _visdom_failed(self, exc: Exception) -> None:
        warn(f"visdom stopped answering ({type(exc).__name__}); training goes on without it")
        self.vis = None

    def _track(self, what: str, step: int, values: dict) -> None:
        """Send scalars or images to each tracker; one that fails is dropped with a warning, training goes on."""
        for tracker in list(self.trackers):
            try:
                getattr(tracker, what)(step, values)
            except Exception as exc:  # like visdom: a tracker's hiccup must not stop training
                warn(f"--logger {tracker.package} failed ({loggers.one_line(exc)}); training goes on without it")
                self.trackers.remove(tracker)

    def close(self, failed: bool = False) -> None:
        """Flush and close the trackers (failed: the run ends with an error, which W&B records)."""
        for tracker in self.trackers:
            try:
                tracker.close(failed)
            except Exception as exc:  # closing one must not keep the others open
                warn(f"--logger {tracker.package} did not close cleanly ({loggers.one_line(exc)})")
        self.trackers = []

    def display_current_results(self, visuals: OrderedDict[str, torch.Tensor], epoch: int, save_html: bool,
                                total_iters: int) -> None:
        """Show the current images in visdom and the trackers; with save_html, add them to the training HTML
        page. total_iters: training images seen (the trackers' step)."""
        images = OrderedDict((k, tensor2im(v)) for k, v in visuals.items())
        if self.trackers and total_iters != self.images_step:
            self.images_step = total_iters
            self._track("images", total_iters, images)
        if self.vis is not None:
            try:
                stack = torch.stack([torch.from_numpy(im).permute(2, 0, 1) for im in images.values()])
                self.vis.images(stack, nrow=self.opt.display_ncols, win=self.opt.display_id,
                                opts={"title": f"{self.opt.name} images", "caption": " ".join(images)})
            except Exception as exc:  # visdom is a live service: a hiccup must not stop training
                self._visdom_failed(exc)
        if save_html and self.use_html and epoch not in self.saved_epochs:
            self.saved_epochs.append(epoch)
            page = HTML(self.web_dir, f"Experiment = {self.opt.name}", refresh=60)
            for label, im in images.items():
                save_image(im, page.img_dir / f"epoch{epoch:03d}_{label}.png")
            losses, validations = self.epoch_losses(), self.validations()
            for e in sorted(self.saved_epochs, reverse=True):
                page.add_header(f"epoch [{e}]")
                if e in losses:
                    page.add_text("mean losses: " + ", ".join(f"{k} {v:.4g}" for k, v in losses[e].items()))
                if e in validations:
                    page.add_text("validation: " + ", ".join(f"{k} {v:.4g}" for k, v in validations[e].items()))
                names = [f"epoch{e:03d}_{label}.png" for label in images]
                page.add_images(names, list(images), width=self.opt.display_winsize)
            page.save()

    def epoch_losses(self) -> dict[int, dict[str, float]]:
        """Mean of each logged loss per epoch, read back from loss_log.jsonl (so a resumed run keeps them)."""
        sums: dict[int, dict[str, list[float]]] = {}
        for record in _records(self.log_jsonl):
            per_epoch = sums.setdefault(record.get("epoch", 0), {})
            for key, value in record.items():
                if key not in _LOG_FIELDS and isinstance(value, (int, float)):
                    per_epoch.setdefault(key, []).append(value)
        return {e: {k: sum(v) / len(v) for k, v in d.items()} for e, d in sums.items()}

    def validations(self) -> dict[int, dict[str, float]]:
        """The validation scores of each epoch, read back from validation.jsonl."""
        scores = {}
        for record in _records(self.val_jsonl):
            scores[record.get("epoch", 0)] = {k: v for k, v in record.get("scores", {}).items()}
        return scores

    def log_validation(self, epoch: int, total_iters: int, scores: dict[str, dict], line: str) -> None:
        """A validation pass: its line in loss_log.txt, its scores in validation.jsonl, visdom and the trackers."""
        values = {name: score["value"] for name, score in scores.items()}
        self._track("scalars", total_iters, {f"validation/{name}": value for name, value in values.items()})
        with open(self.log_txt, "a") as f:
            f.write(line + "\n")
        record = {"epoch": epoch, "total_iters": total_iters, "scores": values,
                  "std": {n: s["std"] for n, s in scores.items() if "std" in s}, "wall": time.time()}
        with open(self.val_jsonl, "a") as f:
            f.write(json.dumps(record) + "\n")
        if values:
            self._plot_line(epoch, values, window=2, title="validation", xlabel="epoch")

    def plot_current_losses(self, total_iters: int, losses: OrderedDict[str, float],
                            learning_rates: dict[str, float] | None = None, per_image: float | None = None) -> None:
        """Plot the losses in visdom; the losses, each network's learning rate and the images per second of compute
        (per_image: seconds per image) with the trackers."""
        scalars = {f"loss/{name}": value for name, value in losses.items()}
        scalars.update((f"learning_rate/{name}", lr) for name, lr in (learning_rates or {}).items())
        if per_image is not None:
            scalars["speed/images_per_second"] = 1 / max(per_image, 1e-9)
        self._track("scalars", total_iters, scalars)
        self._plot_line(total_iters, losses, window=1, title="loss", xlabel="images")

    def _plot_line(self, x: int, values: dict[str, float], window: int, title: str, xlabel: str) -> None:
        """Append the point (x, values) to visdom's plot `window` (after --display_id's image window)."""
        if self.vis is None:
            return
        try:
            self.vis.line(X=[[x] * len(values)], Y=[list(values.values())], update="append",
                          win=self.opt.display_id + window,
                          opts={"title": f"{self.opt.name} {title}", "legend": list(values), "xlabel": xlabel})
        except Exception as exc:  # see display_current_results
            self._visdom_failed(exc)

    def print_current_losses(self, epoch: int, epoch_iter: int, total_iters: int,
                             losses: OrderedDict[str, float], t_comp: float, t_data: float, lr: float) -> str:
        """Append one line to loss_log.txt and one JSON object to loss_log.jsonl; returns the text line."""
        values = " ".join(f"{k}: {v:.3f}" for k, v in losses.items())
        line = f"(epoch: {epoch}, iters: {epoch_iter}, time: {t_comp:.3f}, data: {t_data:.3f}) {values}"
        with open(self.log_txt, "a") as f:
            f.write(line + "\n")
        record = {"epoch": epoch, "epoch_iter": epoch_iter, "total_iters": total_iters, "lr": lr,
                  "time_per_image": t_comp, "data_time": t_data, **losses, "wall": time.time()}
        with open(self.log_jsonl, "a") as f:
            f.write(json.dumps(record) + "\n")
        return line


def _records(path: Path) -> list[dict]:
    """The JSON objects of a JSON-lines log (lines cut short by a crash are skipped)."""
    records = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


class SilentVisualizer:
    """What processes other than rank 0 use under torchrun: the same calls, nothing written or shown."""

    def display_current_results(self, *args, **kwargs) -> None:
        pass

    def plot_current_losses(self, *args, **kwargs) -> None:
        pass

    def print_current_losses(self, *args, **kwargs) -> str:
        return ""

    def log_validation(self, *args, **kwargs) -> None:
        pass

    def close(self, *args, **kwargs) -> None:
        pass
