"""What a training run owns besides its steps: its experiment folder (one run, locked), where it stands (Progress,
saved in every checkpoint), its saves, its stop signals and what running out of memory means."""
from __future__ import annotations

import contextlib
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from models import checkpoint
from util import distributed
from util.errors import UserError
from util.fileio import remove_stale_temp_files
from util.locks import FolderLock

from . import memory
from .trainer import Trainer


@dataclass
class Progress:
    """Where a run stands; every checkpoint holds it, and a resumed run goes on from it."""

    epoch: int = 1  # the epoch being trained
    samples_done: int = 0  # its images done, over all processes (so that a resumed run may change --batch_size)
    total_iters: int = 0  # images trained on since the run began
    train_seconds: float = 0.0  # wall time of training, over resumed runs too
    best: dict[str, Any] | None = field(default=None)  # the best validation score so far (training/validation.py)

    @classmethod
    def from_checkpoint(cls, saved: dict[str, Any], epoch: int) -> Progress:
        """The progress a checkpoint saved (an upstream weights file saves none: epoch `epoch`)."""
        return cls(**{"epoch": epoch, **{k: v for k, v in saved.items() if k in cls.__dataclass_fields__}})

    def state(self) -> dict[str, Any]:
        """What a checkpoint holds of it."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def step(self, images: int) -> tuple[int, int]:
        """Count a step of `images` images; (total images before, after)."""
        before = self.total_iters
        self.total_iters += images
        self.samples_done += images
        return before, self.total_iters


class StopRequest:
    """First Ctrl-C asks the loop to save and stop after the current step; a second one stops at once.

    SIGTERM (a cluster's time limit or preemption, `scancel`) also asks for a save and stop; repeats of it are
    ignored, since SLURM and torchrun may both deliver it. While a checkpoint is being written, a second Ctrl-C
    waits for the write to finish (a file cut short would be lost work).
    """

    def __init__(self):
        self.requested, self.saving = False, False
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    @contextlib.contextmanager
    def protect(self) -> Iterator[None]:
        """A block that a second Ctrl-C does not interrupt (writing a checkpoint)."""
        self.saving = True
        try:
            yield
        finally:
            self.saving = False

    def _handle(self, signum, frame):
        if self.requested:
            if signum == signal.SIGINT and self.saving:
                print("\nCtrl-C: the checkpoint is being written; stopping once it is", flush=True)
            elif signum == signal.SIGINT:
                raise KeyboardInterrupt
            return
        self.requested = True
        what = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        print(f"\n{what}: saving a checkpoint after this step (Ctrl-C again quits without saving)", flush=True)


class Saver:
    """Writes the run's checkpoints (the main process; the others wait at the save), with the training time so far."""

    def __init__(self, trainer: Trainer, progress: Progress, world: distributed.World, stop: StopRequest):
        self.trainer, self.progress, self.world, self.stop = trainer, progress, world, stop
        self.clock = (time.perf_counter(), progress.train_seconds)

    def __call__(self, label: str) -> None:
        """Save <label>_checkpoint.pth (latest, an epoch, iter_<N>, best)."""
        start, before = self.clock
        self.progress.train_seconds = round(before + time.perf_counter() - start, 1)
        if self.world.is_main:
            path = checkpoint.checkpoint_file(self.trainer.opt, label)
            with self.stop.protect():
                checkpoint.write(path, self.trainer.checkpoint_state(self.progress.state()))
            tqdm.write(f"saved {path}")
        distributed.barrier()  # no process runs ahead of a checkpoint it might resume from

    def end_of_epoch(self, epoch: int, best: bool) -> None:
        """`latest` and `<epoch>` every --save_epoch_freq epochs and at the last; `best` when validation says so."""
        opt = self.trainer.opt
        if epoch % opt.save_epoch_freq == 0 or epoch == opt.n_epochs + opt.n_epochs_decay:
            self("latest")
            self(str(epoch))
        if opt.val_freq and distributed.any_rank(best):
            self("best")


# what else a training run writes into its folder (its logs, pages, validation, trackers) and export.py beside it
RUN_FILES = ("opt.txt", checkpoint.OPTIONS_FILE, "networks.txt", "loss_log.txt", "loss_log.jsonl",
             "validation.jsonl", "wandb_run_id.txt", "*_net_G.onnx", "*_net_G.torchscript.pt")
RUN_FOLDERS = ("web", "val", "tensorboard", "wandb")


def start_new_run(folder: Path, overwrite: bool) -> None:
    """One experiment folder, one run: a run from scratch refuses a folder holding another run's checkpoints
    (unless overwrite), then removes what an earlier run left (checkpoints, logs, pages, validation, trackers), so
    that nothing of it (the best checkpoint, the averaged generator, the loss and validation history) is taken for
    this run's. Files that DLIM does not write are left alone."""
    checkpoints = sorted(p.name for pattern in checkpoint.CHECKPOINT_PATTERNS for p in folder.glob(pattern))
    if checkpoints and not overwrite:
        shown = ", ".join(checkpoints[:3]) + (f" and {len(checkpoints) - 3} more" if len(checkpoints) > 3 else "")
        raise UserError(f"{folder} holds another run ({shown}): resume it with --continue_train, give this run "
                        f"another --name, or pass --overwrite to delete that run and start again")
    files = sorted(p for pattern in (*checkpoint.CHECKPOINT_PATTERNS, *RUN_FILES) for p in folder.glob(pattern)
                   if p.is_file())
    folders = [folder / name for name in RUN_FOLDERS if (folder / name).is_dir()]
    for path in files:
        path.unlink()
    for path in folders:
        shutil.rmtree(path)
    if files or folders:
        print(f"removed the earlier run of {folder}: {len(checkpoints)} checkpoint(s), "
              f"{len(files) - len(checkpoints)} other file(s), {len(folders)} folder(s)", flush=True)


@contextlib.contextmanager
def run_folder(opt, world: distributed.World) -> Iterator[None]:
    """The experiment folder for this run alone: a second train.py of the same --name stops with the first's
    pid, temporary files a killed run left are removed, a run from scratch does not mix with an earlier one
    (start_new_run), and a run that fails before writing anything leaves no empty folders behind."""
    folder = checkpoint.experiment_dir(opt)
    new_folders = []
    parent = folder
    while not parent.exists() and parent != parent.parent:
        new_folders.append(parent)
        parent = parent.parent
    if not world.is_main:
        yield
        return
    lock = FolderLock(folder / ".train.lock").acquire(
        f"experiment {folder}", "wait for that run to finish (or stop it), or pick another --name or --checkpoints_dir")
    try:
        remove_stale_temp_files(folder, folder / "web", folder / "web" / "images")
        if not opt.continue_train:
            start_new_run(folder, opt.overwrite)
        yield
    finally:
        lock.release()
        for path in new_folders:
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()


@contextlib.contextmanager
def out_of_memory_advice(opt) -> Iterator[None]:
    """Running out of memory (GPU, or the CPU's allocator) becomes one line with the flags that need less; the
    checkpoints saved before stay as they were (each was written whole, atomically)."""
    try:
        yield
    except (torch.cuda.OutOfMemoryError, RuntimeError) as exc:
        if not (isinstance(exc, torch.cuda.OutOfMemoryError) or "can't allocate memory" in str(exc)):
            raise
        where = f"GPU {opt.gpu_ids[0]}" if opt.gpu_ids else "the CPU"
        raise UserError(f"out of memory on {where} with --netG {opt.netG}, --netD {opt.netD}, --batch_size "
                        f"{opt.batch_size} at --crop_size {opt.crop_size}: try {memory.advice(opt)}; the checkpoints "
                        f"saved so far are intact (resume with --continue_train)") from None
