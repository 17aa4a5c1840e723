"""--cache_dataset: the training pairs decoded once into memory as uint8 (on the training device), and batches made
from them with tensor operations, instead of decoding every file again in every epoch.

An image that preprocessing shrinks (--load_size below the file's size) is kept shrunk, by PIL as the plain loader
does; one that it enlarges is kept at its own size and enlarged per batch. Each sample draws the same crop and
flip as the plain loader, from the same (seed, epoch, index) stream, so both see the same crops in the same order
and a resumed run continues exactly.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator

import torch
import torchvision.transforms.v2.functional as TF2
from PIL import Image

from util.errors import UserError, warn

from .aligned_dataset import AlignedDataset
from .transforms import apply_to_tensor, get_params, scaled_size

MiB = 2**20
MAX_AUTO_BYTES = 4 * 2**30  # auto caches at most this much per process


def decoded_bytes(dataset: AlignedDataset) -> int:
    """Memory the decoded A and B images take as uint8."""
    input_channels = 1 if dataset.labels is not None else dataset.opt.input_nc  # class ids: one byte a pixel
    channels, total = input_channels + dataset.opt.output_nc, 0
    for w, h in dataset.sizes:
        scaled_w, scaled_h = scaled_size(dataset.opt, w // 2, h)
        total += min((w // 2) * h, scaled_w * scaled_h) * channels
    return total


def free_memory(device: torch.device) -> int:
    """Bytes free for a cache on the device: free GPU memory, or the host's available memory (per local process)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    available = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except OSError:
        pass
    if not available and hasattr(os, "sysconf"):
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            available = 0
    return available // int(os.environ.get("LOCAL_WORLD_SIZE", 1))


def should_cache(setting: str, dataset, device: torch.device) -> bool:
    """Decide --cache_dataset auto/on/off for this dataset and device."""
    if setting == "off":
        return False
    if not isinstance(dataset, AlignedDataset):
        if setting == "on":
            warn(f"--cache_dataset: only aligned A|B datasets are cached, not --dataset_mode "
                 f"{dataset.opt.dataset_mode}")
        return False
    if setting == "on":
        return True
    return decoded_bytes(dataset) <= min(MAX_AUTO_BYTES, free_memory(device) // 4)


class ImageCache:
    """Decoded A and B images of an aligned dataset, as uint8 tensors on `device`."""

    def __init__(self, dataset: AlignedDataset, device: torch.device, verbose: bool = True):
        start = time.perf_counter()
        self.dataset, self.opt, self.device = dataset, dataset.opt, device
        self.paths = dataset.AB_paths
        self.A: list[torch.Tensor] = []
        self.B: list[torch.Tensor] = []
        self.sizes: list[tuple[int, int]] = []  # (width, height) of each A as decoded, before any resizing
        try:
            for index in range(len(dataset)):
                src, dst = dataset.load_pair(index)
                self.sizes.append(src.size)
                size = scaled_size(self.opt, *src.size)
                shrink = size[0] * size[1] < src.width * src.height
                self.A.append(self._input(index, src, size, shrink).to(device))
                self.B.append(self._pixels(dst, self.opt.output_nc, size if shrink else None).to(device))
        except torch.cuda.OutOfMemoryError:
            raise UserError(f"--cache_dataset on: the images of {dataset.dir_AB} do not fit in GPU memory; "
                            f"pass --cache_dataset off") from None
        self.nbytes = sum(t.numel() for t in self.A + self.B)
        if verbose:
            print(f"cached {len(self.A)} training pairs in {'GPU' if device.type == 'cuda' else 'host'} memory: "
                  f"{self.nbytes / MiB:,.0f} MiB, {time.perf_counter() - start:.1f} s", flush=True)

    def _input(self, index: int, img: Image.Image, size: tuple[int, int], shrink: bool) -> torch.Tensor:
        """The input side as the cache keeps it: its pixels, or with --label_nc its class ids (1xHxW uint8), resized
        by PIL's nearest neighbour at once, as the plain loader does (one byte a pixel: enlarged ids are cheap)."""
        labels = self.dataset.labels
        if labels is None:
            return self._pixels(img, self.opt.input_nc, size if shrink else None)
        ids = Image.fromarray(labels.class_ids(img, self.paths[index])[0])
        return TF2.pil_to_tensor(ids if ids.size == size else ids.resize(size, Image.NEAREST))

    @staticmethod
    def _pixels(img: Image.Image, channels: int, size: tuple[int, int] | None) -> torch.Tensor:
        """The image with `channels` channels, shrunk to `size` if given, in the loader's order: gray first."""
        if channels == 1:
            img = img.convert("L")
        if size is not None:
            img = img.resize(size, Image.BICUBIC)
        return TF2.pil_to_tensor(img)

    def batch(self, keys: list[tuple[int, int]]) -> dict:
        """The batch of samples (epoch, index): the same pixels, crops and flips as the plain loader's."""
        params, A, B = [], [], []
        for epoch, index in keys:
            _, rng = self.dataset.sample_rng((epoch, index))
            params.append(get_params(self.opt, self.sizes[index], rng))
            A.append(self.A[index])
            B.append(self.B[index])
        ids = self.dataset.labels is not None
        shapes = {(tuple(a.shape), tuple(b.shape), p.size) for a, b, p in zip(A, B, params)}
        if len(shapes) == 1:
            A_out = apply_to_tensor(torch.stack(A), params, self.opt, ids)
            B_out = apply_to_tensor(torch.stack(B), params, self.opt)
        else:  # images of different sizes: one at a time, then the loader's check for one output size
            A_out = [apply_to_tensor(a[None], [p], self.opt, ids)[0] for a, p in zip(A, params)]
            B_out = [apply_to_tensor(b[None], [p], self.opt)[0] for b, p in zip(B, params)]
            if len({t.shape for t in A_out}) > 1:
                named = ", ".join(f"{self.paths[i]} {tuple(t.shape[1:])}" for (_, i), t in zip(keys[:2], A_out))
                raise UserError(f"images of different sizes in one batch ({named}): use --batch_size 1, or a "
                                f"--preprocess that crops every image to --crop_size")
            A_out, B_out = torch.stack(A_out), torch.stack(B_out)
        if ids:
            A_out = self.dataset.labels.one_hot(A_out[:, 0])
        paths, ids = [self.paths[i] for _, i in keys], [self.dataset.ids[i] for _, i in keys]
        return {"A": A_out, "B": B_out, "A_paths": paths, "B_paths": paths, "id": ids}

    def batches(self, keys: Iterator[tuple[int, int]], batch_size: int) -> Iterator[dict]:
        """Batches of batch_size samples (the last one may be smaller), in the order of keys."""
        keys = list(keys)
        for start in range(0, len(keys), batch_size):
            yield self.batch(keys[start:start + batch_size])
