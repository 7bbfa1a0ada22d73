"""A small CNN digit classifier, used to evaluate generators.

Its penultimate features :math:`\\phi(x) \\in \\mathbb{R}^F` feed the Frechet
distance between real and generated images (``genlab.metrics.classifier_frechet``,
an FID computed with a digits network instead of Inception),

.. math::

    d^2 = \\lVert \\mu_r - \\mu_g \\rVert^2 + \\mathrm{tr}\\big(\\Sigma_r + \\Sigma_g
    - 2 (\\Sigma_r \\Sigma_g)^{1/2}\\big),

and its predicted labels give the class coverage of a GAN (mode collapse shows
up as missing digits).

Developed in course/04_gans_on_images (lab 04).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import check_image
from .config import ImageConfig

__all__ = ["ClassifierConfig", "DigitsClassifier"]


@dataclass
class ClassifierConfig(ImageConfig):
    """Sizes of the classifier.

    Attributes:
        image_size: height = width of the digits (16 or 28; any size >= 8 works).
        channels: 1 or 3.
        n_classes: number of labels (10 digits).
        width: channels of the first conv block (``2 * width`` in the second).
        feature_dim: size ``F`` of the penultimate features.
        dropout: dropout before the last layer (active in train mode only).
    """

    n_classes: int = 10
    width: int = 32
    feature_dim: int = 128
    dropout: float = 0.25


class DigitsClassifier(nn.Module):
    """Two conv blocks, a pooled feature vector, a linear head.

    Shapes (``w = width``)::

        (B, C, H, W) -> conv3x3, conv3x3, maxpool  (B, w, H/2, W/2)
                     -> conv3x3, maxpool           (B, 2w, H/4, W/4)
                     -> adaptive avg pool          (B, 2w, 4, 4) -> flatten (B, 32w)
                     -> linear, ReLU               (B, F)   = features(x)
                     -> dropout, linear            (B, n_classes) = forward(x), logits

    The adaptive pool makes the feature size independent of ``image_size``.
    """

    def __init__(self, cfg: ClassifierConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or ClassifierConfig()
        w = cfg.width
        self.body = nn.Sequential(
            nn.Conv2d(cfg.channels, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(2 * w * 16, cfg.feature_dim), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.feature_dim, cfg.n_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``(B, feature_dim)`` (after the ReLU) for the Frechet distance."""
        cfg = self.config
        check_image(x, "x", channels=cfg.channels, size=cfg.image_size, value_range=False)
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, n_classes)``."""
        return self.head(self.features(x))
