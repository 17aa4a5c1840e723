"""Train a pix2pix-family model.

    python train.py --dataroot ./datasets/facades --name facades_pix2pix --model pix2pix --direction BtoA

Checkpoints, options, loss logs and an HTML page of training samples go to <checkpoints_dir>/<name>/.
Ctrl-C saves a checkpoint first; --continue_train resumes exactly where the run stopped.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from tqdm import tqdm

from data import create_dataset
from models import create_model
from models.acceleration import describe_speed
from models.checkpoint import checkpoint_label, seed_everything
from options.train_options import TrainOptions
from util import distributed
from util.errors import UserError, main_guard
from util.fileio import remove_stale_temp_files
from util.locks import FolderLock
from util.visualizer import SilentVisualizer, Visualizer


class StopRequest:
    """First Ctrl-C asks the loop to save and stop after the current step; a second one stops at once.

    SIGTERM (a cluster's time limit or preemption, `scancel`) also asks for a save and stop; repeats of it are
    ignored, since SLURM and torchrun may both deliver it.
    """

    def __init__(self):
        self.requested = False
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame):
        if self.requested:
            if signum == signal.SIGINT:
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
        return train(world, argv, defaults)
    finally:
        distributed.shutdown()


def train(world: distributed.World, argv: list[str] | None, defaults: dict | None) -> int:
    options = TrainOptions()
    opt = options.parse(argv, defaults)
    if world.distributed:
        use_gpus(opt, world)
        distributed.init(world, bool(opt.gpu_ids), opt.dist_timeout)
    if opt.sync_bn and opt.lambda_gp > 0 and opt.norm == "batch" and opt.netD != "sesame":
        raise UserError("--sync_bn with a gradient penalty (--lambda_gp, wgangp) cannot work: SyncBatchNorm has no "
                        "second derivative; use --norm instance, or leave out --sync_bn")
    if opt.sync_bn and not (world.distributed and opt.gpu_ids):
        raise UserError("--sync_bn needs several GPU processes (torchrun --nproc_per_node N train.py ... on CUDA): "
                        "leave it out on a CPU or a single process")
    new_folders = missing_folders(Path(opt.checkpoints_dir) / opt.name)
    lock = take_experiment(opt) if world.is_main else None
    try:
        return run_training(world, opt, options)
    finally:
        if lock:
            lock.release()
            for folder in new_folders:  # a run that failed before writing anything leaves no empty folders
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()


def missing_folders(folder: Path) -> list[Path]:
    """`folder` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def take_experiment(opt) -> FolderLock:
    """The experiment folder for this run alone (a second train.py of the same --name stops with the first's
    pid); temporary files that a killed run left in it are removed."""
    folder = Path(opt.checkpoints_dir) / opt.name
    lock = FolderLock(folder / ".train.lock").acquire(
        f"experiment {folder}", "wait for that run to finish (or stop it), or pick another --name or --checkpoints_dir")
    remove_stale_temp_files(folder, folder / "web", folder / "web" / "images")
    return lock


def run_training(world: distributed.World, opt, options: TrainOptions) -> int:
    seed_everything(opt.seed)  # the same initial weights in every process
    data = create_dataset(opt, world.rank, world.size)
    model = create_model(opt)
    model.setup()
    # samples_done counts images of the current epoch (all processes), so a resumed run may change --batch_size
    progress = {"epoch": opt.epoch_count, "samples_done": 0, "total_iters": 0, "l1_sum": 0.0}
    if opt.continue_train:
        progress.update(resume(model, opt, options.changed, world.is_main))
    if world.distributed:
        # each process its own random stream (dropout, image pool); the data order is shared through the sampler
        seed_everything(opt.seed + 1_000_003 * world.rank + progress["total_iters"])
        model.distribute(opt.sync_bn)
    if world.is_main:
        options.save_options(opt, model.save_dir)
        model.save_network_summary()
    visualizer = Visualizer(opt) if world.is_main else SilentVisualizer()
    stop = StopRequest()
    last_epoch = opt.n_epochs + opt.n_epochs_decay
    if world.is_main:
        where = f"{world.size} processes, global batch {opt.batch_size * world.size}, {model.device.type}" \
            if world.distributed else str(model.device)
        print(f"training on {len(data)} images in batches of {opt.batch_size} ({where}; {describe_speed(opt)})",
              flush=True)

    def save(label: str) -> None:
        if world.is_main:
            path = model.save_checkpoint(label, progress)
            tqdm.write(f"saved {path}")
        distributed.barrier()  # no process runs ahead of a checkpoint it might resume from

    for epoch in range(progress["epoch"], last_epoch + 1):
        progress["epoch"] = epoch
        data.set_epoch(epoch, progress["samples_done"])
        model.train()
        bar = tqdm(total=len(data), initial=progress["samples_done"], desc=f"epoch {epoch}/{last_epoch}",
                   unit="img", dynamic_ncols=True, disable=None if world.is_main else True)
        t_data = time.perf_counter()
        for batch in data:
            t_start = time.perf_counter()
            model.set_input(batch)
            model.optimize_parameters()
            n = len(batch["A"]) * world.size
            before, progress["total_iters"] = progress["total_iters"], progress["total_iters"] + n
            progress["samples_done"] += n
            t_comp = (time.perf_counter() - t_start) / n
            losses = model.get_current_losses()
            progress["l1_sum"] += losses.get(model.monitor_loss, 0.0) * n
            bar.set_postfix({**{k: f"{v:.3f}" for k, v in losses.items()}, "img/s": f"{1 / max(t_comp, 1e-9):.1f}"})
            bar.update(n)
            total = progress["total_iters"]
            if crossed(before, total, opt.print_freq):
                line = visualizer.print_current_losses(epoch, progress["samples_done"], total, losses, t_comp,
                                                       t_start - t_data, model.optimizers[0].param_groups[0]["lr"])
                if bar.disable and line:
                    print(line, flush=True)
                visualizer.plot_current_losses(total, losses)
            if crossed(before, total, opt.display_freq):
                visualizer.display_current_results(model.get_current_visuals(), epoch,
                                                   crossed(before, total, opt.update_html_freq))
            if crossed(before, total, opt.save_latest_freq):
                save("latest")
                if opt.save_by_iter:
                    save(f"iter_{total}")
            if distributed.any_rank(stop.requested):  # every process stops after the same step
                save("latest")
                bar.close()
                if world.is_main:
                    print(f"stopped in epoch {epoch}; resume with the same command plus --continue_train")
                return 130
            t_data = time.perf_counter()
        bar.close()
        visualizer.display_current_results(model.get_current_visuals(), epoch, save_html=True)
        # the plateau policy's metric, averaged over processes so that all keep the same learning rate
        lr = model.update_learning_rate(distributed.mean(progress["l1_sum"] / max(1, progress["samples_done"])))
        progress.update(epoch=epoch + 1, samples_done=0, l1_sum=0.0)
        if epoch % opt.save_epoch_freq == 0 or epoch == last_epoch:
            save("latest")
            save(str(epoch))
        if world.is_main:
            print(f"end of epoch {epoch}/{last_epoch}, learning rate {lr:.7f}", flush=True)
    if world.is_main:
        print(f"done: checkpoints and training samples in {model.save_dir}")
    return 0


def resume(model, opt, changed: dict, verbose: bool) -> dict:
    """Load the checkpoint to continue from; say where the run resumes, at which learning rate, and which
    options differ from the checkpoint's. A run that has trained all its epochs is an error."""
    label = checkpoint_label(opt)
    progress = model.load_checkpoint(label)
    last_epoch = opt.n_epochs + opt.n_epochs_decay
    if progress["epoch"] > last_epoch:
        raise UserError(f"{model.checkpoint_path(label)} has trained all {last_epoch} epochs (--n_epochs "
                        f"{opt.n_epochs} + --n_epochs_decay {opt.n_epochs_decay}): to train longer, pass larger "
                        f"--n_epochs or --n_epochs_decay with --continue_train")
    if verbose:
        if changed:
            print("options changed since the checkpoint: " + ", ".join(
                f"--{key} {new} (was {old})" for key, (old, new) in changed.items()))
        lr = model.optimizers[0].param_groups[0]["lr"]
        print(f"resuming at epoch {progress['epoch']}, image {progress['samples_done']}, "
              f"learning rate {lr:.7g} ({opt.lr_policy} schedule over {last_epoch} epochs)")
    return progress


def use_gpus(opt, world: distributed.World) -> None:
    """Under torchrun with CUDA, process k of a machine trains on its GPU k."""
    if not opt.gpu_ids:
        return
    import torch

    if world.local_rank >= torch.cuda.device_count():
        raise UserError(f"process {world.local_rank} of this machine has no GPU (only {torch.cuda.device_count()}):"
                        f" start at most that many with torchrun --nproc_per_node, or pass --gpu_ids -1 for CPUs")
    opt.gpu_ids = [world.local_rank]


def run(defaults: dict | None = None) -> None:
    """The command-line entry point (also used by trainSesame.py with its own defaults)."""
    sys.exit(main(defaults=defaults))


if __name__ == "__main__":
    run()
