"""Repairers (inpainters): fill the hole of a masked image.

Input: the masked image ``x_masked = x * (1 - mask)`` ``(B, C, H, W)`` and the
mask ``(B, 1, H, W)`` (1 = missing), stacked into ``C + 1`` channels so the
network knows which zeros are holes and which are black ink. The network
predicts every pixel, a sigmoid puts it in ``[0, 1]``, and the known pixels are
then copied back exactly:

.. math::

    \\hat x = m \\odot \\sigma(f_\\theta([x \\odot (1 - m), m])) + (1 - m) \\odot x.

``raw(x_masked, mask)`` returns :math:`\\sigma(f_\\theta(\\cdot))` before that
composite (for losses over the whole image); ``forward`` returns :math:`\\hat x`.
Train with a loss on the hole only (``genlab.losses.masked_mse``).

Developed in course/05_restoration (lab 05).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ShapeError, check_image
from ..masks import composite
from .autoencoder import check_size_multiple
from .config import ImageConfig

__all__ = ["ConvRepairer", "MLPRepairer", "RepairConfig", "repair_input"]


@dataclass
class RepairConfig(ImageConfig):
    """Sizes of the repairers.

    Attributes:
        image_size: height = width (ConvRepairer: any size divisible by 2 also works at run time).
        channels: 1 or 3.
        width: ConvRepairer channels at full resolution (``2 * width`` in the trunk).
        hidden: MLPRepairer hidden width.
        depth: number of dilated residual blocks in the ConvRepairer trunk.
    """

    width: int = 32
    hidden: int = 512
    depth: int = 4


def repair_input(x_masked: torch.Tensor, mask: torch.Tensor, channels: int,
                 size: int | None = None, multiple: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate the repairer inputs (shape only: cheap, no GPU sync) and stack them.

    Args:
        x_masked: ``(B, C, H, W)``, the image with the hole blanked.
        mask: ``(B, 1, H, W)`` or ``(B, C, H, W)`` (batch 1 broadcasts), 1 = missing.
        channels: expected ``C``.
        size: expected ``H = W``, or ``None`` for fully convolutional models.
        multiple: ``H`` and ``W`` must be divisible by it (down/up-sampling).

    Returns:
        ``(inp, mask)``: the network input ``(B, C + 1, H, W)`` = ``[x_masked, mask]``
        and the mask as a float tensor.
    """
    check_image(x_masked, "x_masked", channels=channels, size=size, value_range=False)
    if not isinstance(mask, torch.Tensor) or mask.dim() != 4:
        got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ShapeError(f"mask must have shape (B, 1, H, W) with 1 = missing, got {got}.")
    b, _, h, w = x_masked.shape
    if mask.shape[0] not in (1, b) or mask.shape[1] not in (1, channels) or mask.shape[-2:] != (h, w):
        raise ShapeError(f"mask of shape {tuple(mask.shape)} does not match x_masked of shape "
                         f"{tuple(x_masked.shape)}: expected ({b}, 1, {h}, {w}).")
    if h % multiple or w % multiple:
        raise ShapeError(f"this repairer halves the image, so H and W must be divisible by {multiple}; "
                         f"got {h}x{w}.")
    mask = mask.to(x_masked.dtype)
    # one mask channel: a pixel is missing if it is missing in any colour channel
    m1 = mask if mask.shape[1] == 1 else mask.amax(dim=1, keepdim=True)
    return torch.cat([x_masked, m1.expand(b, 1, h, w)], dim=1), mask


class RepairerBase(nn.Module):
    """``forward = composite(raw(...))`` for every repairer."""

    def raw(self, x_masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, x_masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Repaired images ``(B, C, H, W)`` in ``[0, 1]``; known pixels equal ``x_masked`` exactly."""
        return composite(self.raw(x_masked, mask), x_masked, mask, check_values=False)


class MLPRepairer(RepairerBase):
    """Fully connected repairer: ``[x_masked, mask]`` flattened ``(B, (C+1)HW) -> hidden -> (B, CHW)``.

    One hidden layer keeps the default 16 px model under 2 MB; it has no notion
    of neighbouring pixels, which is the lesson of lab 05 against :class:`ConvRepairer`.
    """

    def __init__(self, cfg: RepairConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or RepairConfig()
        hw = cfg.image_size * cfg.image_size
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear((cfg.channels + 1) * hw, cfg.hidden), nn.ReLU(),
            nn.Linear(cfg.hidden, cfg.channels * hw),
        )

    def raw(self, x_masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Prediction for every pixel ``(B, C, H, W)`` in ``[0, 1]``, before keeping the known pixels."""
        cfg = self.config
        inp, _ = repair_input(x_masked, mask, cfg.channels, size=cfg.image_size)
        return torch.sigmoid(self.net(inp)).view_as(x_masked)


class _DilatedBlock(nn.Module):
    """Residual block ``h + conv_1(relu(conv_d(relu(h))))`` with a dilated first conv.

    Dilation ``d`` widens the receptive field by ``2d`` per conv at no extra cost.
    """

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation),
            nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.body(h)


def repair_encoder(channels: int, width: int, depth: int) -> tuple[nn.Module, nn.Module, nn.Module]:
    """``stem`` (full resolution, the skip), ``down`` (H -> H/2) and the dilated ``trunk`` at H/2.

    Shared by :class:`ConvRepairer` and ``CRNNRepairer`` (which adds its sweeps after the trunk).
    """
    w = width
    stem = nn.Sequential(nn.Conv2d(channels + 1, w, 3, padding=1), nn.ReLU())
    down = nn.Conv2d(w, 2 * w, 4, stride=2, padding=1)                            # H -> H/2
    trunk = nn.Sequential(*[_DilatedBlock(2 * w, 2 ** (i % 3)) for i in range(depth)])
    return stem, down, trunk


def repair_decoder(channels: int, width: int) -> tuple[nn.Module, nn.Module]:
    """``up`` (H/2 -> H) and the ``head`` that reads ``[up(h), skip]``."""
    w = width
    up = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.ReLU())
    head = nn.Sequential(nn.Conv2d(2 * w, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, channels, 1))
    return up, head


class ConvRepairer(RepairerBase):
    """Convolutional encoder-decoder repairer with a dilated residual trunk.

    Shapes (``w = width``)::

        [x_masked, mask] (B, C+1, H, W)
          -> conv3x3                    (B, w, H, W)        = skip
          -> conv4x4 stride 2           (B, 2w, H/2, W/2)
          -> depth x dilated residual blocks, dilations 1, 2, 4, 1, ...
          -> convT4x4 stride 2          (B, w, H, W)
          -> concat skip, conv3x3, conv1x1 -> (B, C, H, W) -> sigmoid -> composite

    Receptive field: the trunk works at half resolution, where the default 4
    blocks see 25 px, i.e. about 50 px of the input: an 8x8 hole in a 16x16
    digit is filled from the whole image. It is still bounded: a pixel 64 px
    away along a row has no influence (compare ``CRNNRepairer``). Fully
    convolutional: any ``H``, ``W`` divisible by 2 work, not only ``image_size``.
    About 380k parameters (1.5 MB float32) with the defaults.
    """

    def __init__(self, cfg: RepairConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or RepairConfig()
        check_size_multiple(cfg.image_size, 2, "ConvRepairer")
        self.stem, self.down, self.trunk = repair_encoder(cfg.channels, cfg.width, cfg.depth)
        self.up, self.head = repair_decoder(cfg.channels, cfg.width)

    def raw(self, x_masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Prediction for every pixel ``(B, C, H, W)`` in ``[0, 1]``, before keeping the known pixels."""
        inp, _ = repair_input(x_masked, mask, self.config.channels, multiple=2)
        skip = self.stem(inp)                                   # (B, w, H, W)
        h = self.up(self.trunk(self.down(skip)))               # (B, w, H, W)
        return torch.sigmoid(self.head(torch.cat([h, skip], dim=1)))

