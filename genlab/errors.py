"""Errors that teach: each says what was expected, what came, and how to fix it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported only where a tensor is checked: `genlab --help` stays fast
    import torch


class GenlabError(Exception):
    """Base class of every error genlab raises on purpose."""


class ShapeError(GenlabError, ValueError):
    """A tensor has the wrong shape, dtype or number of channels."""


class RangeError(GenlabError, ValueError):
    """A tensor's values are outside the range the function needs."""


class DataMissingError(GenlabError, FileNotFoundError):
    """A dataset is not on disk and cannot be downloaded now."""


class CheckpointError(GenlabError, RuntimeError):
    """A checkpoint is corrupted, truncated or belongs to another model."""


class NotALabError(GenlabError, ValueError):
    """A notebook is not a genlab lab (or not a notebook at all)."""


class BuildError(GenlabError, ValueError):
    """A notebook source has unbalanced or nested solution markers."""


def describe(x: object) -> str:
    """A short description of a value for error messages."""
    torch = sys.modules.get("torch")  # a tensor exists only if torch was imported
    if torch is not None and isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)}, dtype {x.dtype}"
    return f"{type(x).__name__}"


def check_image(x: object, name: str = "x", *, channels: int | None = None,
                size: int | tuple[int, int] | None = None, value_range: bool = True) -> torch.Tensor:
    """Validate an image batch ``(N, C, H, W)`` of floats in ``[0, 1]``.

    Raises:
        ShapeError: not a 4-D floating tensor, or wrong channels/size.
        RangeError: values outside ``[0, 1]`` (when ``value_range``).
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise ShapeError(f"{name} must be a torch.Tensor of shape (N, C, H, W), got {describe(x)}.")
    if x.dim() != 4:
        hint = " Add a batch dimension with x.unsqueeze(0)." if x.dim() == 3 else ""
        raise ShapeError(f"{name} must have shape (N, C, H, W), got shape {tuple(x.shape)}.{hint}")
    if not x.is_floating_point():
        raise ShapeError(f"{name} must be a floating tensor with values in [0, 1], got dtype {x.dtype}. "
                         "Convert with x.float() / 255.")
    if channels is not None and x.shape[1] != channels:
        raise ShapeError(f"{name} must have {channels} channel(s), got {x.shape[1]} "
                         f"(shape {tuple(x.shape)}).")
    if size is not None:
        hw = (size, size) if isinstance(size, int) else tuple(size)
        if tuple(x.shape[-2:]) != hw:
            raise ShapeError(f"{name} must be {hw[0]}x{hw[1]} pixels, got {x.shape[-2]}x{x.shape[-1]}.")
    if value_range and x.numel():
        lo, hi = float(x.min()), float(x.max())
        if lo < -1e-6 or hi > 1 + 1e-6 or x.isnan().any():
            raise RangeError(f"{name} must hold values in [0, 1], got min {lo:.3g}, max {hi:.3g}. "
                             "Images in genlab are floats in [0, 1]; divide uint8 images by 255.")
    return x


def check_mask(mask: object, like: torch.Tensor | None = None, name: str = "mask") -> torch.Tensor:
    """Validate a mask: floats in {0, 1}, 1 = missing, shaped ``(N, 1, H, W)`` or like the image.

    Raises:
        ShapeError: wrong rank, or does not broadcast to ``like``'s batch and size.
        RangeError: values other than 0 and 1.
    """
    import torch

    if not isinstance(mask, torch.Tensor):
        raise ShapeError(f"{name} must be a torch.Tensor of shape (N, 1, H, W), got {describe(mask)}.")
    if mask.dim() != 4:
        raise ShapeError(f"{name} must have shape (N, 1, H, W) (1 = missing), got shape {tuple(mask.shape)}.")
    if like is not None:
        n, c, h, w = like.shape
        ok = (mask.shape[0] in (1, n) and mask.shape[1] in (1, c) and tuple(mask.shape[-2:]) == (h, w))
        if not ok:
            raise ShapeError(f"{name} of shape {tuple(mask.shape)} does not match the image of shape "
                             f"{tuple(like.shape)}: expected (N, 1, H, W) with N={n}, H={h}, W={w}.")
    if mask.numel() and not torch.all((mask == 0) | (mask == 1)):
        raise RangeError(f"{name} must contain only 0 (known) and 1 (missing); got values in "
                         f"[{float(mask.min()):.3g}, {float(mask.max()):.3g}]. Threshold it: (mask > 0.5).float().")
    return mask.float() if not mask.is_floating_point() else mask
