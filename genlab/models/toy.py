"""The 2-D toy GAN's networks: small MLPs on points of the plane (course/03, lab 03).

:class:`ToyGenerator` maps noise ``(B, z_dim)`` to points ``(B, 2)``; :class:`ToyDiscriminator`
returns logits ``(B,)`` like every discriminator in genlab. :class:`ToyGAN` holds both for the
registry (``genlab.models.build("toy_gan")``); ``genlab.toy.train_toy_gan`` trains them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ShapeError

__all__ = ["ToyDiscriminator", "ToyGAN", "ToyGANConfig", "ToyGenerator"]


@dataclass
class ToyGANConfig:
    """Sizes of the toy GAN: noise dimension, hidden width and number of hidden layers."""

    z_dim: int = 2
    hidden: int = 128
    depth: int = 3


def _mlp(d_in: int, d_out: int, hidden: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = d_in
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


class ToyGenerator(nn.Module):
    """MLP ``z (B, z_dim) -> x (B, 2)``; no output squashing (the plane is unbounded)."""

    def __init__(self, z_dim: int = 2, hidden: int = 128, depth: int = 3) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.net = _mlp(z_dim, 2, hidden, depth)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ShapeError(f"z must have shape (B, {self.z_dim}), got {tuple(z.shape)}.")
        return self.net(z)


class ToyDiscriminator(nn.Module):
    """MLP ``x (B, 2) -> logits (B,)`` (no sigmoid; the losses take logits)."""

    def __init__(self, hidden: int = 128, depth: int = 3) -> None:
        super().__init__()
        self.net = _mlp(2, 1, hidden, depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != 2:
            raise ShapeError(f"x must be points of shape (B, 2), got {tuple(x.shape)}.")
        return self.net(x).squeeze(1)


class ToyGAN(nn.Module):
    """The toy pair: ``generator`` then ``discriminator`` (built in that order, as ``train_toy_gan`` does)."""

    def __init__(self, cfg: ToyGANConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or ToyGANConfig()
        self.generator = ToyGenerator(cfg.z_dim, cfg.hidden, cfg.depth)
        self.discriminator = ToyDiscriminator(cfg.hidden, cfg.depth)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``G(z)``: points ``(B, 2)``."""
        return self.generator(z)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` points from standard normal noise drawn with ``generator``."""
        z = torch.randn(n, self.config.z_dim, generator=generator)
        return self.generator(z.to(next(self.parameters()).device))
