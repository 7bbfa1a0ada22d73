"""Checks for lab 00 (warm-up, ungraded)."""

from __future__ import annotations

import torch

from ._core import call, expect_close, expect_tensor, fail, report


def check_to_course_format(fn) -> bool:
    """uint8 (N, H, W) -> float (N, 1, H, W) in [0, 1]."""
    name = "to_course_format"
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (3, 5, 7), generator=g, dtype=torch.uint8)
    out = expect_tensor(name, call(name, fn, images.clone()), (3, 1, 5, 7))
    if not out.is_floating_point():
        fail(name, "a floating tensor", f"dtype {out.dtype}", "convert with .float() before dividing")
    if float(out.max()) > 1.0:
        fail(name, "values in [0, 1]", f"max {float(out.max()):.3g}", "divide by 255")
    expect_close(name, out, images.unsqueeze(1).float() / 255, "divide by 255, not 256")
    return report(name)


def check_missing_fraction(fn) -> bool:
    """Per-image fraction of mask pixels equal to 1."""
    name = "missing_fraction"
    mask = torch.zeros(4, 1, 4, 4)
    mask[0] = 1
    mask[1, :, :2] = 1
    mask[2, :, 0, 0] = 1
    out = call(name, fn, mask.clone())
    out = expect_tensor(name, out, (4,))
    expect_close(name, out, torch.tensor([1.0, 0.5, 1 / 16, 0.0]),
                 "one number per image: the mean over channels, rows and columns")
    return report(name)
