"""Masks and corruptions. Convention: mask is 1 where a pixel is missing, 0 where known.

(Seed file: the data/masks work extends it.)
"""

from __future__ import annotations

import torch

from .errors import check_image, check_mask


def apply_mask(x: torch.Tensor, mask: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """Blank the hole: ``x * (1 - mask) + fill * mask``.

    Args:
        x: images ``(N, C, H, W)`` in ``[0, 1]``.
        mask: ``(N, 1, H, W)`` or shaped like ``x``; 1 = missing.
        fill: value written into the hole.
    """
    check_image(x, "x", value_range=False)
    mask = check_mask(mask, like=x)
    return x * (1 - mask) + fill * mask


def composite(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Keep the known pixels of ``x`` and take only the hole from ``x_hat``.

    ``mask * x_hat + (1 - mask) * x``; shapes ``(N, C, H, W)``.
    """
    check_image(x_hat, "x_hat", value_range=False)
    mask = check_mask(mask, like=x)
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat of shape {tuple(x_hat.shape)} must match x of shape {tuple(x.shape)}.")
    return mask * x_hat + (1 - mask) * x
