"""The --logger registry: the HTML page and visdom (drawn by the visualizer), and trackers beside the loss log,
TensorBoard and Weights & Biases; each entry says what it is and owns its flags.

The visualizer hands each tracker what it has already computed at --print_freq and --display_freq: numbers and
uint8 images on the host, so a tracker adds no wait for the device. A tracker's package is imported only when
--logger names it; a missing one is one warning, and training goes on with the other loggers.

    for tracker in open_trackers(opt, folder, step=0):   # what --logger names, beyond html and visdom
        tracker.scalars(4, {"loss/G_L1": 0.31})           # step: training images seen
        tracker.images(4, {"fake_B": hxwx3_uint8})
        tracker.close()                                   # flushes
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from options.parser import RUN_ALWAYS
from options.types import nonnegative_int, port, positive_int
from util.errors import warn
from util.fileio import atomic_write_text
from util.registry import Plugin
from util.util import options_to_dict


class Tracker(Protocol):
    """What the visualizer calls on each tracker; `step` counts the training images seen (total_iters)."""

    package: str  # what pip installs
    advice: str  # what to do when it cannot start

    def scalars(self, step: int, values: dict[str, float]) -> None: ...

    def images(self, step: int, images: dict[str, np.ndarray]) -> None: ...

    def close(self, failed: bool = False) -> None: ...


class TensorBoardTracker:
    """Event files in <checkpoints_dir>/<name>/tensorboard/, for `tensorboard --logdir <checkpoints_dir>`."""

    package = "tensorboard"
    advice = "check that <checkpoints_dir> can be written"

    def __init__(self, opt: argparse.Namespace, folder: Path, step: int):
        from torch.utils.tensorboard import SummaryWriter

        # TensorBoard hides what an earlier run of this folder logged after image `step`: a resumed run continues
        # its checkpoint's curve without the steps it trains again, and a fresh run replaces the old one
        self.writer = SummaryWriter(log_dir=str(folder / "tensorboard"), purge_step=step + 1)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def images(self, step: int, images: dict[str, np.ndarray]) -> None:
        for label, image in images.items():
            self.writer.add_image(f"images/{label}", image, step, dataformats="HWC")

    def close(self, failed: bool = False) -> None:
        self.writer.close()  # writes what is still queued


class WandbTracker:
    """A Weights & Biases run named after the experiment, with the options as its config; its files go to
    <checkpoints_dir>/<name>/wandb/ (WANDB_MODE=offline keeps them there for a later `wandb sync`)."""

    package = "wandb"
    advice = "wandb login, or WANDB_MODE=offline to log to disk"

    def __init__(self, opt: argparse.Namespace, folder: Path, step: int):
        import wandb

        self.wandb = wandb
        id_file = folder / "wandb_run_id.txt"  # a resumed run (--continue_train) goes on in the same W&B run
        run_id = id_file.read_text().strip() if opt.continue_train and id_file.is_file() else None
        self.run = wandb.init(project=opt.wandb_project, name=opt.name, dir=str(folder), id=run_id,
                              resume="allow" if run_id else None, job_type="train")
        self.run.config.update(options_to_dict(opt), allow_val_change=True)  # a resumed run may change some
        self.run.define_metric("total_iters")  # the x axis of every chart: training images seen
        self.run.define_metric("*", step_metric="total_iters")
        atomic_write_text(id_file, self.run.id + "\n")

    def scalars(self, step: int, values: dict[str, float]) -> None:
        self.run.log({"total_iters": step, **values})

    def images(self, step: int, images: dict[str, np.ndarray]) -> None:
        self.run.log({"total_iters": step,
                      **{f"images/{label}": self.wandb.Image(image, caption=label) for label, image in images.items()}})

    def close(self, failed: bool = False) -> None:
        self.run.finish(exit_code=1 if failed else 0)


def _html_options(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--update_html_freq", type=nonnegative_int, default=1000, run=RUN_ALWAYS,
                   help="save training results to HTML every N images")
    g.add_argument("--no_html", action="store_true", run=RUN_ALWAYS, help="do not write <checkpoints_dir>/<name>/web/")


def _visdom_options(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--display_ncols", type=positive_int, default=4, run=RUN_ALWAYS, help="images per row in visdom")
    g.add_argument("--display_id", type=int, default=1, run=RUN_ALWAYS,
                   help="visdom window id; 0 or less turns visdom off")
    g.add_argument("--display_server", default="http://localhost", run=RUN_ALWAYS, help="visdom server")
    g.add_argument("--display_env", default="main", run=RUN_ALWAYS, help="visdom environment")
    g.add_argument("--display_port", type=port, default=8097, run=RUN_ALWAYS, help="visdom port")


def _wandb_options(g: argparse._ArgumentGroup) -> None:
    g.add_argument("--use_wandb", action="store_true", run=RUN_ALWAYS,
                   help="add wandb to --logger (upstream pix2pix's flag)")
    g.add_argument("--wandb_project", "--wandb_project_name", default="dlim", run=RUN_ALWAYS,
                   help="the W&B project of --logger wandb")


@dataclass(frozen=True)
class Logger(Plugin):
    """A --logger entry: its description, its flags, and the Tracker class the visualizer starts (None: the
    visualizer draws it itself)."""

    tracker: type[Tracker] | None = None


# the names --logger takes, in the order they are started
LOGGERS: dict[str, Logger] = {
    "html": Logger("the page <checkpoints_dir>/<name>/web/index.html", _html_options),
    "visdom": Logger("live plots when a visdom server answers (--display_id 0 turns it off)", _visdom_options),
    "tensorboard": Logger("event files in <checkpoints_dir>/<name>/tensorboard/", None, TensorBoardTracker),
    "wandb": Logger("a Weights & Biases run (WANDB_MODE=offline keeps it in <checkpoints_dir>/<name>/wandb/)",
                    _wandb_options, WandbTracker),
}


def parse_loggers(text: str) -> tuple[str, ...]:
    """'tensorboard,html' -> ('html', 'tensorboard') (the registry's order, no repeats); a ValueError naming an
    unknown name and the valid ones."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in LOGGERS]
    if unknown:
        raise ValueError(f"unknown logger {unknown[0]!r} (choose from {', '.join(LOGGERS)}, comma-separated)")
    return tuple(name for name in LOGGERS if name in names)


def logger_names(text: str) -> str:
    """argparse type of --logger: a comma list of names, normalised to the registry's order."""
    try:
        return ",".join(parse_loggers(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def open_trackers(opt: argparse.Namespace, folder: Path, step: int) -> list[Tracker]:
    """The trackers that --logger names, started at training image `step`; one that cannot start (its package is
    missing, the service refuses) is one warning, and training goes on with the others."""
    trackers = []
    for name in parse_loggers(opt.logger):
        tracker = LOGGERS[name].tracker
        if tracker is None:
            continue
        try:
            trackers.append(tracker(opt, folder, step))
        except ImportError as exc:
            warn(f"--logger {name} needs the {tracker.package} package, which cannot be imported "
                 f"({one_line(exc)}): pip install {tracker.package}; training goes on with the other loggers")
        except Exception as exc:  # a tracking service that refuses (no login, no network) must not stop training
            warn(f"--logger {name} could not start ({one_line(exc)}): {tracker.advice}; training goes on with the "
                 f"other loggers")
    return trackers


def one_line(exc: Exception) -> str:
    """An exception as one line for a warning: its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
