"""A history of generated images (Shrivastava et al.): D sometimes sees older fakes, which steadies training."""
from __future__ import annotations

import random

import torch


class ImagePool:
    """Returns the given fakes, each swapped with probability 1/2 for one stored earlier; size 0 disables it."""

    def __init__(self, pool_size: int):
        self.pool_size = pool_size
        self.images: list[torch.Tensor] = []

    def load(self, images: list[torch.Tensor]) -> None:
        """Take the images a checkpoint saved (at most pool_size of them: a resumed run may have a smaller pool)."""
        self.images = list(images[: self.pool_size])

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.pool_size == 0:
            return images
        if self.images and self.images[0].shape[1:] != images.shape[1:]:
            self.images = []  # fakes of another size (a resumed run with another --crop_size): they cannot be mixed
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
            elif random.random() > 0.5:
                i = random.randrange(self.pool_size)
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out, 0)
