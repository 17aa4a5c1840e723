"""Model registry: --model NAME -> class. The original DLIM project's variants are presets of Pix2PixModel;
template_model.py shows where a new model starts."""
from __future__ import annotations

import argparse

from .adversarial_losses_model import AdversarialLossesModel
from .base_model import BaseModel
from .oasis_model import OASISModel
from .perceptual_model import PerceptualModel
from .pix2pix_model import Pix2PixModel
from .pix2pix_plus_model import Pix2PixPlusModel
from .pix2pix_projected_model import Pix2PixProjectedModel
from .spade_model import SPADEModel
from .stochastic_model import StochasticModel
from .template_model import TemplateModel

MODELS: dict[str, type[BaseModel]] = {
    "pix2pix": Pix2PixModel,
    "pix2pix_plus": Pix2PixPlusModel,
    "pix2pix_projected": Pix2PixProjectedModel,
    "perceptual": PerceptualModel,
    "adversarial_losses": AdversarialLossesModel,
    "spade": SPADEModel,
    "oasis": OASISModel,
    "stochastic": StochasticModel,
    "template": TemplateModel,
}


def find_model(name: str) -> type[BaseModel]:
    """The model class registered under `name`."""
    return MODELS[name]


def create_model(opt: argparse.Namespace) -> BaseModel:
    """Instantiate the model named by opt.model."""
    model = find_model(opt.model)(opt)
    print(f"model [{type(model).__name__}] was created")
    return model


__all__ = ["MODELS", "AdversarialLossesModel", "BaseModel", "OASISModel", "PerceptualModel", "Pix2PixModel",
           "Pix2PixPlusModel", "Pix2PixProjectedModel", "SPADEModel", "StochasticModel", "TemplateModel",
           "create_model", "find_model"]
