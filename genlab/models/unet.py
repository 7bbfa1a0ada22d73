"""U-Net generator and PatchGAN discriminator for pix2pix-style restoration.

pix2pix (Isola et al., 2017) trains a conditional GAN whose generator maps a
condition (here the masked image and its mask) to an image, with the loss

.. math::

    \\mathcal{L} = \\mathbb{E}[\\log \\sigma(D(c, x))] + \\mathbb{E}[\\log(1 - \\sigma(D(c, G(c))))]
    + \\lambda \\, \\lVert x - G(c) \\rVert_1 .

The U-Net keeps full-resolution detail through skip connections; the PatchGAN
discriminator judges overlapping patches and returns a map of logits
``(B, 1, h, w)``, one per patch, instead of one number per image.

Developed in course/08_frontiers (lecture 08, ungraded).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ShapeError, check_image
from .autoencoder import check_size_multiple
from .config import ImageConfig
from .repair import RepairerBase, repair_input

__all__ = ["PatchDiscriminator", "Pix2Pix", "UNet", "UNetConfig"]


@dataclass
class UNetConfig(ImageConfig):
    """Sizes of the U-Net and the PatchGAN discriminator.

    Attributes:
        image_size: height = width, divisible by ``2 ** depth`` (16, 28, 32 with depth 2).
        channels: 1 or 3.
        width: channels at full resolution; doubled at each level down.
        depth: number of down/up-sampling levels.
    """

    width: int = 32
    depth: int = 2

    @property
    def cond_channels(self) -> int:
        """Channels of the condition ``[x_masked, mask]``: ``C + 1``."""
        return self.channels + 1


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """``(conv3x3 -> BatchNorm -> ReLU) x 2``, size preserved."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
    )


class UNet(RepairerBase):
    """U-Net repairer: ``forward(x_masked, mask) -> x_hat`` with known pixels kept.

    Shapes (``w = width``, depth 2)::

        [x_masked, mask] (B, C+1, H, W) -> block     e0 (B, w, H, W)
          -> maxpool, block                            e1 (B, 2w, H/2, W/2)
          -> maxpool, block                            bottleneck (B, 4w, H/4, W/4)
          -> convT x2, concat e1, block                (B, 2w, H/2, W/2)
          -> convT x2, concat e0, block                (B, w, H, W)
          -> conv1x1 -> (B, C, H, W) -> sigmoid -> composite

    The skips hand the decoder the encoder's full-resolution features, so edges
    around the hole need not squeeze through the bottleneck.
    """

    def __init__(self, cfg: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or UNetConfig()
        check_size_multiple(cfg.image_size, 2 ** cfg.depth, "UNet")
        chans = [cfg.width * 2 ** i for i in range(cfg.depth + 1)]      # w, 2w, 4w, ...
        self.encoders = nn.ModuleList([_conv_block(cfg.cond_channels, chans[0])])
        self.encoders.extend(_conv_block(chans[i], chans[i + 1]) for i in range(cfg.depth))
        self.pool = nn.MaxPool2d(2)
        self.ups = nn.ModuleList(nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2)
                                 for i in reversed(range(cfg.depth)))
        self.decoders = nn.ModuleList(_conv_block(2 * chans[i], chans[i])
                                      for i in reversed(range(cfg.depth)))
        self.head = nn.Conv2d(chans[0], cfg.channels, 1)

    def raw(self, x_masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Prediction ``(B, C, H, W)`` in ``[0, 1]`` before keeping the known pixels."""
        inp, _ = repair_input(x_masked, mask, self.config.channels, multiple=2 ** self.config.depth)
        skips = []
        h = inp
        for i, enc in enumerate(self.encoders):
            h = enc(h if i == 0 else self.pool(h))
            skips.append(h)
        skips.pop()                                       # the bottleneck is not a skip
        for up, dec in zip(self.ups, self.decoders, strict=True):
            h = dec(torch.cat([up(h), skips.pop()], dim=1))   # (B, 2c, ...) -> (B, c, ...)
        return torch.sigmoid(self.head(h))


class PatchDiscriminator(nn.Module):
    """Conditional PatchGAN: ``D(condition, image) -> (B, 1, H/4, W/4)`` logits.

    The condition ``[x_masked, mask]`` ``(B, C+1, H, W)`` and the (real or
    generated) image ``(B, C, H, W)`` are concatenated along channels, so ``D``
    judges whether the image is a plausible completion *of this input*.

    Shapes (``w = width``)::

        (B, 2C+1, H, W) -> conv4x4 s2, LeakyReLU          (B, w, H/2, W/2)
                        -> conv4x4 s2, BN, LeakyReLU      (B, 2w, H/4, W/4)
                        -> conv3x3, BN, LeakyReLU         (B, 4w, H/4, W/4)
                        -> conv3x3                        (B, 1, H/4, W/4) logits, no sigmoid
    """

    def __init__(self, cfg: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or UNetConfig()
        check_size_multiple(cfg.image_size, 4, "PatchDiscriminator")
        w = cfg.width
        self.net = nn.Sequential(
            nn.Conv2d(cfg.cond_channels + cfg.channels, w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1, bias=False), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2),
            nn.Conv2d(4 * w, 1, 3, padding=1),
        )

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """Patch logits ``(B, 1, H/4, W/4)`` for ``image`` given ``condition``."""
        cfg = self.config
        check_image(image, "image", channels=cfg.channels, value_range=False)
        check_image(condition, "condition", channels=cfg.cond_channels, value_range=False)
        if condition.shape[0] != image.shape[0] or condition.shape[-2:] != image.shape[-2:]:
            raise ShapeError(f"condition {tuple(condition.shape)} and image {tuple(image.shape)} "
                             "must share batch size, height and width. The condition is "
                             "torch.cat([x_masked, mask], dim=1).")
        return self.net(torch.cat([condition, image], dim=1))


class Pix2Pix(nn.Module):
    """The pix2pix pair: ``generator`` (a :class:`UNet` repairer) and ``discriminator``
    (a conditional :class:`PatchDiscriminator`). Trained by ``genlab.train.Pix2PixTask``.

    ``forward(x_masked, mask)`` is the generator's: the restored image with known pixels kept.

    Developed in course/08_frontiers (lecture 08, ungraded).
    """

    def __init__(self, cfg: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or UNetConfig()
        self.generator = UNet(cfg)
        self.discriminator = PatchDiscriminator(cfg)

    def forward(self, x_masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.generator(x_masked, mask)
