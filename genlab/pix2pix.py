r"""pix2pix-style conditional restoration: a U-Net generator, a PatchGAN critic, L1 + adversarial loss.

The generator :math:`G` sees the condition :math:`c = [x \odot (1-m),\ m]` (the image with
its hole blanked, and the mask) and fills the hole; the known pixels are kept. The
discriminator :math:`D(c, x)` returns one logit per overlapping patch, judging whether
the image is a plausible completion *of this input*. Losses (Isola et al., 2017):

.. math::

    \mathcal L_D = -\mathbb E\big[\log\sigma(D(c, x))\big] - \mathbb E\big[\log(1-\sigma(D(c, G(c))))\big]

.. math::

    \mathcal L_G = \underbrace{-\mathbb E\big[\log\sigma(D(c, G(c)))\big]}_{\text{adversarial (non-saturating)}}
    + \lambda\, \underbrace{\frac{\sum m\,|G(c) - x|}{\sum m}}_{\text{L1 on the hole}}

(patch logits are averaged). The L1 term alone gives the blurry average of all plausible
fillings; the adversarial term pushes towards *one* sharp, plausible filling. With
:math:`\lambda = 100` (the paper's value) L1 dominates and the GAN adds detail.

:class:`Pix2PixTask` plugs into :func:`genlab.train.fit` unchanged: two modules, two
optimisers, one step, like :class:`genlab.train.GANTask`.

Developed in course/08_frontiers (lecture 08, ungraded).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .losses import discriminator_loss, generator_loss, masked_l1
from .masks import apply_mask, make_mask
from .models.unet import PatchDiscriminator, UNet, UNetConfig
from .train import Task

__all__ = ["Pix2Pix", "Pix2PixTask"]


class Pix2Pix(nn.Module):
    """The pair: ``generator`` (a :class:`~genlab.models.unet.UNet` repairer) and
    ``discriminator`` (a conditional :class:`~genlab.models.unet.PatchDiscriminator`).

    ``forward(x_masked, mask)`` is the generator's: the restored image with known pixels kept.
    """

    def __init__(self, cfg: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or UNetConfig()
        self.generator = UNet(cfg)
        self.discriminator = PatchDiscriminator(cfg)

    def forward(self, x_masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.generator(x_masked, mask)


class Pix2PixTask(Task):
    """Train a :class:`Pix2Pix` pair on ``(x[, y])`` batches with masks drawn per batch.

    Args:
        model: the pair.
        lr: Adam learning rate of both networks (betas ``(0.5, 0.999)`` as for GANs).
        l1_weight: :math:`\\lambda` in front of the hole L1 term.
        masks: mask kinds for :func:`genlab.masks.make_mask` (the batch is split between them).
        mask_kw: extra mask parameters per kind, e.g. ``{"block": {"hole": 8}}``.

    Logged: ``loss_d``, ``loss_g`` (adversarial part), ``l1`` (hole L1) and ``loss``
    (``loss_g + l1_weight * l1``, the generator's objective).
    """

    def __init__(self, model: Pix2Pix, lr: float = 2e-4, l1_weight: float = 100.0,
                 masks: Sequence[str] = ("block",), mask_kw: Mapping[str, Mapping[str, Any]] | None = None,
                 **kw: Any) -> None:
        if not isinstance(model, Pix2Pix):
            raise TypeError(f"Pix2PixTask needs a genlab.pix2pix.Pix2Pix pair, got {type(model).__name__}.")
        if l1_weight < 0:
            raise ValueError(f"l1_weight must be >= 0, got {l1_weight}.")
        betas = (0.5, 0.999)
        g, d = model.generator, model.discriminator
        super().__init__(model, {"generator": g, "discriminator": d},
                         {"generator": torch.optim.Adam(g.parameters(), lr=lr, betas=betas),
                          "discriminator": torch.optim.Adam(d.parameters(), lr=lr, betas=betas)},
                         hparams={"lr": lr, "l1_weight": float(l1_weight), "masks": list(masks),
                                  "mask_kw": {k: dict(v) for k, v in (mask_kw or {}).items()}},
                         model_name=kw.pop("model_name", "pix2pix"), **kw)
        self.l1_weight = float(l1_weight)
        self.masks = tuple(masks)
        self.mask_kw = {k: dict(v) for k, v in (mask_kw or {}).items()}

    def draw_masks(self, x: torch.Tensor) -> torch.Tensor:
        """Masks ``(B, 1, H, W)`` from the task's generator, split evenly between the kinds."""
        b, size = x.shape[0], x.shape[-1]
        counts = [b // len(self.masks) + (1 if i < b % len(self.masks) else 0) for i in range(len(self.masks))]
        parts = [make_mask(kind, n, size, generator=self.generator, **self.mask_kw.get(kind, {}))
                 for kind, n in zip(self.masks, counts, strict=True) if n > 0]
        return torch.cat(parts).float().to(x.device, non_blocking=True)

    def step(self, batch, ctx):
        x, _ = batch
        self._keep_preview(x)
        mask = self.draw_masks(x)
        x_masked = apply_mask(x, mask)
        cond = torch.cat([x_masked, mask], dim=1)            # (B, C+1, H, W): what D conditions on
        g, d = self.net("generator"), self.net("discriminator")

        # (1) D: real completions vs the generator's (detached: this step must not move G).
        with ctx.autocast():
            x_fake = g(x_masked, mask)
            d_real = d(cond, x).float().flatten()          # (B, 1, h, w) patch logits -> (B*h*w,)
            d_fake = d(cond, x_fake.detach()).float().flatten()
            loss_d = discriminator_loss(d_real, d_fake)
        ctx.optimize(loss_d, "discriminator")

        # (2) G: fool D on every patch, and stay close to the truth in the hole.
        with ctx.autocast():
            loss_adv = generator_loss(d(cond, x_fake).float().flatten())
            l1 = masked_l1(x_fake.float(), x.float(), mask)
            loss_g = loss_adv + self.l1_weight * l1
        ctx.optimize(loss_g, "generator")
        return {"loss": loss_g.detach(), "loss_d": loss_d.detach(), "loss_g": loss_adv.detach(),
                "l1": l1.detach()}

    @torch.no_grad()
    def losses(self, batch, ctx=None):
        """Hole L1 of the generator on ``batch`` (for ``evaluate``; masks drawn without moving the RNG)."""
        x, _ = batch
        state = self.generator.get_state()
        try:
            mask = self.draw_masks(x)
        finally:
            self.generator.set_state(state)
        x_hat = self.modules["generator"](apply_mask(x, mask), mask)
        return {"l1": masked_l1(x_hat.float(), x.float(), mask)}

    @torch.no_grad()
    def sample(self, n: int = 16) -> torch.Tensor | None:
        if self._preview is None:
            return None
        x = self._preview[:n]
        state = self.generator.get_state()
        try:
            mask = self.draw_masks(x)
        finally:
            self.generator.set_state(state)
        g = self.modules["generator"]
        was = g.training
        g.eval()
        try:
            return g(apply_mask(x, mask), mask).float().clamp(0, 1)
        finally:
            g.train(was)
