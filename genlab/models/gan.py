"""Generative adversarial networks: fully connected and DCGAN, optionally conditional.

A generator :math:`G: z \\mapsto x` with :math:`z \\sim \\mathcal{N}(0, I)` and a
discriminator :math:`D: x \\mapsto` logit play the minimax game (Goodfellow et al., 2014)

.. math::

    \\min_G \\max_D \\; \\mathbb{E}_{x\\sim p_\\text{data}}[\\log \\sigma(D(x))]
    + \\mathbb{E}_{z\\sim p(z)}[\\log(1 - \\sigma(D(G(z))))].

Conventions used here (see ``genlab.losses``):

- Generators end in a sigmoid: samples are images in ``[0, 1]``, the same
  range as the data, so real and fake batches go through ``D`` unchanged.
- Discriminators return **logits** of shape ``(B,)`` with no final sigmoid;
  the losses use ``binary_cross_entropy_with_logits`` (numerically stable).

DCGAN (Radford et al., 2016): ``G`` uses transposed convolutions + BatchNorm +
ReLU, ``D`` uses strided convolutions + LeakyReLU(0.2), BatchNorm everywhere
except ``D``'s first layer, and all weights start from :math:`\\mathcal{N}(0, 0.02)`.
Sizes: ``G`` maps the 1x1 code to ``s x s`` with ``s = image_size / 4`` (a
transposed conv with kernel ``s``), then doubles twice (kernel 4, stride 2,
padding 1), so 16, 28 and 32 px all work (4 -> 8 -> 16, 7 -> 14 -> 28,
8 -> 16 -> 32). ``D`` mirrors it.

Conditional GANs (Mirza & Osindero, 2014) when ``n_classes > 0``: ``G(z, y)``
concatenates a learned label embedding to ``z``; the MLP ``D(x, y)``
concatenates the embedding to the flattened image and the DCGAN ``D`` uses a
projection (Miyato & Koyama, 2018): :math:`D(x, y) = \\psi(\\phi(x)) +
\\langle e_y, \\textstyle\\sum_{hw} \\phi(x) \\rangle`.

Developed in course/04_gans_on_images (lab 04).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ShapeError, check_image
from .autoencoder import check_size_multiple
from .config import ImageConfig
from .vae import standard_normal

__all__ = ["CGANConfig", "DCGAN", "DCGANDiscriminator", "DCGANGenerator", "GANConfig", "GANPair",
           "MLPDiscriminator", "MLPGAN", "MLPGenerator", "dcgan_init"]


@dataclass
class GANConfig(ImageConfig):
    """Sizes of the GANs.

    Attributes:
        image_size: height = width (divisible by 4 for DCGAN).
        channels: 1 or 3.
        z_dim: size of the noise vector ``z``.
        width: DCGAN base channels (``G``: ``2w -> w -> C``; ``D``: ``C -> w -> 2w``).
        hidden: MLP hidden width (``G``: ``hidden, 2*hidden``; ``D``: ``hidden, hidden``).
        n_classes: 0 for an unconditional GAN, else the number of labels.
        label_dim: size of the label embedding concatenated to ``z`` (conditional only).
    """

    z_dim: int = 32
    width: int = 64
    hidden: int = 256
    n_classes: int = 0
    label_dim: int = 16


@dataclass
class CGANConfig(GANConfig):
    """:class:`GANConfig` for the conditional DCGAN on digits: ``n_classes=10`` by default."""

    n_classes: int = 10


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv/linear weights ~ N(0, 0.02), BatchNorm scale ~ N(1, 0.02).

    Use as ``model.apply(dcgan_init)``; biases start at 0. Label embeddings keep
    PyTorch's N(0, 1): concatenated to ``z ~ N(0, I)``, they start on the same
    scale as the noise instead of being drowned by it.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class _Conditional(nn.Module):
    """Label handling shared by conditional generators and discriminators."""

    config: GANConfig

    @property
    def conditional(self) -> bool:
        """True when the model takes labels (``n_classes > 0``)."""
        return self.config.n_classes > 0

    def _check_labels(self, y: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        """Return ``y`` as a long tensor ``(B,)``, or raise if it is missing/extra/badly shaped."""
        n_classes = self.config.n_classes
        name = type(self).__name__
        if not self.conditional:
            if y is not None:
                raise ValueError(f"{name} is unconditional (n_classes=0) but got labels y. "
                                 "Build it with n_classes > 0 for a conditional GAN, or drop y.")
            return None
        if y is None:
            raise ValueError(f"{name} is conditional (n_classes={n_classes}): call it with labels, "
                             "e.g. model(z, y) with y a long tensor of shape (B,) in "
                             f"[0, {n_classes - 1}].")
        if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.shape[0] != batch:
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ShapeError(f"labels y must be a tensor of shape ({batch},), got {got}.")
        if y.is_floating_point():
            raise ShapeError(f"labels y must be integers (torch.long), got dtype {y.dtype}; "
                             "use y.long().")
        return y.long()

    def _with_labels(self, cfg: GANConfig | None, features: str) -> tuple[GANConfig, int]:
        """Store ``cfg`` (default ``GANConfig()``), add the label embedding when conditional.

        Returns the config and the network's input width: its ``features`` field (``"z_dim"``,
        ``"n_pixels"``) plus the embedding's size.
        """
        self.config = cfg = cfg or GANConfig()
        self.embed = nn.Embedding(cfg.n_classes, cfg.label_dim) if cfg.n_classes > 0 else None
        return cfg, getattr(cfg, features) + (cfg.label_dim if self.embed is not None else 0)

    def _default_labels(self, n: int, y: int | torch.Tensor | None,
                        device: torch.device) -> torch.Tensor | None:
        """Labels for ``sample``: ``None`` cycles 0, 1, ..., an int repeats one class."""
        if not self.conditional:
            return self._check_labels(y, n)
        if y is None:
            return torch.arange(n, device=device) % self.config.n_classes
        if isinstance(y, int):
            return torch.full((n,), y, dtype=torch.long, device=device)
        return self._check_labels(y.to(device), n)


class _GeneratorBase(_Conditional):
    """``sample`` for every generator."""

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None
                ) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _check_z(self, z: torch.Tensor) -> None:
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != self.config.z_dim:
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ShapeError(f"z must have shape (B, {self.config.z_dim}), got {got}. "
                             "Draw it with torch.randn(B, z_dim).")

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None,
               y: int | torch.Tensor | None = None) -> torch.Tensor:
        """Draw ``n`` images ``G(z, y)`` with ``z ~ N(0, I)``.

        Args:
            n: number of images.
            generator: optional generator for ``z`` (reproducible sample grids).
            y: labels for a conditional generator: a long tensor ``(n,)``, one
                int for all, or ``None`` to cycle ``0, 1, ..., n_classes - 1``.

        Returns:
            Images ``(n, C, H, W)`` in ``[0, 1]`` on the model's device. The
            module's train/eval mode is left as it is (BatchNorm uses it).
        """
        p = next(self.parameters())
        z = standard_normal((n, self.config.z_dim), generator=generator, device=p.device, dtype=p.dtype)
        return self(z, self._default_labels(n, y, p.device))


class MLPGenerator(_GeneratorBase):
    """Fully connected generator ``[z, e_y] -> hidden -> 2 hidden -> C*H*W``, sigmoid.

    Shapes: ``z (B, z_dim)`` (+ ``y (B,)``) -> images ``(B, C, H, W)`` in ``[0, 1]``.
    """

    def __init__(self, cfg: GANConfig | None = None) -> None:
        super().__init__()
        cfg, d_in = self._with_labels(cfg, "z_dim")
        self.net = nn.Sequential(
            nn.Linear(d_in, cfg.hidden), nn.LeakyReLU(0.2),
            nn.Linear(cfg.hidden, 2 * cfg.hidden), nn.LeakyReLU(0.2),
            nn.Linear(2 * cfg.hidden, cfg.n_pixels),
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """``G(z, y)``: images ``(B, C, H, W)`` in ``[0, 1]``."""
        self._check_z(z)
        y = self._check_labels(y, z.shape[0])
        if y is not None:
            z = torch.cat([z, self.embed(y)], dim=1)   # (B, z_dim + label_dim)
        cfg = self.config
        return torch.sigmoid(self.net(z)).view(-1, cfg.channels, cfg.image_size, cfg.image_size)


class MLPDiscriminator(_Conditional):
    """Fully connected discriminator ``[x, e_y] -> hidden -> hidden -> 1``: logits ``(B,)``."""

    def __init__(self, cfg: GANConfig | None = None) -> None:
        super().__init__()
        cfg, d_in = self._with_labels(cfg, "n_pixels")
        self.net = nn.Sequential(
            nn.Linear(d_in, cfg.hidden), nn.LeakyReLU(0.2),
            nn.Linear(cfg.hidden, cfg.hidden), nn.LeakyReLU(0.2),
            nn.Linear(cfg.hidden, 1),
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """``D(x, y)``: images ``(B, C, H, W)`` -> logits ``(B,)`` (no sigmoid)."""
        cfg = self.config
        check_image(x, "x", channels=cfg.channels, size=cfg.image_size, value_range=False)
        y = self._check_labels(y, x.shape[0])
        h = x.flatten(1)                                # (B, C*H*W)
        if y is not None:
            h = torch.cat([h, self.embed(y)], dim=1)
        return self.net(h).squeeze(1)


class DCGANGenerator(_GeneratorBase):
    """DCGAN generator: ``(B, z_dim[+label_dim], 1, 1) -> (B, 2w, s, s) -> (B, w, 2s, 2s) -> (B, C, 4s, 4s)``.

    ``s = image_size / 4``. Transposed convs + BatchNorm + ReLU, final sigmoid.
    """

    def __init__(self, cfg: GANConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or GANConfig()
        check_size_multiple(cfg.image_size, 4, "DCGANGenerator")
        w, s = cfg.width, cfg.image_size // 4
        _, d_in = self._with_labels(cfg, "z_dim")
        self.net = nn.Sequential(
            # 1x1 -> s x s; no bias before BatchNorm (BN's shift replaces it)
            nn.ConvTranspose2d(d_in, 2 * w, s, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
            nn.ConvTranspose2d(w, cfg.channels, 4, 2, 1),
            nn.Sigmoid(),
        )
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """``G(z, y)``: images ``(B, C, H, W)`` in ``[0, 1]``."""
        self._check_z(z)
        y = self._check_labels(y, z.shape[0])
        if y is not None:
            z = torch.cat([z, self.embed(y)], dim=1)
        return self.net(z[:, :, None, None])            # (B, d_in) -> (B, d_in, 1, 1)


class DCGANDiscriminator(_Conditional):
    """DCGAN discriminator: ``(B, C, H, W) -> (B, w, H/2, W/2) -> (B, 2w, s, s) -> (B,)`` logits.

    Strided convs + LeakyReLU(0.2), BatchNorm on the second layer only (not on
    the first, as in the paper), a final conv with kernel ``s`` to one logit.
    Conditional: projection term :math:`\\langle e_y, \\sum_{hw}\\phi(x)\\rangle`.
    """

    def __init__(self, cfg: GANConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or GANConfig()
        check_size_multiple(cfg.image_size, 4, "DCGANDiscriminator")
        w, s = cfg.width, cfg.image_size // 4
        self.features = nn.Sequential(
            nn.Conv2d(cfg.channels, w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2),
        )
        self.head = nn.Conv2d(2 * w, 1, s)               # (B, 2w, s, s) -> (B, 1, 1, 1)
        self.embed = nn.Embedding(cfg.n_classes, 2 * w) if cfg.n_classes > 0 else None
        self.apply(dcgan_init)
        if self.embed is not None:
            # The projection adds <e_y, sum_hw phi(x)>: with PyTorch's N(0, 1) embedding this term
            # starts in the tens and D begins far from chance. Start it small, like the conv weights.
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """``D(x, y)``: images ``(B, C, H, W)`` -> logits ``(B,)`` (no sigmoid)."""
        cfg = self.config
        check_image(x, "x", channels=cfg.channels, size=cfg.image_size, value_range=False)
        y = self._check_labels(y, x.shape[0])
        phi = self.features(x)                           # (B, 2w, s, s)
        logits = self.head(phi).flatten()                # (B,)
        if y is not None:
            logits = logits + (self.embed(y) * phi.sum(dim=(2, 3))).sum(dim=1)
        return logits


class GANPair(nn.Module):
    """A generator and a discriminator in one module, so one checkpoint holds both.

    Attributes:
        generator: ``G(z, y=None) -> images in [0, 1]``.
        discriminator: ``D(x, y=None) -> logits (B,)``.

    ``forward`` and ``sample`` go to the generator.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module) -> None:
        super().__init__()
        self.generator = generator
        self.discriminator = discriminator
        self.config = getattr(generator, "config", None)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """``G(z, y)``."""
        return self.generator(z, y)

    def sample(self, n: int, generator: torch.Generator | None = None,
               y: int | torch.Tensor | None = None) -> torch.Tensor:
        """``generator.sample(n, generator, y)``: images ``(n, C, H, W)`` in ``[0, 1]``."""
        return self.generator.sample(n, generator=generator, y=y)


class MLPGAN(GANPair):
    """:class:`MLPGenerator` + :class:`MLPDiscriminator` built from one :class:`GANConfig`."""

    def __init__(self, cfg: GANConfig | None = None) -> None:
        cfg = cfg or GANConfig()
        super().__init__(MLPGenerator(cfg), MLPDiscriminator(cfg))


class DCGAN(GANPair):
    """:class:`DCGANGenerator` + :class:`DCGANDiscriminator` built from one :class:`GANConfig`."""

    def __init__(self, cfg: GANConfig | None = None) -> None:
        cfg = cfg or GANConfig()
        super().__init__(DCGANGenerator(cfg), DCGANDiscriminator(cfg))
