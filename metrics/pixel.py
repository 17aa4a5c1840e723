"""Pixel metrics against the ground truth: L1, PSNR and SSIM per image pair (scikit-image), and their means."""
from __future__ import annotations

from typing import Any

import numpy as np

from util.errors import UserError

from .folders import ImageSets, load_uint8
from .report import summarise

SSIM_WINDOW = 11  # scikit-image's Gaussian window for sigma 1.5
PSNR_CAP = 100.0  # dB: identical images (MSE 0) would give infinity, which no mean or JSON file can hold


def pixel_scores(fake: np.ndarray, real: np.ndarray, names: list[str]) -> dict[str, float]:
    """The named metrics among L1 (pixel values in [0, 1]), PSNR (dB) and SSIM of two HxWx3 uint8 images."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    fake, real = fake.astype(np.float64) / 255, real.astype(np.float64) / 255
    scores = {}
    if "l1" in names:
        scores["l1"] = float(np.mean(np.abs(fake - real)))
    if "psnr" in names:
        psnr = np.inf if np.array_equal(fake, real) else peak_signal_noise_ratio(real, fake, data_range=1.0)
        scores["psnr"] = min(PSNR_CAP, float(psnr))
    if "ssim" in names:
        if min(real.shape[:2]) < SSIM_WINDOW:
            raise UserError(f"images of {real.shape[1]}x{real.shape[0]} pixels are smaller than SSIM's "
                            f"{SSIM_WINDOW}x{SSIM_WINDOW} window: score larger images, or leave out ssim")
        # Wang et al.'s SSIM: Gaussian window sigma 1.5, K1 0.01, K2 0.03, averaged over RGB
        scores["ssim"] = float(structural_similarity(real, fake, data_range=1.0, channel_axis=-1,
                                                     gaussian_weights=True, sigma=1.5, use_sample_covariance=False))
    return scores


def pixel_metrics(sets: ImageSets, names: list[str], settings: dict[str, Any]
                  ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, float]]]:
    """Mean and standard deviation over images of each pixel metric, and each image's values.

    With several samples per input, an input's value is the mean over its samples.
    """
    if not sets.pairs:
        raise UserError(f"{', '.join(names)} compare each generated image with its ground truth, but the generated "
                        f"and real folders do not hold the same file names: pass matching folders, or only "
                        f"fid/kid metrics")
    per_image = {}
    for image_id, real_file in sets.pairs.items():
        real = load_uint8(real_file).permute(1, 2, 0).numpy()
        scores = [pixel_scores(load_uint8(f).permute(1, 2, 0).numpy(), real, names) for f in sets.samples[image_id]]
        per_image[image_id] = {name: float(np.mean([s[name] for s in scores])) for name in names}
    return summarise(per_image, names, sets.n_samples), per_image
