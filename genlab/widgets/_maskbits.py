"""The mask as the front ends see it: a flat list of ``H*W`` ints, 0 = known, 1 = missing.

Both painter back ends (the anywidget canvas and the ipywidgets button grid)
keep this list in a traitlet called ``mask`` and validate it with
:func:`validate_bits`, so a bad value from Python or from the browser fails the
same way.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import RangeError, ShapeError, describe


def validate_bits(value: object, height: int, width: int) -> list[int]:
    """Check a flat mask list: length ``height*width``, values 0/1 only.

    Raises:
        ShapeError: wrong length or not a flat list.
        RangeError: a value other than 0 or 1.
    """
    bits = list(value)  # traitlets already made it a list of ints
    if len(bits) != height * width:
        raise ShapeError(f"the painter's mask must hold {height}*{width} = {height * width} values "
                         f"(one per pixel, row by row), got {len(bits)}. Set painter.mask with a "
                         f"tensor of shape (1, 1, {height}, {width}) instead of the raw list.")
    bad = [v for v in bits if v not in (0, 1)]
    if bad:
        raise RangeError(f"the painter's mask may only contain 0 (known) and 1 (missing), got "
                         f"{bad[0]!r}. Threshold it first: (mask > 0.5).float().")
    return bits


def tensor_to_bits(mask: object, height: int, width: int) -> list[int]:
    """A mask given as tensor / array / nested list -> flat 0/1 list (validated).

    Accepted shapes: ``(H, W)``, ``(1, H, W)``, ``(1, 1, H, W)``; values 0/1 (floats, ints or bools).

    Raises:
        ShapeError: the mask does not have ``H x W`` pixels (or has a batch of several masks).
        RangeError: values other than 0 and 1 (e.g. 0.5, 255 or -1).
    """
    if isinstance(mask, list | tuple):
        mask = torch.tensor(np.asarray(mask, dtype=np.float32))
    elif isinstance(mask, np.ndarray):
        mask = torch.from_numpy(np.asarray(mask, dtype=np.float32))
    if not isinstance(mask, torch.Tensor):
        raise ShapeError(f"mask must be a tensor of shape (1, 1, {height}, {width}) with 1 = missing, "
                         f"got {describe(mask)}.")
    m = mask.detach().float().cpu()
    while m.dim() > 2 and m.shape[0] == 1:
        m = m[0]       # drop leading batch/channel dims of size 1: (1, 1, H, W) -> (H, W)
    if tuple(m.shape) != (height, width):
        raise ShapeError(f"mask must be {height}x{width} pixels like the image, shaped (1, 1, {height}, "
                         f"{width}) or ({height}, {width}); got shape {tuple(mask.shape)}. One mask at a "
                         "time: pick one with mask[i:i+1].")
    if not torch.all((m == 0) | (m == 1)):
        bad = m[(m != 0) & (m != 1)]
        raise RangeError(f"mask must contain only 0 (known) and 1 (missing); got a value of "
                         f"{float(bad[0]):.3g} (range [{float(m.min()):.3g}, {float(m.max()):.3g}]). "
                         "Threshold it: (mask > 0.5).float().")
    return [int(v) for v in m.flatten().tolist()]


def bits_to_tensor(bits: list[int], height: int, width: int) -> torch.Tensor:
    """Flat 0/1 list -> float mask ``(1, 1, H, W)`` (library convention, 1 = missing)."""
    return torch.tensor(bits, dtype=torch.float32).reshape(1, 1, height, width)


def disc(bits: list[int], height: int, width: int, row: int, col: int, brush: int, value: int) -> list[int]:
    """Set the pixels whose centres lie in a disc of diameter ``brush`` around pixel (row, col).

    Same rule as the canvas (painter.js ``stamp``), so a click in the fallback
    grid and a click on the canvas mark the same pixels.
    """
    out = list(bits)
    y, x = row + 0.5, col + 0.5
    rad = max(0.5, brush / 2)
    for i in range(max(0, int(np.floor(y - rad))), min(height - 1, int(np.ceil(y + rad))) + 1):
        for j in range(max(0, int(np.floor(x - rad))), min(width - 1, int(np.ceil(x + rad))) + 1):
            if (i + 0.5 - y) ** 2 + (j + 0.5 - x) ** 2 <= rad * rad + 1e-9:
                out[i * width + j] = value
    out[row * width + col] = value
    return out
