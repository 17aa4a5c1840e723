"""The options of train.py: the model's (models/options.py) and the run's: schedule, optimiser, validation,
checkpoints, logging."""
from __future__ import annotations

import argparse
from pathlib import Path

from models import acceleration, networks
from models.options import ModelOptions
from options.parser import APPLY, REFUSE, RUN_ALWAYS, check_resume
from options.types import (
    beta,
    count_or_inf,
    nonnegative_int,
    positive_finite,
    positive_float,
    positive_int,
)
from util import distributed
from util.errors import UserError, warn
from util.registry import add_options, describe

from .loggers import LOGGERS, logger_names, parse_loggers
from .schedules import LR_POLICIES


class TrainOptions(ModelOptions):
    """Options of train.py."""

    is_train = True
    description = "Train a paired image-to-image translation model (pix2pix family)."

    def inherits_checkpoint(self, opt: argparse.Namespace) -> bool:
        """A resumed run (--continue_train) takes every option not given again from its checkpoint."""
        return opt.continue_train

    def inherited(self, opt: argparse.Namespace, saved: dict) -> None:
        """The resume policy of every option given again with another value (options/parser.py)."""
        from models.checkpoint import checkpoint_file

        check_resume(self.parser, self.changed, str(checkpoint_file(opt)))

    def initialize(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser = super().initialize(parser)
        _logging_flags(parser.add_argument_group("visualisation"))
        _checkpoint_flags(parser.add_argument_group("checkpoints"))
        g = parser.add_argument_group("several processes (launch with torchrun; --batch_size is per process)")
        g.add_argument("--sync_bn", action="store_true", run=RUN_ALWAYS,
                       help="batch norm over the global batch (SyncBatchNorm; GPUs only) instead of each process's")
        g.add_argument("--dist_timeout", type=positive_float, default=30, run=RUN_ALWAYS,
                       help="minutes a process waits for the others before the job fails instead of hanging")

        g = parser.add_argument_group("optimisation")
        g.add_argument("--n_epochs", resume=APPLY, type=nonnegative_int, default=100,
                       help="epochs at the initial learning rate")
        g.add_argument("--n_epochs_decay", resume=APPLY, type=nonnegative_int, default=100,
                       help="epochs of linear decay to zero")
        g.add_argument("--beta1", resume=APPLY, type=beta, default=0.5, help="Adam momentum term, in [0, 1)")
        g.add_argument("--beta2", resume=APPLY, type=beta, default=0.999,
                       help="Adam second-moment term, in [0, 1) (SPADE: 0.9)")
        g.add_argument("--lr", resume=APPLY, type=positive_finite, default=0.0002, help="initial Adam learning rate")
        g.add_argument("--lr_G", resume=APPLY, type=positive_finite, default=None,
                       help="G's initial learning rate (default: --lr, or --lr / 2 with --ttur)")
        g.add_argument("--lr_D", resume=APPLY, type=positive_finite, default=None,
                       help="D's initial learning rate (default: --lr, or --lr x 2 with --ttur)")
        g.add_argument("--ttur", resume=APPLY, action="store_true",
                       help="two time-scale update rule as SPADE: G learns at --lr / 2, D at --lr x 2")
        g.add_argument("--grad_checkpoint", action="store_true", run=RUN_ALWAYS,
                       help="activation checkpointing: G's and D's blocks keep only their inputs and recompute their "
                            "activations in the backward pass, for the memory of activations at high resolution "
                            "(resnet_9blocks at 512+, spade), at the cost of about 30%% more step time; same "
                            "losses and gradients")
        g.add_argument("--pool_size", resume=APPLY, type=nonnegative_int, default=50,
                       help="history of generated images shown to D")
        g.add_argument("--lr_policy", resume=APPLY, default="linear", choices=LR_POLICIES,
                       help="learning-rate schedule")
        g.add_argument("--lr_decay_iters", resume=APPLY, type=positive_int, default=50,
                       help="step policy: multiply by 0.1 every N epochs")
        g.add_argument("--ema", resume=APPLY, type=beta, nargs="?", const=0.999, default=0.0, metavar="DECAY",
                       help="keep an exponential moving average of the generator's weights, updated after every step "
                            "(the flag alone: decay 0.999, with a warm-up), which test.py and the demo then use; "
                            "0 turns it off")
        _validation_flags(parser.add_argument_group("validation during training"))
        return parser

    def complete(self, opt: argparse.Namespace) -> None:
        super().complete(opt)
        if getattr(opt, "lambda_gp", 0) is None:  # the models with a GAN loss (--gan_mode)
            opt.lambda_gp = 10.0 if opt.gan_mode == "wgangp" else 0.0
        if opt.lr_G is None:
            opt.lr_G = opt.lr / 2 if opt.ttur else opt.lr
        if opt.lr_D is None:
            opt.lr_D = opt.lr * 2 if opt.ttur else opt.lr
        if opt.use_wandb:  # upstream pix2pix's switch for W&B
            opt.logger = ",".join(parse_loggers(f"{opt.logger},wandb"))

    def check(self, opt: argparse.Namespace) -> None:
        super().check(opt)
        last = opt.n_epochs + opt.n_epochs_decay
        if last < 1:
            raise UserError(f"--n_epochs {opt.n_epochs} --n_epochs_decay {opt.n_epochs_decay}: "
                            "train for at least one epoch")
        if opt.epoch_count > last and not opt.continue_train:
            raise UserError(f"--epoch_count {opt.epoch_count} is past the last epoch ({last} = --n_epochs "
                            f"{opt.n_epochs} + --n_epochs_decay {opt.n_epochs_decay}): nothing would be trained; "
                            f"raise --n_epochs, or resume a run with --continue_train (without --epoch_count)")
        _check_validation(opt)
        if "wandb_project" in opt.explicit and "wandb" not in parse_loggers(opt.logger):
            warn(f"--wandb_project {opt.wandb_project} is for W&B, which --logger {opt.logger} leaves out: add wandb "
                 f"to --logger (or pass --use_wandb)")
        if "lambda_kld" in opt.explicit and not opt.use_vae:
            warn(f"--lambda_kld {opt.lambda_kld} weighs the KL term of --use_vae's style code, which this run has not: "
                 f"it has no effect")
        if opt.use_vae and opt.netG != "spade":
            raise UserError(f"--use_vae is the style encoder of SPADE's generator: pass --netG spade (or --model "
                            f"spade), or leave --use_vae out (--netG {opt.netG})")
        if opt.dataset_mode == "single":
            raise UserError("--dataset_mode single has no target images to learn from: train with aligned A|B "
                            "pairs (single is for test.py)")
        if opt.sync_bn and getattr(opt, "lambda_gp", 0) > 0 and networks.discriminator_uses_batch_norm(opt):
            raise UserError("--sync_bn with a gradient penalty (--lambda_gp, wgangp) cannot work: SyncBatchNorm has no "
                            "second derivative; use --norm instance, or leave out --sync_bn")
        if opt.sync_bn and not (distributed.world_from_env().distributed and opt.gpu_ids):
            raise UserError("--sync_bn needs several GPU processes (torchrun --nproc_per_node N train.py ... on "
                            "CUDA): leave it out on a CPU or a single process")


def _validation_flags(g: argparse._ArgumentGroup) -> None:
    """Validation during training (training/validation.py)."""
    g.add_argument("--val_freq", resume=APPLY, type=nonnegative_int, default=0,
                   help="every N epochs (and after the last), translate and score the --val_phase images, log the "
                        "scores and keep the best checkpoint as best_checkpoint.pth (test.py --epoch best); 0: never")
    g.add_argument("--val_phase", resume=APPLY, default="val",
                   help="dataset subfolder to validate on (facades has val/)")
    g.add_argument("--val_num", resume=APPLY, type=count_or_inf, default=float("inf"),
                   help="validate on the first N images of --val_phase (default: all)")
    g.add_argument("--val_metrics", resume=APPLY, default="fd_lite0,kid_lite0,l1,psnr,ssim",
                   help="metrics of a validation pass, as evaluate.py --metrics names them (default: the offline "
                        "ones; real-image features are computed once and cached)")
    g.add_argument("--val_metric", resume=APPLY, default="kid_lite0",
                   help="the metric that picks the best checkpoint (one of --val_metrics; lower or higher is "
                        "better as the metric says)")


def _check_validation(opt: argparse.Namespace) -> None:
    if not opt.val_freq:
        return
    import metrics  # the registry, to check names now rather than after the first epoch
    from metrics.report import LITE0_METRICS, lite0_training

    try:
        names = metrics.parse_metrics(opt.val_metrics)
    except UserError as exc:  # the metrics package names evaluate.py's flag
        raise UserError(str(exc).replace("--metrics", "--val_metrics")) from None
    several = [n for n in names if metrics.METRICS[n].group == "diversity"]
    if several:
        raise UserError(f"--val_metrics {opt.val_metrics}: {several[0]} compares several samples of each input, and "
                        f"validation translates each once; leave it out (test.py --n_samples K, then evaluate.py, "
                        f"measure it)")
    inception = [n for n in names if metrics.METRICS[n].group == "inception"]
    if inception and not _inception_weights_cached():
        raise UserError(f"--val_metrics {opt.val_metrics}: {inception[0]} needs torch-fidelity's Inception weights in "
                        f"$TORCH_HOME/hub/checkpoints/, which train.py does not download (evaluate.py --metrics fid "
                        f"does, once); or validate with the offline fd_lite0,kid_lite0")
    if opt.val_metric not in names:
        raise UserError(f"--val_metric {opt.val_metric} is not among --val_metrics {opt.val_metrics}: pick one of "
                        f"{', '.join(names)}, or add it to --val_metrics")
    if not (Path(opt.dataroot) / opt.val_phase).is_dir():
        raise UserError(f"--val_phase {opt.val_phase}: {Path(opt.dataroot) / opt.val_phase} does not exist; pass the "
                        f"dataset subfolder to validate on, or --val_freq 0")
    if lite0_training(vars(opt)) and opt.val_metric in LITE0_METRICS:
        warn(f"--val_metric {opt.val_metric} comes from EfficientNet-Lite0, which this run trains against "
             f"({' and '.join(lite0_training(vars(opt)))}): it would favour checkpoints that fool it; pick another, "
             f"e.g. --val_metric l1 (or fid)")


def _inception_weights_cached() -> bool:
    from metrics.fidelity import URL_INCEPTION_V3
    from util.backbones import torch_hub_checkpoints

    return (torch_hub_checkpoints() / Path(URL_INCEPTION_V3).name).is_file()


def _logging_flags(g: argparse._ArgumentGroup) -> None:
    """How often training shows and logs its progress (run options: a resumed run does not inherit them)."""
    g.add_argument("--display_freq", type=nonnegative_int, default=400, run=RUN_ALWAYS,
                   help="show training results every N images")
    g.add_argument("--print_freq", type=nonnegative_int, default=100, run=RUN_ALWAYS,
                   help="log losses every N images")
    g.add_argument("--logger", type=logger_names, default="html,visdom", run=RUN_ALWAYS, metavar="NAME[,NAME...]",
                   help=f"where training shows its losses and samples besides loss_log.txt, a comma list of: "
                        f"{describe(LOGGERS)}")
    add_options(g, LOGGERS)


def _checkpoint_flags(g: argparse._ArgumentGroup) -> None:
    """When to save, what to resume from, which data to train on."""
    g.add_argument("--save_latest_freq", type=nonnegative_int, default=5000, run=RUN_ALWAYS,
                   help="save 'latest' every N images")
    g.add_argument("--save_epoch_freq", type=positive_int, default=5, run=RUN_ALWAYS,
                   help="keep a checkpoint every N epochs")
    g.add_argument("--save_by_iter", action="store_true", run=RUN_ALWAYS,
                   help="also keep the mid-epoch saves, as iter_<N>")
    g.add_argument("--continue_train", action="store_true", run=RUN_ALWAYS,
                   help="resume from the checkpoint chosen by --epoch / --load_iter (default: latest)")
    g.add_argument("--overwrite", action="store_true", run=RUN_ALWAYS,
                   help="start from scratch in an experiment folder that holds another run, deleting that run's "
                        "checkpoints, logs and pages (without it, such a folder is refused)")
    g.add_argument("--epoch_count", resume=REFUSE, type=positive_int, default=1,
                   help="first epoch number when starting from scratch (a resumed run continues by itself)")
    g.add_argument("--phase", resume=APPLY, default="train", help="dataset subfolder: train, val, test, ...")
    g.add_argument("--cache_dataset", nargs="?", const="on", default="auto", choices=acceleration.SWITCHES,
                   run=RUN_ALWAYS, help="decode the training images once into memory (uint8; on the GPU when "
                   "training there) and crop, flip and normalise them with tensor operations; auto: on when they "
                   "fit in a quarter of the free memory, at most 4 GiB")
