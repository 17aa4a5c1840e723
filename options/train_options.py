"""Training options: schedule, optimiser, checkpoints, display."""
from __future__ import annotations

import argparse

from models import acceleration, networks
from models.networks import GAN_MODES
from models.schedules import LR_POLICIES
from util import distributed
from util.errors import UserError

from .base_options import BaseOptions
from .parser import RUN_ALWAYS
from .types import beta, nonnegative_float, nonnegative_int, port, positive_finite, positive_float, positive_int


class TrainOptions(BaseOptions):
    """Options of train.py."""

    is_train = True
    description = "Train a paired image-to-image translation model (pix2pix family)."
    def inherits_checkpoint(self, opt: argparse.Namespace) -> bool:
        """A resumed run (--continue_train) takes every option not given again from its checkpoint."""
        return opt.continue_train

    def inherited(self, opt: argparse.Namespace, saved: dict) -> None:
        # the schedule counts epochs from where the run first started, whatever --epoch_count says now
        opt.epoch_count = saved.get("epoch_count", opt.epoch_count)

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
        g.add_argument("--n_epochs", type=nonnegative_int, default=100, help="epochs at the initial learning rate")
        g.add_argument("--n_epochs_decay", type=nonnegative_int, default=100, help="epochs of linear decay to zero")
        g.add_argument("--beta1", type=beta, default=0.5, help="Adam momentum term, in [0, 1)")
        g.add_argument("--lr", type=positive_finite, default=0.0002, help="initial Adam learning rate")
        g.add_argument("--gan_mode", default="lsgan", choices=list(GAN_MODES),
                       help="adversarial loss: original (= vanilla) cross-entropy GAN, ls (= lsgan) least squares, "
                            "hinge, w (Wasserstein critic, unconstrained), wgangp (w plus a gradient penalty)")
        g.add_argument("--lambda_gp", type=nonnegative_float, default=None,
                       help="weight of the WGAN-GP gradient penalty on D (default: 10 with --gan_mode wgangp, else 0)")
        g.add_argument("--pool_size", type=nonnegative_int, default=50, help="history of generated images shown to D")
        g.add_argument("--lr_policy", default="linear", choices=LR_POLICIES, help="learning-rate schedule")
        g.add_argument("--lr_decay_iters", type=positive_int, default=50,
                       help="step policy: multiply by 0.1 every N epochs")
        return parser

    def complete(self, opt: argparse.Namespace) -> None:
        super().complete(opt)
        if opt.lambda_gp is None:
            opt.lambda_gp = 10.0 if opt.gan_mode == "wgangp" else 0.0

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
        if opt.dataset_mode == "single":
            raise UserError("--dataset_mode single has no target images to learn from: train with aligned A|B "
                            "pairs (single is for test.py)")
        if opt.sync_bn and opt.lambda_gp > 0 and networks.discriminator_uses_batch_norm(opt):
            raise UserError("--sync_bn with a gradient penalty (--lambda_gp, wgangp) cannot work: SyncBatchNorm has no "
                            "second derivative; use --norm instance, or leave out --sync_bn")
        if opt.sync_bn and not (distributed.world_from_env().distributed and opt.gpu_ids):
            raise UserError("--sync_bn needs several GPU processes (torchrun --nproc_per_node N train.py ... on "
                            "CUDA): leave it out on a CPU or a single process")


def _logging_flags(g: argparse._ArgumentGroup) -> None:
    """How often training shows and logs its progress (run options: a resumed run does not inherit them)."""
    g.add_argument("--display_freq", type=nonnegative_int, default=400, run=RUN_ALWAYS,
                   help="show training results every N images")
    g.add_argument("--display_ncols", type=positive_int, default=4, run=RUN_ALWAYS, help="images per row in visdom")
    g.add_argument("--display_id", type=int, default=1, run=RUN_ALWAYS,
                   help="visdom window id; 0 or less turns visdom off")
    g.add_argument("--display_server", default="http://localhost", run=RUN_ALWAYS, help="visdom server")
    g.add_argument("--display_env", default="main", run=RUN_ALWAYS, help="visdom environment")
    g.add_argument("--display_port", type=port, default=8097, run=RUN_ALWAYS, help="visdom port")
    g.add_argument("--update_html_freq", type=nonnegative_int, default=1000, run=RUN_ALWAYS,
                   help="save training results to HTML every N images")
    g.add_argument("--print_freq", type=nonnegative_int, default=100, run=RUN_ALWAYS,
                   help="log losses every N images")
    g.add_argument("--no_html", action="store_true", run=RUN_ALWAYS, help="do not write <checkpoints_dir>/<name>/web/")


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
    g.add_argument("--epoch_count", type=positive_int, default=1, run=RUN_ALWAYS,
                   help="first epoch number when starting from scratch (a resumed run continues by itself)")
    g.add_argument("--phase", default="train", help="dataset subfolder: train, val, test, ...")
    g.add_argument("--cache_dataset", nargs="?", const="on", default="auto", choices=acceleration.SWITCHES,
                   run=RUN_ALWAYS, help="decode the training images once into memory (uint8; on the GPU when "
                   "training there) and crop, flip and normalise them with tensor operations; auto: on when they "
                   "fit in a quarter of the free memory, at most 4 GiB")
