"""Pixel metrics against the ground truth: L1, PSNR and SSIM per image pair (torchmetrics), and their means."""
from __future__ import annotations

from typing import Any

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from util.errors import UserError

from .folders import ImageSets, load_uint8
from .report import summarise

PSNR_CAP = 100.0  # dB: identical images (MSE 0) would give infinity, which no mean or JSON file can hold


def _scores(fake: torch.Tensor, real: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image L1, PSNR (dB) and SSIM of Kx3xHxW fakes against one 1x3xHxW real, pixel values in [0, 1]."""
    real = real.expand_as(fake)
    return {
        "l1": (fake - real).abs().mean(dim=(1, 2, 3)),
        "psnr": peak_signal_noise_ratio(fake, real, data_range=1.0, reduction="none", dim=(1, 2, 3)).clamp(
            max=PSNR_CAP),
        # Wang et al.'s SSIM: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, over RGB
        "ssim": structural_similarity_index_measure(fake, real, data_range=1.0, reduction="none"),
    }


def pixel_metrics(sets: ImageSets, names: list[str], settings: dict[str, Any]
                  ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, float]]]:
    """Mean and standard deviation over images of each pixel metric, and each image's values.

    With several samples per input, an input's value is the mean over its samples.
    """
    if not sets.pairs:
        raise UserError(f"{', '.join(names)} compare each generated image with its ground truth, but --fake and "
                        f"--real do not hold the same file names: pass matching folders, or only fid/kid metrics")
    device = settings.get("device", "cpu")
    per_image = {}
    for image_id, real_file in sets.pairs.items():
        real = load_uint8(real_file).unsqueeze(0).to(device, torch.float64) / 255  # float64: SSIM(x, x) is 1
        fake = torch.stack([load_uint8(f) for f in sets.samples[image_id]]).to(device, torch.float64) / 255
        scores = _scores(fake, real)
        per_image[image_id] = {name: scores[name].mean().item() for name in names}
    return summarise(per_image, names, sets.n_samples), per_image
