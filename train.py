"""Train a pix2pix-family model.

    python train.py --dataroot ./datasets/facades --name facades_pix2pix --model pix2pix --direction BtoA

Checkpoints, options, loss logs and an HTML page of training samples go to <checkpoints_dir>/<name>/.
Ctrl-C saves a checkpoint first; --continue_train resumes exactly where the run stopped. What a step does is the
trainer's (training/trainer.py); the seams of this loop are in training/loop.py.
"""
from __future__ import annotations

import os
import sys

from data import create_dataset
from models import checkpoint, create_model
from training import memory
from training.ema import STATISTICS_IMAGES
from training.loop import evaluate, logging, resume, start_validation, train_one_epoch
from training.options import TrainOptions
from training.run import Progress, Saver, StopRequest, out_of_memory_advice, run_folder
from training.trainer import Trainer
from util import distributed
from util.errors import main_guard
from util.seeding import seed_everything


@main_guard
def main(argv: list[str] | None = None, defaults: dict | None = None) -> int:
    world = distributed.world_from_env()
    if not world.is_main:  # one copy of the console output (errors still come from every process, on stderr)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
    try:
        options = TrainOptions()
        opt = options.parse(argv, defaults)
        distributed.init(world, bool(opt.gpu_ids), opt.dist_timeout)
        with run_folder(opt, world), out_of_memory_advice(opt):
            return train(opt, options, world)
    finally:
        distributed.shutdown()


def train(opt, options: TrainOptions, world: distributed.World) -> int:
    """The training run: data, model and trainer, then epochs until the last or until a stop is requested."""
    seed_everything(opt.seed)  # the same initial weights in every process
    data = create_dataset(opt, world.rank, world.size)
    trainer = Trainer(create_model(opt), opt, world,
                      training_inputs=lambda: (batch["A"] for batch in data.first_batches(STATISTICS_IMAGES)))
    progress = resume(trainer, opt, options.changed, world.is_main) if opt.continue_train else \
        Progress(epoch=opt.epoch_count)
    memory.check_fits(trainer, lambda: next(data.first_batches(opt.batch_size)), opt)  # GPU: warns if it won't fit
    if world.distributed:  # each process its own random stream (dropout, image pool); the data order is shared
        seed_everything(opt.seed + 1_000_003 * world.rank + progress.total_iters)
    stop, last_epoch = StopRequest(), opt.n_epochs + opt.n_epochs_decay
    save = Saver(trainer, progress, world, stop)
    with logging(opt, options, trainer, data, world, progress) as log:
        validation = start_validation(opt) if world.is_main else None
        for epoch in range(progress.epoch, last_epoch + 1):
            progress.epoch = epoch
            if not train_one_epoch(trainer, data, progress, log, world, stop, save):
                print(f"stopped in epoch {epoch}; resume with the same command plus --continue_train")
                return 130
            lr = trainer.end_epoch(progress.samples_done)
            progress.epoch, progress.samples_done = epoch + 1, 0
            best = evaluate(trainer, validation, log, progress)
            log.display_current_results(trainer.model.get_current_visuals(), epoch, True, progress.total_iters)
            save.end_of_epoch(epoch, best)
            print(f"end of epoch {epoch}/{last_epoch}, learning rate {lr:.7f}", flush=True)
        print(f"done: checkpoints and training samples in {checkpoint.experiment_dir(opt)}")
    return 0


def run(defaults: dict | None = None) -> None:
    """The command-line entry point (also used by trainSesame.py with its own defaults)."""
    sys.exit(main(defaults=defaults))


if __name__ == "__main__":
    run()
