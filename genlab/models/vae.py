"""Variational autoencoders (Kingma & Welling, 2014).

Generative model: :math:`p(z) = \\mathcal{N}(0, I)`, :math:`p_\\theta(x \\mid z) =
\\mathrm{Bernoulli}(\\sigma(g_\\theta(z)))`. Inference model (encoder):
:math:`q_\\phi(z \\mid x) = \\mathcal{N}(\\mu_\\phi(x), \\mathrm{diag}(\\sigma^2_\\phi(x)))`,
parameterised by :math:`(\\mu, \\log \\sigma^2)` = ``(mu, logvar)`` so the variance
is positive without constraints. Training maximises the ELBO

.. math::

    \\log p_\\theta(x) \\ge \\mathbb{E}_{q_\\phi(z\\mid x)}[\\log p_\\theta(x \\mid z)]
    - \\mathrm{KL}(q_\\phi(z \\mid x) \\,\\|\\, p(z))

(see ``genlab.losses.elbo_loss``). The expectation is estimated with one sample
drawn by the reparameterisation trick, :func:`reparameterize`, so gradients
flow to ``mu`` and ``logvar``.

Developed in course/02_vae (lab 02).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ShapeError, check_image
from .autoencoder import AEConfig, ConvDecoder, ConvEncoder
from .config import ImageConfig

__all__ = ["ConvVAE", "MLPVAE", "VAEConfig", "reparameterize", "standard_normal"]


def standard_normal(shape: tuple[int, ...], *, generator: torch.Generator | None = None,
                    device: torch.device | str | None = None,
                    dtype: torch.dtype | None = None) -> torch.Tensor:
    """Draw ``N(0, I)`` noise of ``shape`` on ``device``, reproducibly through ``generator``.

    A generator lives on one device; the noise is drawn there and then moved,
    so a CPU generator gives the same numbers whether the model is on the CPU
    or a GPU.
    """
    if generator is None:
        return torch.randn(shape, device=device, dtype=dtype)
    eps = torch.randn(shape, generator=generator, device=generator.device, dtype=dtype)
    return eps.to(device) if device is not None else eps


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample :math:`z \\sim \\mathcal{N}(\\mu, \\mathrm{diag}(e^{\\log\\sigma^2}))` differentiably.

    .. math::

        z = \\mu + \\sigma \\odot \\varepsilon, \\quad \\sigma = \\exp(\\tfrac12 \\log\\sigma^2),
        \\quad \\varepsilon \\sim \\mathcal{N}(0, I).

    The randomness is in :math:`\\varepsilon`, which does not depend on the
    parameters, so :math:`\\partial z / \\partial \\mu = 1` and
    :math:`\\partial z / \\partial \\log\\sigma^2 = \\tfrac12 \\sigma \\varepsilon`.

    Args:
        mu: means, shape ``(B, d)`` (any shape works).
        logvar: log-variances, same shape as ``mu``.
        generator: optional ``torch.Generator`` for ``eps`` (drawn with
            ``torch.randn(mu.shape, generator=generator)`` on the generator's
            device, then moved to ``mu``'s device and dtype).

    Returns:
        ``z`` with the shape, device and dtype of ``mu``.

    Developed in course/02_vae (lab 02).
    """
    if not isinstance(mu, torch.Tensor) or not isinstance(logvar, torch.Tensor):
        raise ShapeError("mu and logvar must be tensors of the same shape (B, latent_dim), got "
                         f"{type(mu).__name__} and {type(logvar).__name__}.")
    if mu.shape != logvar.shape:
        raise ShapeError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must have the same "
                         "shape: the encoder returns one mean and one log-variance per latent unit.")
    eps = standard_normal(tuple(mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


@dataclass
class VAEConfig(ImageConfig):
    """Sizes of the VAEs.

    Attributes:
        image_size: height = width (divisible by 4 for the conv VAE).
        channels: 1 (grey) or 3 (colour).
        latent_dim: size of ``z`` (20 as in Kingma & Welling's MNIST model).
        hidden: width of the MLP's hidden layer (400, the classic 784-400-20 shape).
        width: channels of the conv VAE's first layer.
    """

    latent_dim: int = 20
    hidden: int = 400
    width: int = 32


class _VAEBase(nn.Module):
    """What both VAEs share: forward = encode, reparameterise, decode; and sampling."""

    config: VAEConfig
    latent_dim: int

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One pass through the VAE.

        Args:
            x: images ``(B, C, H, W)`` in ``[0, 1]``.
            generator: optional generator for the reparameterisation noise.

        Returns:
            ``(x_logits, mu, logvar)``: ``(B, C, H, W)``, ``(B, d)``, ``(B, d)``.
        """
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar, generator)
        return self.decode(z), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` images from the model: :math:`z \\sim \\mathcal{N}(0, I)`, :math:`x = \\sigma(g(z))`.

        Returns:
            Images ``(n, C, H, W)`` in ``[0, 1]`` on the model's device.
        """
        p = next(self.parameters())
        z = standard_normal((n, self.latent_dim), generator=generator, device=p.device, dtype=p.dtype)
        return torch.sigmoid(self.decode(z))


class MLPVAE(_VAEBase):
    """Fully connected VAE: ``D -> hidden -> (mu, logvar)``, ``d -> hidden -> D`` logits.

    With 28x28 digits and the defaults this is Kingma & Welling's 784-400-20 model.
    """

    def __init__(self, cfg: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or VAEConfig()
        self.latent_dim = cfg.latent_dim
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(cfg.n_pixels, cfg.hidden), nn.ReLU())
        self.to_mu = nn.Linear(cfg.hidden, cfg.latent_dim)
        self.to_logvar = nn.Linear(cfg.hidden, cfg.latent_dim)
        self.decoder = nn.Sequential(nn.Linear(cfg.latent_dim, cfg.hidden), nn.ReLU(),
                                     nn.Linear(cfg.hidden, cfg.n_pixels))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(B, C, H, W)`` -> ``(mu, logvar)``, each ``(B, d)``."""
        cfg = self.config
        check_image(x, "x", channels=cfg.channels, size=cfg.image_size, value_range=False)
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents ``(B, d)`` -> logits ``(B, C, H, W)``."""
        cfg = self.config
        return self.decoder(z).view(-1, cfg.channels, cfg.image_size, cfg.image_size)


class ConvVAE(_VAEBase):
    """Convolutional VAE built from the autoencoder's :class:`ConvEncoder` / :class:`ConvDecoder`.

    The encoder outputs ``2 d`` numbers, split into ``mu`` and ``logvar``:
    ``(B, C, H, W) -> (B, 2d) -> (B, d), (B, d)``; the decoder maps ``(B, d)`` to
    logits ``(B, C, H, W)``. Works for any ``image_size`` divisible by 4.
    """

    def __init__(self, cfg: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or VAEConfig()
        self.latent_dim = cfg.latent_dim
        ae = dict(image_size=cfg.image_size, channels=cfg.channels, width=cfg.width)
        self.encoder = ConvEncoder(AEConfig(latent_dim=2 * cfg.latent_dim, **ae))
        self.decoder = ConvDecoder(AEConfig(latent_dim=cfg.latent_dim, **ae))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(B, C, H, W)`` -> ``(mu, logvar)``, each ``(B, d)``."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents ``(B, d)`` -> logits ``(B, C, H, W)``."""
        return self.decoder(z)
