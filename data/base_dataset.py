"""Base class of datasets: per-sample random streams so augmentation is reproducible and resumable."""
from __future__ import annotations

import argparse
import random

import torch
from PIL import Image
from torch.utils.data import Dataset

from util.labels import LabelCoder

from .transforms import Params, input_tensor


class BaseDataset(Dataset):
    """A dataset indexed by `index` or `(epoch, index)`; the pair seeds that sample's augmentation."""

    def __init__(self, opt: argparse.Namespace):
        self.opt = opt
        self.labels = LabelCoder(opt) if getattr(opt, "label_nc", 0) else None  # --label_nc: inputs are classes

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """Add dataset-specific options or change defaults."""
        return parser

    def sample_rng(self, key: int | tuple[int, int]) -> tuple[int, random.Random]:
        """Split a key into the sample index and a random stream fixed by (seed, epoch, index)."""
        epoch, index = key if isinstance(key, tuple) else (0, key)
        return index, random.Random(f"{self.opt.seed}-{epoch}-{index}")

    def input_tensor(self, img: Image.Image, path: str, params: Params) -> torch.Tensor:
        """The network input of an input-side image: its one-hot classes with --label_nc, else its pixels."""
        return input_tensor(img, path, params, self.opt, self.labels)
