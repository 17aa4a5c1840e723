"""Dataset registry (feeding --dataset_mode choices) and the data loader used by train.py and test.py."""
from __future__ import annotations

import argparse
import signal
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Sampler, default_collate

from util.errors import UserError
from util.util import run_device

from .aligned_dataset import AlignedDataset
from .base_dataset import BaseDataset
from .image_cache import ImageCache, should_cache
from .single_dataset import SingleDataset
from .transforms import PREPROCESS_MODES

DATASETS: dict[str, type[BaseDataset]] = {"aligned": AlignedDataset, "single": SingleDataset}


def find_dataset(name: str) -> type[BaseDataset]:
    """The dataset class registered under `name`."""
    return DATASETS[name]


class EpochSampler(Sampler):
    """Yields (epoch, index): a permutation fixed by (seed, epoch), optionally starting part-way in.

    Under torchrun it is also a DistributedSampler: every process draws the same permutation and takes every
    `world`-th index from its `rank` on, padded by wrapping around so that all processes take as many steps.
    """

    def __init__(self, n: int, shuffle: bool, seed: int, rank: int = 0, world: int = 1):
        self.n, self.shuffle, self.seed, self.rank, self.world = n, shuffle, seed, rank, world
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch's order and skip its first `start` samples (used when resuming)."""
        self.epoch, self.start = epoch, start

    def order(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.n))
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return torch.randperm(self.n, generator=g).tolist()

    def indices(self) -> list[int]:
        """This process's indices for the rest of the epoch."""
        rest = self.order()[self.start:]
        if self.world > 1 and rest:
            rest += (rest * self.world)[: -len(rest) % self.world]
            rest = rest[self.rank::self.world]
        return rest

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(self.epoch, i) for i in self.indices()])

    def __len__(self) -> int:
        return max(0, -(-(self.n - self.start) // self.world))


class DataPipeline:
    """A dataset with its sampler and loader; iterate for batches, `set_epoch` before each epoch."""

    def __init__(self, opt: argparse.Namespace, rank: int = 0, world: int = 1):
        self.dataset = find_dataset(opt.dataset_mode)(opt)
        self.batch_size = opt.batch_size
        shuffle = opt.is_train and not opt.serial_batches
        self.sampler = EpochSampler(len(self.dataset), shuffle, opt.seed, rank, world)
        self.cache: ImageCache | None = None
        device = run_device(opt.gpu_ids)
        if opt.is_train and should_cache(getattr(opt, "cache_dataset", "off"), self.dataset, device):
            self.cache = ImageCache(self.dataset, device, verbose=rank == 0)
            return
        # the loader gets its own generator: creating an iterator must not draw from the global RNG (exact resume)
        self.loader = DataLoader(self.dataset, batch_size=opt.batch_size, sampler=self.sampler,
                                 num_workers=opt.num_threads, pin_memory=bool(opt.gpu_ids), drop_last=False,
                                 collate_fn=collate, worker_init_fn=_ignore_sigint,
                                 generator=torch.Generator().manual_seed(opt.seed))

    def set_epoch(self, epoch: int, samples_done: int = 0) -> None:
        """Select the epoch's order, skipping the samples a resumed run has already trained on."""
        self.sampler.set_epoch(epoch, samples_done)

    def __len__(self) -> int:
        return len(self.dataset)

    def first_batches(self, n: int) -> Iterator[dict]:
        """The first n samples (as epoch 0 augments them) in batches: the same ones in every process and every
        call, read without touching the sampler or the random streams."""
        n = min(n, len(self.dataset))
        for start in range(0, n, self.batch_size):
            yield collate([self.dataset[(0, i)] for i in range(start, min(start + self.batch_size, n))])

    def __iter__(self):
        if self.cache is not None:
            return self.cache.batches(iter(self.sampler), self.batch_size)
        return iter(self.loader)


def collate(samples: list[dict]) -> dict:
    """Stack samples into a batch; images of different sizes get a message instead of a stack error."""
    shapes = {tuple(s["A"].shape) for s in samples}
    if len(shapes) > 1:
        paths = ", ".join(f"{s['A_paths']} {tuple(s['A'].shape[1:])}" for s in samples[:2])
        raise UserError(f"images of different sizes in one batch ({paths}): use --batch_size 1, or a --preprocess "
                        f"that crops every image to --crop_size")
    return default_collate(samples)


def _ignore_sigint(worker_id: int) -> None:
    """Ctrl-C is for the main process, which saves a checkpoint; workers must not die first."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def create_dataset(opt: argparse.Namespace, rank: int = 0, world: int = 1) -> DataPipeline:
    """Build the dataset named by opt.dataset_mode and its loader (this process's share under torchrun)."""
    return DataPipeline(opt, rank, world)


__all__ = ["DATASETS", "PREPROCESS_MODES", "BaseDataset", "DataPipeline", "EpochSampler", "create_dataset",
           "find_dataset"]
