"""The seams of train.py's loop, as torchvision's references have them: resume, train_one_epoch, evaluate (the
validation of --val_freq), and the logging around them. Only log steps wait for the device."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tqdm import tqdm

from data import DataPipeline, create_dataset
from models import checkpoint
from models.acceleration import describe_speed
from models.networks import print_summary, write_summary
from util import distributed
from util.errors import UserError, warn

from .run import Progress, Saver, StopRequest
from .trainer import Meter, Trainer
from .validation import Validation, describe, validation_options
from .visualizer import SilentVisualizer, Visualizer


def crossed(before: int, after: int, freq: int) -> bool:
    """True when a counter going from `before` to `after` passed a multiple of freq."""
    return freq > 0 and after // freq > before // freq


def resume(trainer: Trainer, opt, changed: dict, verbose: bool) -> Progress:
    """Load the checkpoint to continue from; say where the run resumes, at which learning rate, and which
    options differ from the checkpoint's. A run that has trained all its epochs is an error."""
    found = checkpoint.find(opt, trainer.model.trained_names)
    progress = Progress.from_checkpoint(trainer.resume(found), opt.epoch_count)
    last_epoch = opt.n_epochs + opt.n_epochs_decay
    if progress.epoch > last_epoch:
        raise UserError(f"{found.path} has trained all {last_epoch} epochs (--n_epochs {opt.n_epochs} + "
                        f"--n_epochs_decay {opt.n_epochs_decay}): to train longer, pass larger --n_epochs or "
                        f"--n_epochs_decay with --continue_train")
    if verbose:
        if changed:
            print("options changed since the checkpoint: " + ", ".join(
                f"--{key} {new} (was {old})" for key, (old, new) in changed.items()))
        warn_about_resuming(opt, progress.epoch, changed)
        print(f"resuming at epoch {progress.epoch}, image {progress.samples_done}, learning rate "
              f"{trainer.learning_rate:.7g} ({opt.lr_policy} schedule over {last_epoch} epochs)")
    return progress


def warn_about_resuming(opt, epoch: int, changed: dict) -> None:
    """A resumed run continues from its checkpoint's position; checkpoints of later epochs belong to the run that
    went on from there, and are overwritten as this one reaches their epochs. --ema 0 drops the average."""
    if "ema" in changed and not opt.ema:
        warn("--ema 0: this run keeps no moving average of G, so its checkpoints will not have the checkpoint's "
             "averaged generator (test.py then translates with the trained weights)")
    later = [e for e in checkpoint.saved_epochs(checkpoint.experiment_dir(opt)) if e >= epoch]
    if later:
        warn(f"checkpoints of later epochs ({', '.join(map(str, later))}) are from the run that went on from this "
             f"checkpoint: this run overwrites them as it reaches those epochs (copy them elsewhere to keep them); "
             f"its best checkpoint, iter_ snapshots and logged history stay until this run replaces them")


def train_one_epoch(trainer: Trainer, data: DataPipeline, progress: Progress, log, world: distributed.World,
                    stop: StopRequest, save: Saver) -> bool:
    """Train the rest of progress.epoch, logging and saving at their frequencies; False when a stop was requested
    (then `latest` is saved)."""
    opt, epoch = trainer.opt, progress.epoch
    data.set_epoch(epoch, progress.samples_done)
    trainer.model.train()
    bar = tqdm(total=len(data), initial=progress.samples_done, unit="img", dynamic_ncols=True,
               desc=f"epoch {epoch}/{opt.n_epochs + opt.n_epochs_decay}", disable=None if world.is_main else True)
    meter = Meter(trainer.model.device)
    for batch in data:
        meter.batch_arrived()
        trainer.train_step(batch)
        n = len(batch["A"]) * world.size
        before, after = progress.step(n)
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


def log_losses(trainer: Trainer, log, bar: tqdm, meter: Meter, progress: Progress) -> None:
    """The losses of the last step and the speed since the last log: to the loss log, visdom, the trackers of
    --logger and the bar."""
    losses = trainer.current_losses()
    per_image, data_time = meter.read()
    line = log.print_current_losses(progress.epoch, progress.samples_done, progress.total_iters, losses, per_image,
                                    data_time, trainer.learning_rate)
    if bar.disable and line:
        print(line, flush=True)
    log.plot_current_losses(progress.total_iters, losses, trainer.learning_rates, per_image)
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


def evaluate(trainer: Trainer, validation: Validation | None, log, progress: Progress) -> bool:
    """At a validation point, score the generator test.py would use on the validation images; True when it is the
    best so far."""
    epoch = progress.epoch - 1  # the epoch just trained
    if validation is None or not validation.due(epoch):
        return False
    averaged = trainer.averaged_generator()
    scores, seconds = validation.run(averaged or trainer.model.netG, "ema" if averaged else "raw", progress)
    improved = validation.improved(scores, progress)
    line = f"validation after epoch {epoch}: {describe(scores)} ({len(validation.data)} images, {seconds:.1f} s)" \
           f"{'; best so far' if improved else ''}"
    print(line, flush=True)
    log.log_validation(epoch, progress.total_iters, scores, line)
    return improved


@contextlib.contextmanager
def logging(opt, options, trainer: Trainer, data: DataPipeline, world: distributed.World,
            progress: Progress) -> Iterator[Visualizer | SilentVisualizer]:
    """The options and network summaries in the experiment folder, the first line, and the run's loggers (the loss
    log, page and trackers, continuing from progress.total_iters), closed when training ends, also by an error or
    Ctrl-C (then marked failed)."""
    if world.is_main:
        print_summary(trainer.model.nets(), opt.verbose)
        options.save_options(opt, checkpoint.experiment_dir(opt))
        write_summary(trainer.model.nets(), checkpoint.experiment_dir(opt) / "networks.txt")
        where = f"{world.size} processes, global batch {opt.batch_size * world.size}, {trainer.model.device.type}" \
            if world.distributed else str(trainer.model.device)
        print(f"training on {len(data)} images in batches of {opt.batch_size} ({where}; "
              f"{describe_speed(opt, data.cache is not None)})", flush=True)
    log = Visualizer(opt, progress.total_iters) if world.is_main else SilentVisualizer()
    try:
        yield log
    except BaseException:
        log.close(failed=True)
        raise
    log.close()
