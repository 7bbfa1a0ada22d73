r"""Classical inpainting baselines that a learned repairer has to beat.

Both take images ``(N, C, H, W)`` in ``[0, 1]`` and a mask ``(N, 1, H, W)``
or ``(N, C, H, W)`` (1 = missing), and return a tensor like ``x`` whose known
pixels are exactly the input's.

- :func:`mean_fill`: the hole gets the mean colour of the known pixels. The
  floor: any method that does worse has learned nothing.
- :func:`biharmonic`: the hole is filled with the smoothest surface that
  meets the known pixels (solves :math:`\Delta^2 u = 0` in the hole). Strong
  on smooth regions and thin holes, blurry on large holes and strokes.

Developed in course/05_restoration (lab 05).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .errors import check_image, check_mask

__all__ = ["mean_fill", "biharmonic", "BASELINES", "EMPTY_FILL"]

#: Value written into an image (channel) with no known pixel at all: the
#: middle of the ``[0, 1]`` range, the least-wrong guess without information.
EMPTY_FILL = 0.5


def _prepare(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    check_image(x, "x")
    mask = check_mask(mask, like=x)
    # (1 or N, 1 or C, H, W) -> (N, C, H, W) so every channel has its own hole.
    return mask.to(dtype=x.dtype, device=x.device).expand_as(x)


def mean_fill(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""Fill each image's hole with the per-channel mean of its known pixels.

    .. math::

        \hat x_{nc} = (1 - m)\, x_{nc} + m\,
        \frac{\sum_{hw} (1 - m_{nchw})\, x_{nchw}}{\sum_{hw} (1 - m_{nchw})}

    A channel with no known pixel (everything missing) is filled with
    :data:`EMPTY_FILL` = 0.5.

    Developed in course/05_restoration (lab 05).

    Args:
        x: images ``(N, C, H, W)`` in ``[0, 1]``.
        mask: ``(N, 1, H, W)`` or ``(N, C, H, W)``, 1 = missing.

    Returns:
        ``(N, C, H, W)`` like ``x``.
    """
    mask = _prepare(x, mask)
    known = 1 - mask
    count = known.sum(dim=(2, 3), keepdim=True)  # (N, C, 1, 1)
    total = (x * known).sum(dim=(2, 3), keepdim=True)
    mean = torch.where(count > 0, total / count.clamp_min(1.0), torch.full_like(total, EMPTY_FILL))
    return x * known + mean * mask


def _biharmonic_one(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Inpaint one image ``(C, H, W)`` float64 with hole ``(C, H, W)`` bool."""
    from skimage.restoration import inpaint_biharmonic  # lazy: skimage import is slow

    out = image.copy()
    if not hole.any():
        return out
    if np.array_equal(hole, np.broadcast_to(hole[:1], hole.shape)):
        # One hole for all channels: one solve with channel_axis (the system
        # matrix is factorised once and reused for every channel).
        if hole[0].all():
            out[:] = EMPTY_FILL
            return out
        filled = inpaint_biharmonic(np.moveaxis(image, 0, -1), hole[0], channel_axis=-1)
        return np.moveaxis(filled, -1, 0)
    for c in range(image.shape[0]):  # channels with different holes: one solve each
        if hole[c].all():
            out[c] = EMPTY_FILL
        elif hole[c].any():
            out[c] = inpaint_biharmonic(image[c], hole[c])
    return out


def biharmonic(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""Biharmonic inpainting, image by image, with ``skimage.restoration.inpaint_biharmonic``.

    Inside the hole :math:`\Omega` it solves

    .. math::

        \Delta^2 u = 0 \ \text{in}\ \Omega, \qquad u = x \ \text{on the known pixels},

    so linear and quadratic ramps are continued exactly. Values are clipped
    by skimage to the range of the known pixels. An image (or channel) with
    no known pixel is filled with :data:`EMPTY_FILL` = 0.5.

    Runs on the CPU in float64 (tensors on a GPU are copied over and back).
    Speed (one CPU core, measured): about 0.5 ms per 16x16 image with an
    8x8 hole (a sparse solve per hole), so a batch of 64 takes ~35 ms;
    about 1-1.5 ms per 28x28 or 32x32 image with a half-size hole. Fine for
    evaluation batches; too slow to sit inside a training loop on big images.

    Developed in course/05_restoration (lab 05).

    Args:
        x: images ``(N, C, H, W)`` in ``[0, 1]``.
        mask: ``(N, 1, H, W)`` or ``(N, C, H, W)``, 1 = missing.

    Returns:
        ``(N, C, H, W)`` on ``x``'s device with ``x``'s dtype; known pixels
        are ``x``'s exactly.
    """
    mask = _prepare(x, mask)
    images = x.detach().cpu().double().numpy()
    holes = mask.detach().cpu().numpy() > 0.5
    filled = np.stack([_biharmonic_one(images[i], holes[i]) for i in range(images.shape[0])])
    out = torch.from_numpy(filled).to(device=x.device, dtype=x.dtype)
    # Known pixels bit-exact (no float64 round trip on them).
    return torch.where(mask > 0.5, out, x)


#: Name -> baseline, for benchmarks and the restoration notebook.
BASELINES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mean": mean_fill,
    "biharmonic": biharmonic,
}
