"""Autoencoders: a fully connected one and a convolutional one.

An autoencoder learns an encoder :math:`f_\\phi: x \\mapsto z` and a decoder
:math:`g_\\theta: z \\mapsto \\hat x` with a small code :math:`z \\in \\mathbb{R}^d`
and minimises the reconstruction loss. Pixels are in ``[0, 1]`` and treated as
Bernoulli probabilities, so the decoder returns **logits** :math:`\\ell` and the
loss is binary cross-entropy with logits

.. math::

    \\mathcal{L}(x) = -\\sum_i \\big[x_i \\log \\sigma(\\ell_i) + (1 - x_i) \\log(1 - \\sigma(\\ell_i))\\big],
    \\qquad \\ell = g_\\theta(f_\\phi(x)).

``reconstruct(x)`` applies the sigmoid and returns images in ``[0, 1]``.

Image sizes: the conv encoder halves the size twice with ``Conv2d(kernel=4,
stride=2, padding=1)``, which maps ``H -> H / 2`` exactly for every even ``H``;
the decoder doubles it twice with ``ConvTranspose2d(kernel=4, stride=2,
padding=1)`` (``h -> 2h`` exactly). So 16 -> 8 -> 4, 28 -> 14 -> 7 and
32 -> 16 -> 8 all round-trip without cropping or padding: any ``image_size``
divisible by 4 works.

Developed in course/01_autoencoders (lab 01). The conv encoder and decoder are
reused by the conv VAE (``genlab.models.vae``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ShapeError, check_image
from .config import ImageConfig

__all__ = ["AEConfig", "ConvAutoencoder", "ConvDecoder", "ConvEncoder", "MLPAutoencoder"]


def check_size_multiple(image_size: int, multiple: int, what: str) -> None:
    """Raise ``ShapeError`` unless ``image_size`` is a positive multiple of ``multiple``."""
    if not isinstance(image_size, int) or image_size <= 0 or image_size % multiple:
        raise ShapeError(
            f"{what} needs image_size divisible by {multiple} (it halves the image "
            f"{multiple.bit_length() - 1} time(s)), got {image_size!r}. Use 16, 28 or 32, "
            "or resize the data with genlab.data.load(..., size=...).")


@dataclass
class AEConfig(ImageConfig):
    """Sizes of the autoencoders.

    Attributes:
        image_size: height = width of the images (divisible by 4 for the conv models).
        channels: 1 for grey digits, 3 for colour.
        latent_dim: size ``d`` of the code ``z``.
        hidden: width of the hidden layer of the MLP autoencoder.
        width: channels of the first conv layer (the second has ``2 * width``).
    """

    latent_dim: int = 16
    hidden: int = 256
    width: int = 32


class MLPAutoencoder(nn.Module):
    """Fully connected autoencoder ``D -> hidden -> d -> hidden -> D`` (``D = C*H*W``).

    Shapes: ``encode`` ``(B, C, H, W) -> (B, d)``; ``decode`` ``(B, d) -> (B, C, H, W)``
    logits; ``forward(x)`` returns the logits of the reconstruction.
    """

    def __init__(self, cfg: AEConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or AEConfig()
        self.latent_dim = cfg.latent_dim
        d = cfg.n_pixels
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(d, cfg.hidden), nn.ReLU(),
                                     nn.Linear(cfg.hidden, cfg.latent_dim))
        self.decoder = nn.Sequential(nn.Linear(cfg.latent_dim, cfg.hidden), nn.ReLU(),
                                     nn.Linear(cfg.hidden, d))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> codes ``(B, latent_dim)``."""
        cfg = self.config
        check_image(x, "x", channels=cfg.channels, size=cfg.image_size, value_range=False)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes ``(B, latent_dim)`` -> logits ``(B, C, H, W)``."""
        cfg = self.config
        # (B, C*H*W) -> (B, C, H, W): the same order nn.Flatten used, so pixels land back in place
        return self.decoder(z).view(-1, cfg.channels, cfg.image_size, cfg.image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits ``(B, C, H, W)`` (apply ``sigmoid`` for images)."""
        return self.decode(self.encode(x))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstructed images in ``[0, 1]``, shape ``(B, C, H, W)``."""
        return torch.sigmoid(self(x))


def _conv_sizes(module: nn.Module, cfg: AEConfig | None) -> tuple[AEConfig, int, int]:
    """Store the config on ``module``; return it, the width and the side after two halvings."""
    module.config = cfg = cfg or AEConfig()
    check_size_multiple(cfg.image_size, 4, type(module).__name__)
    return cfg, cfg.width, cfg.image_size // 4


class ConvEncoder(nn.Module):
    """Two stride-2 convs and a linear layer: ``(B, C, H, W) -> (B, latent_dim)``.

    ``(B, C, H, W) -> (B, w, H/2, W/2) -> (B, 2w, H/4, W/4) -> (B, 2w*H/4*W/4) -> (B, d)``.
    """

    def __init__(self, cfg: AEConfig | None = None) -> None:
        super().__init__()
        cfg, w, s = _conv_sizes(self, cfg)
        self.net = nn.Sequential(
            nn.Conv2d(cfg.channels, w, 4, stride=2, padding=1), nn.ReLU(),   # H -> H/2
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.ReLU(),          # H/2 -> H/4
            nn.Flatten(),                                                     # (B, 2w*s*s)
            nn.Linear(2 * w * s * s, cfg.latent_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> ``(B, latent_dim)``."""
        cfg = self.config
        check_image(x, "x", channels=cfg.channels, size=cfg.image_size, value_range=False)
        return self.net(x)


class ConvDecoder(nn.Module):
    """Mirror of :class:`ConvEncoder`: ``(B, latent_dim) -> (B, C, H, W)`` **logits**.

    ``(B, d) -> (B, 2w, H/4, W/4) -> (B, w, H/2, W/2) -> (B, C, H, W)`` with
    ``ConvTranspose2d(kernel=4, stride=2, padding=1)`` doubling the size each time.
    """

    def __init__(self, cfg: AEConfig | None = None) -> None:
        super().__init__()
        cfg, w, s = _conv_sizes(self, cfg)
        self.net = nn.Sequential(
            nn.Linear(cfg.latent_dim, 2 * w * s * s), nn.ReLU(),
            nn.Unflatten(1, (2 * w, s, s)),                                        # (B, 2w, s, s)
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.ReLU(),       # s -> 2s
            nn.ConvTranspose2d(w, cfg.channels, 4, stride=2, padding=1),           # 2s -> 4s = H
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Codes ``(B, latent_dim)`` -> logits ``(B, C, H, W)``."""
        if z.dim() != 2 or z.shape[1] != self.config.latent_dim:
            raise ShapeError(f"z must have shape (B, {self.config.latent_dim}), got {tuple(z.shape)}.")
        return self.net(z)


class ConvAutoencoder(nn.Module):
    """:class:`ConvEncoder` followed by :class:`ConvDecoder`.

    ``forward(x)`` returns reconstruction logits ``(B, C, H, W)``;
    ``reconstruct(x)`` returns ``sigmoid`` of them, images in ``[0, 1]``.
    """

    def __init__(self, cfg: AEConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or AEConfig()
        self.latent_dim = cfg.latent_dim
        self.encoder = ConvEncoder(cfg)
        self.decoder = ConvDecoder(cfg)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> codes ``(B, latent_dim)``."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes ``(B, latent_dim)`` -> logits ``(B, C, H, W)``."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits ``(B, C, H, W)``."""
        return self.decode(self.encode(x))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstructed images in ``[0, 1]``, shape ``(B, C, H, W)``."""
        return torch.sigmoid(self(x))
