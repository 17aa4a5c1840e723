"""Train a pix2pix-family model.

    python train.py --dataroot ./datasets/facades --name facades_pix2pix --model pix2pix --direction BtoA

Checkpoints, options, loss logs and an HTML page of training samples go to <checkpoints_dir>/<name>/.
Ctrl-C saves a checkpoint first; --continue_train resumes exactly where the run stopped.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator

import torch
from tqdm import tqdm

from data import DataPipeline, create_dataset
from models import checkpoint, create_model, memory
from models.acceleration import describe_speed
from models.ema import STATISTICS_IMAGES
from models.networks import print_summary, write_summary
from models.trainer import Meter, Trainer
from models.validation import Validation, describe
from options.train_options import TrainOptions, validation_options
from util import distributed
from util.errors import UserError, main_guard, warn
from util.fileio import remove_stale_temp_files
from util.locks import FolderLock
from util.seeding import seed_everything
from util.visualizer import SilentVisualizer, Visualizer


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


def crossed(before: int, after: int, freq: int) -> bool:
    """True when a counter going from `before` to `after` passed a multiple of freq."""
    return freq > 0 and after // freq > before // freq


@main_guard
def main(argv: list[str] | None = None, defaults: dict | None = None) -> int:
    world = distributed.world_from_env()
    if not world.is_main:  # one copy of the console output (errors still come from every process, on stderr)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
    try:
        options = TrainOptions()
        opt = options.parse(argv, defaults)
        distributed.init(world, bool(opt.gpu_ids), opt.dist_timeout)
        with experiment(opt, world), out_of_memory_advice(opt):
            return train(opt, options, world)
    finally:
        distributed.shutdown()


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


def train(opt, options: TrainOptions, world: distributed.World) -> int:
    """The training run: data, model and trainer, then epochs until the last or until a stop is requested."""
    seed_everything(opt.seed)  # the same initial weights in every process
    data = create_dataset(opt, world.rank, world.size)
    trainer = Trainer(create_model(opt), opt, world,
                      training_inputs=lambda: (batch["A"] for batch in data.first_batches(STATISTICS_IMAGES)))
    # samples_done counts images of the current epoch (all processes), so a resumed run may change --batch_size
    progress = {"epoch": opt.epoch_count, "samples_done": 0, "total_iters": 0, "train_seconds": 0.0}
    if opt.continue_train:
        progress.update(resume(trainer, opt, options.changed, world.is_main))
    memory.check_fits(trainer, lambda: next(data.first_batches(opt.batch_size)), opt)  # GPU: warns if it won't fit
    clock = (time.perf_counter(), progress["train_seconds"])  # wall time of training, over resumed runs too
    if world.distributed:  # each process its own random stream (dropout, image pool); the data order is shared
        seed_everything(opt.seed + 1_000_003 * world.rank + progress["total_iters"])
    with closing(start_logging(opt, options, trainer, data, world, progress["total_iters"])) as log:
        validation = start_validation(opt) if world.is_main else None
        stop, last_epoch = StopRequest(), opt.n_epochs + opt.n_epochs_decay

        def save(label: str) -> None:
            progress["train_seconds"] = round(clock[1] + time.perf_counter() - clock[0], 1)
            if world.is_main:
                with stop.protect():
                    path = checkpoint.write(checkpoint.checkpoint_file(opt, label), trainer.checkpoint_state(progress))
                tqdm.write(f"saved {path}")
            distributed.barrier()  # no process runs ahead of a checkpoint it might resume from

        for epoch in range(progress["epoch"], last_epoch + 1):
            progress["epoch"] = epoch
            if not train_one_epoch(trainer, data, progress, log, world, stop, save):
                if world.is_main:
                    print(f"stopped in epoch {epoch}; resume with the same command plus --continue_train")
                return 130
            lr = trainer.end_epoch(progress["samples_done"])
            progress.update(epoch=epoch + 1, samples_done=0)
            best = validate(trainer, validation, log, progress) if validation and validation.due(epoch) else False
            log.display_current_results(trainer.model.get_current_visuals(), epoch, True, progress["total_iters"])
            if epoch % opt.save_epoch_freq == 0 or epoch == last_epoch:
                save("latest")
                save(str(epoch))
            if opt.val_freq and distributed.any_rank(best):
                save("best")
            print(f"end of epoch {epoch}/{last_epoch}, learning rate {lr:.7f}", flush=True)
        print(f"done: checkpoints and training samples in {checkpoint.experiment_dir(opt)}")
    return 0


def train_one_epoch(trainer: Trainer, data: DataPipeline, progress: dict, log, world: distributed.World,
                    stop: StopRequest, save) -> bool:
    """Train the rest of progress['epoch'], logging and saving at their frequencies; False when a stop was
    requested (then `latest` is saved). Only log steps wait for the device."""
    opt, epoch = trainer.opt, progress["epoch"]
    data.set_epoch(epoch, progress["samples_done"])
    trainer.model.train()
    bar = tqdm(total=len(data), initial=progress["samples_done"], unit="img", dynamic_ncols=True,
               desc=f"epoch {epoch}/{opt.n_epochs + opt.n_epochs_decay}", disable=None if world.is_main else True)
    meter = Meter(trainer.model.device)
    for batch in data:
        meter.batch_arrived()
        trainer.train_step(batch)
        n = len(batch["A"]) * world.size
        before, after = progress["total_iters"], progress["total_iters"] + n
        progress.update(total_iters=after, samples_done=progress["samples_done"] + n)
        meter.step_done(n)
        bar.update(n)
        if crossed(before, after, opt.print_freq):
            log_losses(trainer, log, bar, meter, progress)
        if crossed(before, after, opt.display_freq):
            log.display_current_results(trainer.model.get_current_visuals(), epoch,
                                        crossed(before, after, opt.update_html_freq), after)
        if crossed(before, after, opt.save_latest_freq):
            save("latest")
            if opt.save_by_iter:
                save(f"iter_{after}")
        if distributed.any_rank(stop.requested):  # every process stops after the same step
            save("latest")
            bar.close()
            return False
    bar.close()
    return True


def log_losses(trainer: Trainer, log, bar: tqdm, meter: Meter, progress: dict) -> None:
    """The losses of the last step and the speed since the last log: to the loss log, visdom, the trackers of
    --logger and the bar."""
    losses = trainer.current_losses()
    per_image, data_time = meter.read()
    line = log.print_current_losses(progress["epoch"], progress["samples_done"], progress["total_iters"], losses,
                                    per_image, data_time, trainer.learning_rate)
    if bar.disable and line:
        print(line, flush=True)
    log.plot_current_losses(progress["total_iters"], losses, trainer.learning_rates, per_image)
    bar.set_postfix({**{k: f"{v:.3f}" for k, v in losses.items()}, "img/s": f"{1 / max(per_image, 1e-9):.1f}"})


def start_validation(opt) -> Validation | None:
    """The validation of --val_freq: its data, and the metrics package as its scorer."""
    if not opt.val_freq:
        return None
    import metrics

    names = metrics.parse_metrics(opt.val_metrics)
    settings = {"device": "cuda" if opt.gpu_ids else "cpu"}
    data = create_dataset(validation_options(opt))
    print(f"validation every {opt.val_freq} epochs on {len(data)} images of {opt.val_phase}/ ({', '.join(names)}; "
          f"best checkpoint by {opt.val_metric})")

    def score(folder):
        return metrics.evaluate(metrics.image_sets(folder), names, settings)["metrics"]

    return Validation(opt, data, score, metrics.METRICS[opt.val_metric].higher_is_better)


def validate(trainer: Trainer, validation: Validation, log, progress: dict) -> bool:
    """Score the generator test.py would use on the validation images; True when it is the best so far."""
    generator = trainer.averaged_generator() or trainer.model.netG
    scores, seconds = validation.run(generator, trainer.model.autocast, progress)
    improved = validation.improved(scores, progress)
    line = f"validation after epoch {progress['epoch'] - 1}: {describe(scores)} ({len(validation.data)} images, " \
           f"{seconds:.1f} s){'; best so far' if improved else ''}"
    print(line, flush=True)
    log.log_validation(progress["epoch"] - 1, progress["total_iters"], scores, line)
    return improved


def resume(trainer: Trainer, opt, changed: dict, verbose: bool) -> dict:
    """Load the checkpoint to continue from; say where the run resumes, at which learning rate, and which
    options differ from the checkpoint's. A run that has trained all its epochs is an error."""
    found = checkpoint.find(opt, trainer.model.trained_names)
    progress = trainer.resume(found)
    last_epoch = opt.n_epochs + opt.n_epochs_decay
    if progress.get("epoch", opt.epoch_count) > last_epoch:
        raise UserError(f"{found.path} has trained all {last_epoch} epochs (--n_epochs {opt.n_epochs} + "
                        f"--n_epochs_decay {opt.n_epochs_decay}): to train longer, pass larger --n_epochs or "
                        f"--n_epochs_decay with --continue_train")
    if verbose:
        if changed:
            print("options changed since the checkpoint: " + ", ".join(
                f"--{key} {new} (was {old})" for key, (old, new) in changed.items()))
        warn_about_resuming(opt, progress.get("epoch", opt.epoch_count), changed)
        print(f"resuming at epoch {progress.get('epoch', opt.epoch_count)}, image {progress.get('samples_done', 0)}, "
              f"learning rate {trainer.learning_rate:.7g} ({opt.lr_policy} schedule over {last_epoch} epochs)")
    return progress


def warn_about_resuming(opt, epoch: int, changed: dict) -> None:
    """A resumed run continues from its checkpoint's position; checkpoints of later epochs belong to the run that
    went on from there, and are overwritten as this one reaches their epochs. --ema 0 drops the average."""
    if "ema" in changed and not opt.ema:
        warn("--ema 0: this run keeps no moving average of G, so its checkpoints will not have the checkpoint's "
             "averaged generator (test.py then translates with the trained weights)")
    later = sorted(int(p.name.split("_")[0]) for p in checkpoint.experiment_dir(opt).glob("*_checkpoint.pth")
                   if p.name.split("_")[0].isdecimal() and int(p.name.split("_")[0]) >= epoch)
    if later:
        warn(f"checkpoints of later epochs ({', '.join(map(str, later))}) are from the run that went on from this "
             f"checkpoint: this run overwrites them as it reaches those epochs (copy them elsewhere to keep them); "
             f"its best checkpoint, iter_ snapshots and logged history stay until this run replaces them")


def start_logging(opt, options: TrainOptions, trainer: Trainer, data: DataPipeline, world: distributed.World,
                  total_iters: int):
    """Options and network summaries into the experiment folder, the loss log, page and trackers (continuing from
    image total_iters), and the first line."""
    if not world.is_main:
        return SilentVisualizer()
    print_summary(trainer.model.nets(), opt.verbose)
    options.save_options(opt, checkpoint.experiment_dir(opt))
    write_summary(trainer.model.nets(), checkpoint.experiment_dir(opt) / "networks.txt")
    where = f"{world.size} processes, global batch {opt.batch_size * world.size}, {trainer.model.device.type}" \
        if world.distributed else str(trainer.model.device)
    print(f"training on {len(data)} images in batches of {opt.batch_size} ({where}; "
          f"{describe_speed(opt, data.cache is not None)})", flush=True)
    return Visualizer(opt, total_iters)


@contextlib.contextmanager
def closing(log: Visualizer | SilentVisualizer) -> Iterator[Visualizer | SilentVisualizer]:
    """The run's loggers, flushed and closed when training ends, also by an error or Ctrl-C (then marked failed)."""
    try:
        yield log
    except BaseException:
        log.close(failed=True)
        raise
    log.close()


@contextlib.contextmanager
def experiment(opt, world: distributed.World) -> Iterator[None]:
    """The experiment folder for this run alone: a second train.py of the same --name stops with the first's
    pid, temporary files a killed run left are removed, a run from scratch does not mix with an earlier one
    (checkpoint.start_new_run), and a run that fails before writing anything leaves no empty folders behind."""
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
            checkpoint.start_new_run(folder, opt.overwrite)
        yield
    finally:
        lock.release()
        for path in new_folders:
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def run(defaults: dict | None = None) -> None:
    """The command-line entry point (also used by trainSesame.py with its own defaults)."""
    sys.exit(main(defaults=defaults))


if __name__ == "__main__":
    run()
