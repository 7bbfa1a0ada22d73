"""Reference models of the course, one file per family, and a registry for the CLI.

``build("dcgan", image_size=28)`` returns a ready model; ``MODELS`` maps each
registry name to ``(model class, config class)``: every network of genlab is here (the
diffusion U-Net and its noise schedule, the pix2pix pair and the 2-D toy GAN included);
``genlab.train.FAMILY_TASKS`` gives each its training task. GANs come as one
:class:`~genlab.models.gan.GANPair` module holding ``.generator`` and
``.discriminator`` so a single checkpoint stores both.
"""

from __future__ import annotations

import dataclasses

from torch import nn

from ..errors import GenlabError
from .autoencoder import AEConfig, ConvAutoencoder, ConvDecoder, ConvEncoder, MLPAutoencoder
from .classifier import ClassifierConfig, DigitsClassifier
from .crnn import (
    CRNNConfig,
    CRNNRepairer,
    cols_to_sequences,
    rows_to_sequences,
    sequences_to_cols,
    sequences_to_rows,
)
from .diffusion import (
    DDPM,
    DiffusionConfig,
    NoiseSchedule,
    TimeUNet,
    beta_schedule,
    timestep_embedding,
)
from .fill_repair import FillRepairConfig, FillResidualRepairer
from .gan import (
    DCGAN,
    MLPGAN,
    CGANConfig,
    DCGANDiscriminator,
    DCGANGenerator,
    GANConfig,
    GANPair,
    MLPDiscriminator,
    MLPGenerator,
)
from .repair import ConvRepairer, MLPRepairer, RepairConfig
from .toy import ToyDiscriminator, ToyGAN, ToyGANConfig, ToyGenerator
from .unet import PatchDiscriminator, Pix2Pix, UNet, UNetConfig
from .vae import MLPVAE, ConvVAE, VAEConfig, reparameterize

__all__ = [
    "AEConfig", "CGANConfig", "CRNNConfig", "CRNNRepairer", "ClassifierConfig", "ConvAutoencoder",
    "ConvDecoder", "ConvEncoder", "ConvRepairer", "ConvVAE", "DCGAN", "DCGANDiscriminator",
    "DCGANGenerator", "DDPM", "DiffusionConfig", "DigitsClassifier", "FillRepairConfig", "FillResidualRepairer", "GANConfig", "GANPair",
    "MLPAutoencoder", "MLPDiscriminator", "MLPGAN", "MLPGenerator", "MLPRepairer", "MLPVAE", "MODELS",
    "ModelConfigError", "NoiseSchedule", "PatchDiscriminator", "Pix2Pix", "RepairConfig", "TimeUNet",
    "ToyDiscriminator", "ToyGAN", "ToyGANConfig", "ToyGenerator", "UNet", "UNetConfig", "VAEConfig",
    "beta_schedule", "build", "cols_to_sequences", "count_parameters", "reparameterize",
    "rows_to_sequences", "sequences_to_cols", "sequences_to_rows", "timestep_embedding",
]


class ModelConfigError(GenlabError, ValueError):
    """An unknown model name or config field was given to :func:`build`."""


#: CLI name -> (model class, config class). ``build(name, **fields)`` = ``cls(config(**fields))``.
MODELS: dict[str, tuple[type[nn.Module], type]] = {
    "ae": (MLPAutoencoder, AEConfig),
    "conv_ae": (ConvAutoencoder, AEConfig),
    "vae": (ConvVAE, VAEConfig),
    "conv_vae": (ConvVAE, VAEConfig),
    "mlp_vae": (MLPVAE, VAEConfig),
    "gan": (MLPGAN, GANConfig),
    "dcgan": (DCGAN, GANConfig),
    "cgan": (DCGAN, CGANConfig),
    "mlp_repair": (MLPRepairer, RepairConfig),
    "conv_repair": (ConvRepairer, RepairConfig),
    "crnn": (CRNNRepairer, CRNNConfig),
    "fill_repair": (FillResidualRepairer, FillRepairConfig),
    "classifier": (DigitsClassifier, ClassifierConfig),
    "unet": (UNet, UNetConfig),
    "ddpm": (DDPM, DiffusionConfig),
    "pix2pix": (Pix2Pix, UNetConfig),
    "toy_gan": (ToyGAN, ToyGANConfig),
}


def build(name: str, **config: object) -> nn.Module:
    """Build the model registered as ``name`` with its config's fields overridden by ``config``.

    Args:
        name: a key of :data:`MODELS`, e.g. ``"conv_repair"``.
        **config: fields of that model's config dataclass, e.g. ``image_size=28``.

    Returns:
        The model (a :class:`GANPair` for ``gan``, ``dcgan`` and ``cgan``), with
        its config at ``model.config``.

    Raises:
        ModelConfigError: unknown name (lists the valid ones) or unknown field
            (names it and lists the fields).
    """
    if name not in MODELS:
        raise ModelConfigError(f"unknown model {name!r}; valid names: {', '.join(sorted(MODELS))}.")
    cls, cfg_cls = MODELS[name]
    fields = [f.name for f in dataclasses.fields(cfg_cls)]
    unknown = [k for k in config if k not in fields]
    if unknown:
        raise ModelConfigError(f"{cfg_cls.__name__} (model {name!r}) has no field(s) "
                               f"{', '.join(map(repr, unknown))}; its fields are: {', '.join(fields)}.")
    model = cls(cfg_cls(**config))
    model.registry_name = name  # lets checkpoints and resume_latest rebuild it from the registry
    return model


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``module`` (only those with ``requires_grad`` if ``trainable_only``)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
