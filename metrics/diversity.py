"""Diversity of a stochastic generator: how much the K samples of the same input differ from each other."""
from __future__ import annotations

import itertools
from typing import Any

import torch

from util.backbones import EfficientNetLite0Features, ImageNetNormalize
from util.errors import UserError

from .folders import ImageSets, load_uint8
from .report import summarise


def _unit(feature: torch.Tensor) -> torch.Tensor:
    return feature / (feature.norm(dim=1, keepdim=True) + 1e-10)


class Lite0Distance(torch.nn.Module):
    """LPIPS-style distance without learned weights, on EfficientNet-Lite0 features at five depths: each
    feature map normalised to unit length over channels, squared difference summed over channels, averaged
    over positions and depths. 0 for identical images."""

    def __init__(self):
        super().__init__()
        self.features = EfficientNetLite0Features().eval().requires_grad_(False)
        self.imagenet = ImageNetNormalize()

    @torch.no_grad()
    def pairwise(self, images: torch.Tensor) -> torch.Tensor:
        """Distances between all pairs of a Kx3xHxW batch in [0, 1], in itertools.combinations order."""
        maps = [_unit(f) for f in self.features(self.imagenet(images))]
        return torch.stack([torch.stack([(m[i] - m[j]).pow(2).sum(0).mean() for m in maps]).mean()
                            for i, j in itertools.combinations(range(len(images)), 2)])


def diversity_metrics(sets: ImageSets, names: list[str], settings: dict[str, Any]
                      ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, float]]]:
    """Mean pairwise distance between the samples of each input, averaged over inputs (higher: more diverse)."""
    k = sets.n_samples
    if k < 2:
        raise UserError(f"{', '.join(names)} need several samples per input: run test.py --n_samples K (K >= 2) "
                        f"with a stochastic model (--model stochastic, or --weight_noise STD)")
    device = settings.get("device", "cpu")
    lite0 = Lite0Distance().to(device) if "diversity_lite0" in names else None
    per_image = {}
    for image_id, files in sets.samples.items():
        images = torch.stack([load_uint8(f) for f in files]).to(device).float() / 255
        values = {}
        if "diversity_l1" in names:
            values["diversity_l1"] = torch.stack([(images[i] - images[j]).abs().mean() for i, j in
                                                  itertools.combinations(range(k), 2)]).mean().item()
        if lite0 is not None:
            values["diversity_lite0"] = lite0.pairwise(images).mean().item()
        per_image[image_id] = values
    return summarise(per_image, names, k), per_image
