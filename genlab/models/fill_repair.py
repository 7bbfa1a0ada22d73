r"""A repairer that starts from the classical fill and learns what it misses.

On natural images a small network trained from scratch loses to biharmonic
inpainting (the smoothest surface through the known pixels): photo patches are
mostly smooth, which is exactly what the formula assumes. So let the network
*start* there. :class:`FillResidualRepairer` computes the classical fill
:math:`f = \mathrm{fill}(x \odot (1 - m), m)` (biharmonic by default), feeds a
small U-Net the known pixels, the mask and that fill, and adds the U-Net's
output to the fill inside the hole:

.. math::

    \hat x = (1 - m) \odot x + m \odot \bigl(f + r_\theta([x \odot (1 - m),\ m,\ f])\bigr).

The last convolution of :math:`r_\theta` is initialised to zero, so before any
training the repairer returns the classical fill exactly: it starts at the
baseline's score and can only learn the corrections (edges continued across
the hole, texture) that interpolation cannot produce. No sigmoid: the output is
clamped to ``[0, 1]`` only at evaluation (``evaluate_repairers`` does it), so
the residual stays linear around the fill.

The fill is computed without gradients (it has no parameters) on the CPU
(``genlab.baselines.biharmonic`` calls scikit-image), about 1.5-2 ms per
32 px patch: comparable to the network's own cost on a CPU.

Developed for the natural-image section of course/05_restoration.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import baselines as _baselines
from ..masks import composite
from .autoencoder import check_size_multiple
from .config import ImageConfig
from .repair import RepairerBase, repair_input

__all__ = ["FILLS", "FillRepairConfig", "FillResidualRepairer", "sobel"]

#: Classical fills the repairer can start from (``FillRepairConfig.fill``).
FILLS = ("biharmonic", "mean")


@dataclass
class FillRepairConfig(ImageConfig):
    """Sizes of :class:`FillResidualRepairer`.

    Attributes:
        image_size: height = width, divisible by ``2 ** depth`` (any such size works at run time).
        channels: 1 or 3.
        width: channels of the U-Net at full resolution (doubled at each level down).
        depth: number of down/up-sampling levels of the U-Net.
        fill: the classical fill the residual is added to: ``"biharmonic"`` or ``"mean"``
            (the cheap one, for quick tests).
        fill_gradients: also feed the U-Net the horizontal and vertical Sobel gradients of the
            fill (``2C`` more input channels): where an edge meets the hole, its direction.
    """

    width: int = 24
    depth: int = 2
    fill: str = "biharmonic"
    fill_gradients: bool = False


def sobel(x: torch.Tensor) -> torch.Tensor:
    """Horizontal and vertical Sobel gradients of every channel, ``(B, C, H, W) -> (B, 2C, H, W)``.

    Replicate padding, so a constant image has zero gradient up to its border; divided by 8,
    so a ramp of slope 1 per pixel has gradient 1.
    """
    k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype, device=x.device) / 8
    weight = torch.stack([k, k.t()]).unsqueeze(1).repeat(x.shape[1], 1, 1, 1)   # (2C, 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), weight, groups=x.shape[1])


def _block(c_in: int, c_out: int) -> nn.Sequential:
    """``(conv3x3 -> ReLU) x 2``; no batch norm, so a patch's result does not depend on its batch."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU())


class FillResidualRepairer(RepairerBase):
    """U-Net residual on top of a classical fill (biharmonic by default); starts *at* the fill.

    Shapes (``w = width``, ``depth = 2``)::

        [x_masked, mask, fill] (B, 2C+1, H, W) -> block        e0 (B, w, H, W)
          -> avgpool, block                                      e1 (B, 2w, H/2, W/2)
          -> avgpool, block                                      bottleneck (B, 4w, H/4, W/4)
          -> upsample x2, concat e1, block                       (B, 2w, H/2, W/2)
          -> upsample x2, concat e0, block                       (B, w, H, W)
          -> conv1x1 (zero-initialised) = residual               (B, C, H, W)
        raw = fill + residual; forward keeps the known pixels.

    About 290k parameters (1.2 MB float32) with the defaults (``width=24``); fully convolutional.
    """

    def __init__(self, cfg: FillRepairConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or FillRepairConfig()
        if cfg.fill not in FILLS:
            raise ValueError(f"fill must be one of {FILLS}, got {cfg.fill!r}.")
        check_size_multiple(cfg.image_size, 2 ** cfg.depth, "FillResidualRepairer")
        chans = [cfg.width * 2 ** i for i in range(cfg.depth + 1)]
        c_in = 2 * cfg.channels + 1 + (2 * cfg.channels if cfg.fill_gradients else 0)
        self.encoders = nn.ModuleList([_block(c_in, chans[0])])
        self.encoders.extend(_block(chans[i], chans[i + 1]) for i in range(cfg.depth))
        self.pool = nn.AvgPool2d(2)
        self.ups = nn.ModuleList(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                               nn.Conv2d(chans[i + 1], chans[i], 3, padding=1), nn.ReLU())
                                 for i in reversed(range(cfg.depth)))
        self.decoders = nn.ModuleList(_block(2 * chans[i], chans[i]) for i in reversed(range(cfg.depth)))
        self.head = nn.Conv2d(chans[0], cfg.channels, 1)
        # zero residual at initialisation: the untrained repairer *is* the classical fill
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @torch.no_grad()
    def fill(self, x_masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The classical fill ``(B, C, H, W)`` the residual is added to (no gradients)."""
        fn = _baselines.BASELINES[self.config.fill]
        x = x_masked.detach().float().clamp(0.0, 1.0)
        m = (mask.detach() > 0.5).to(x.dtype)
        return fn(x, m).to(x_masked.dtype)

    def residual(self, x_masked: torch.Tensor, mask: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
        """The U-Net's correction ``(B, C, H, W)`` given the masked image, the mask and the fill."""
        inp, _ = repair_input(x_masked, mask, self.config.channels, multiple=2 ** self.config.depth)
        h = torch.cat([inp, fill, sobel(fill)] if self.config.fill_gradients else [inp, fill], dim=1)
        skips = []
        for i, enc in enumerate(self.encoders):
            h = enc(h if i == 0 else self.pool(h))
            skips.append(h)
        skips.pop()                                       # the bottleneck is not a skip
        for up, dec in zip(self.ups, self.decoders, strict=True):
            h = dec(torch.cat([up(h), skips.pop()], dim=1))
        return self.head(h)

    def forward(self, x_masked: torch.Tensor, mask: torch.Tensor,
                fill: torch.Tensor | None = None) -> torch.Tensor:
        """Repaired images ``(B, C, H, W)``; known pixels equal ``x_masked`` exactly.

        ``fill``: the classical fill of these very images and masks when it is already known
        (``genlab.train.fill_pool`` computes it once for a whole training set); by default the
        model computes it.
        """
        return composite(self.raw(x_masked, mask, fill), x_masked, mask, check_values=False)

    def raw(self, x_masked: torch.Tensor, mask: torch.Tensor, fill: torch.Tensor | None = None) -> torch.Tensor:
        """``fill + residual`` for every pixel ``(B, C, H, W)``, before keeping the known pixels.

        The U-Net works in units of each patch's own contrast: known pixels and fill are
        shifted by the mean and divided by the standard deviation of the known pixels, and
        the residual is multiplied back by it. A flat patch (sky, where the fill is already
        right) then gets a correction as small as its contrast.
        """
        _, m = repair_input(x_masked, mask, self.config.channels, multiple=2 ** self.config.depth)
        f = self.fill(x_masked, mask) if fill is None else fill.detach().to(x_masked.dtype)
        if f.shape != x_masked.shape:
            raise ValueError(f"fill must have the shape of x_masked {tuple(x_masked.shape)}, got {tuple(f.shape)}.")
        known = 1.0 - m.expand_as(x_masked)
        count = known.sum(dim=(1, 2, 3), keepdim=True).clamp_min(1.0)
        mean = (x_masked * known).sum(dim=(1, 2, 3), keepdim=True) / count
        var = (((x_masked - mean) * known) ** 2).sum(dim=(1, 2, 3), keepdim=True) / count
        scale = (var + 1e-6).sqrt().detach()
        mean = mean.detach()
        r = self.residual((x_masked - mean) * known / scale, mask, (f - mean) / scale)
        return f + scale * r
