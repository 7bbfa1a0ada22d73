"""Masks and corruptions. Convention: a mask is 1 where a pixel is missing (the hole), 0 where known.

Developed in course/05_restoration (lab 05); the setup tour (course/00_setup)
shows them as pictures.

Every generator returns a float tensor of shape ``(B, 1, size, size)`` with values
in {0, 1}; it broadcasts over the channels of an image batch ``(B, C, size, size)``.
Randomness goes through an optional ``generator: torch.Generator | None``; the
mask is created on the generator's device (the CPU when none is given).

Why several kinds: a random-pixel mask on smooth images is nearly trivial to
fill (each hole has known neighbours), so evaluate on hard masks - blocks, row
bands, strokes - where the model must invent structure.
"""

from __future__ import annotations

import inspect
import math
import operator
from collections.abc import Callable

import torch

from .errors import RangeError, check_image, check_mask, describe

__all__ = [
    "MASK_KINDS",
    "apply_mask",
    "block_mask",
    "center_block",
    "column_mask",
    "composite",
    "square_symmetry",
    "gaussian_noise",
    "make_mask",
    "pixel_mask",
    "row_band",
    "salt_and_pepper",
    "scattered_rows",
    "stroke_mask",
]


# --------------------------------------------------------------------------- validation

def _check_int(value: object, name: str, low: int, high: int | None = None) -> int:
    """``value`` must be an int in ``[low, high]``; say what came otherwise."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got the bool {value!r}.")
    if not isinstance(value, int):
        # Accept 0-d integer tensors and numpy ints, which notebooks produce easily.
        try:
            value = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(f"{name} must be an int, got {describe(value)} ({value!r}).") from None
    if value < low or (high is not None and value > high):
        upper = f" and <= {high}" if high is not None else ""
        raise ValueError(f"{name} must be >= {low}{upper}, got {value}.")
    return int(value)


def _check_prob(p: object, name: str = "p") -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"{name} must be a number in [0, 1], got {describe(p)}.")
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p}.")
    return p


def _check_generator(generator: object) -> torch.device:
    """The device to draw on: the generator's device, or the CPU."""
    if generator is None:
        return torch.device("cpu")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {describe(generator)}. "
                        "Make one with torch.Generator().manual_seed(0).")
    return generator.device


def _check_batch_size(batch: object, size: object) -> tuple[int, int]:
    return _check_int(batch, "batch", 1), _check_int(size, "size", 1)


# --------------------------------------------------------------------------- block masks

def _square_at(batch: int, size: int, hole: int, top: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
    """Rasterise one ``hole x hole`` square per image with top-left corner ``(top, left)``.

    ``top``, ``left``: integer tensors ``(B,)``. Built by broadcasting (no Python loop):
    pixel ``(i, j)`` is in the hole when ``top <= i < top + hole`` and the same for ``j``.
    """
    idx = torch.arange(size, device=top.device)
    in_rows = (idx >= top[:, None]) & (idx < top[:, None] + hole)      # (B, size)
    in_cols = (idx >= left[:, None]) & (idx < left[:, None] + hole)    # (B, size)
    return (in_rows[:, :, None] & in_cols[:, None, :]).float().unsqueeze(1)  # (B, 1, size, size)


def center_block(batch: int, size: int, hole: int) -> torch.Tensor:
    """One centred ``hole x hole`` square hole per image (the same for every image).

    The top-left corner is at ``((size - hole) // 2, (size - hole) // 2)``.

    Args:
        batch: number of masks ``B >= 1``.
        size: image side in pixels.
        hole: side of the square hole, ``1 <= hole <= size``.

    Returns:
        ``(B, 1, size, size)`` float mask, exactly ``hole**2`` ones per image.
    """
    batch, size = _check_batch_size(batch, size)
    hole = _check_int(hole, "hole", 1, size)
    start = torch.full((batch,), (size - hole) // 2, dtype=torch.long)
    return _square_at(batch, size, hole, start, start)


def block_mask(batch: int, size: int, hole: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """One random ``hole x hole`` square per image, always fully inside the image.

    The top-left corner is uniform on ``{0, ..., size - hole}^2``, drawn per image.

    Args:
        batch: number of masks ``B >= 1``.
        size: image side in pixels.
        hole: side of the square hole, ``1 <= hole <= size``.
        generator: optional ``torch.Generator`` for reproducible masks.

    Returns:
        ``(B, 1, size, size)`` float mask, exactly ``hole**2`` ones per image.
    """
    batch, size = _check_batch_size(batch, size)
    hole = _check_int(hole, "hole", 1, size)
    dev = _check_generator(generator)
    corner = torch.randint(0, size - hole + 1, (2, batch), generator=generator, device=dev)
    return _square_at(batch, size, hole, corner[0], corner[1])


# --------------------------------------------------------------------------- rows and columns

def _band(batch: int, size: int, width: int, generator: torch.Generator | None) -> torch.Tensor:
    """``(B, size)`` boolean: ``width`` adjacent True entries at a random start per image."""
    dev = _check_generator(generator)
    start = torch.randint(0, size - width + 1, (batch,), generator=generator, device=dev)
    idx = torch.arange(size, device=dev)
    return (idx >= start[:, None]) & (idx < start[:, None] + width)


def row_band(batch: int, size: int, rows: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A band of ``rows`` adjacent whole rows missing, at a random height per image.

    Args:
        batch: number of masks ``B >= 1``.
        size: image side in pixels.
        rows: height of the band, ``1 <= rows <= size``.
        generator: optional ``torch.Generator``.

    Returns:
        ``(B, 1, size, size)`` float mask with exactly ``rows * size`` ones per image.
    """
    batch, size = _check_batch_size(batch, size)
    rows = _check_int(rows, "rows", 1, size)
    band = _band(batch, size, rows, generator)                      # (B, H)
    return band[:, None, :, None].float().expand(batch, 1, size, size).contiguous()


def column_mask(batch: int, size: int, cols: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A band of ``cols`` adjacent whole columns missing, at a random position per image.

    The transpose of :func:`row_band` (the same draws from ``generator``): ``cols``, the
    width of the band, ``1 <= cols <= size``; exactly ``cols * size`` ones per image.
    """
    batch, size = _check_batch_size(batch, size)
    cols = _check_int(cols, "cols", 1, size)
    return row_band(batch, size, cols, generator).transpose(2, 3).contiguous()


def scattered_rows(batch: int, size: int, rows: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``rows`` distinct whole rows missing, chosen uniformly at random per image.

    Sampling without replacement: rank ``size`` uniform draws per image and keep
    the ``rows`` smallest (a random permutation's first ``rows`` entries).

    Arguments and result as :func:`row_band`, ``rows`` (``1 <= rows <= size``) being the number
    of missing rows, which need not be adjacent.
    """
    batch, size = _check_batch_size(batch, size)
    rows = _check_int(rows, "rows", 1, size)
    dev = _check_generator(generator)
    chosen = torch.rand(batch, size, generator=generator, device=dev).argsort(dim=1)[:, :rows]  # (B, rows)
    picked = torch.zeros(batch, size, device=dev).scatter_(1, chosen, 1.0)                     # (B, H)
    return picked[:, None, :, None].expand(batch, 1, size, size).contiguous()


# --------------------------------------------------------------------------- strokes and pixels

def _segment_distance(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance from points ``p`` to segments ``a -> b``; all ``(..., 2)``, broadcast; returns ``(...)``.

    Project onto the segment and clamp: ``t = clamp(<p - a, b - a> / |b - a|^2, 0, 1)``,
    distance ``|p - (a + t (b - a))|``.
    """
    ab, ap = b - a, p - a
    denom = (ab * ab).sum(-1).clamp_min(1e-12)          # a zero-length segment is a point
    t = ((ap * ab).sum(-1) / denom).clamp(0.0, 1.0)
    return (ap - t[..., None] * ab).norm(dim=-1)


def stroke_mask(batch: int, size: int, strokes: int = 3, width: int = 2, steps: int | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Free-hand strokes, like a user scribbling over a photo.

    Each stroke is a random walk with momentum: it starts at a random pixel, and
    at each of ``steps`` steps turns by ``N(0, 0.6^2)`` radians and moves
    ``max(1, size / 8)`` pixels (clamped to the image). A pixel is missing when
    its centre lies within ``width / 2`` of the polyline (and the start pixel
    always is, so no stroke is empty).

    Args:
        batch: number of masks ``B >= 1``.
        size: image side in pixels.
        strokes: strokes per image, ``>= 1``.
        width: pen width in pixels, ``>= 1``.
        steps: segments per stroke, ``>= 1``; default ``max(2, size // 4)``.
        generator: optional ``torch.Generator``.

    Returns:
        ``(B, 1, size, size)`` float mask.
    """
    batch, size = _check_batch_size(batch, size)
    strokes = _check_int(strokes, "strokes", 1)
    width = _check_int(width, "width", 1)
    steps = max(2, size // 4) if steps is None else _check_int(steps, "steps", 1)
    dev = _check_generator(generator)
    step_len = max(1.0, size / 8)

    # Random walks for every stroke of every image at once: (B * strokes, steps + 1, 2).
    n = batch * strokes
    start = torch.randint(0, size, (n, 2), generator=generator, device=dev).float()
    heading = torch.rand(n, 1, generator=generator, device=dev) * 2 * math.pi
    turns = torch.randn(n, steps, generator=generator, device=dev) * 0.6
    angles = heading + turns.cumsum(dim=1)                               # (n, steps)
    moves = torch.stack([angles.sin(), angles.cos()], dim=-1) * step_len  # (n, steps, 2) as (di, dj)
    # Clamp each position as the walk goes, so a stroke that hits the border slides along it.
    points = [start]
    for k in range(steps):
        points.append((points[-1] + moves[:, k]).clamp(0, size - 1))
    walk = torch.stack(points, dim=1).view(batch, strokes * (steps + 1), 2)

    # Rasterise: only pixels near a segment can be hit, so test a small window per segment
    # instead of every pixel. A segment is at most step_len long (clamping never lengthens
    # it), so the pixels within radius r lie in a (step_len + 2r + 2)^2 window from lo.
    radius = width / 2
    seg_a = walk.view(batch, strokes, steps + 1, 2)[:, :, :-1].reshape(batch, -1, 1, 2)  # (B, K, 1, 2)
    seg_b = walk.view(batch, strokes, steps + 1, 2)[:, :, 1:].reshape(batch, -1, 1, 2)
    win = math.ceil(step_len + 2 * radius) + 2
    offs = torch.arange(win, device=dev)
    grid = torch.stack(torch.meshgrid(offs, offs, indexing="ij"), dim=-1).view(1, 1, -1, 2)  # (1, 1, win^2, 2)
    lo = (torch.minimum(seg_a, seg_b) - radius).floor().long()
    cand = lo + grid                                                     # (B, K, win^2, 2) pixel coords
    hit = _segment_distance(cand.float(), seg_a, seg_b) <= radius
    hit &= ((cand >= 0) & (cand < size)).all(dim=-1)
    img = torch.arange(batch, device=dev).view(batch, 1, 1).expand_as(hit)
    flat = cand[..., 0] * size + cand[..., 1]
    out = torch.zeros(batch, size * size, device=dev)
    out[img[hit], flat[hit]] = 1.0
    return out.view(batch, 1, size, size)


def pixel_mask(batch: int, size: int, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each pixel missing independently with probability ``p`` (Bernoulli(p)).

    Easy to fill on smooth images - use it as a warm-up, not as an evaluation.

    Args:
        batch: number of masks ``B >= 1``.
        size: image side in pixels.
        p: probability that a pixel is missing, ``0 <= p <= 1``.
        generator: optional ``torch.Generator``.

    Returns:
        ``(B, 1, size, size)`` float mask; ``E[mean] = p``.
    """
    batch, size = _check_batch_size(batch, size)
    p = _check_prob(p, "p")
    dev = _check_generator(generator)
    return (torch.rand(batch, 1, size, size, generator=generator, device=dev) < p).float()


# --------------------------------------------------------------------------- dispatch

_MASK_FUNCS: dict[str, Callable[..., torch.Tensor]] = {
    "center": center_block,
    "block": block_mask,
    "rows": row_band,
    "scattered_rows": scattered_rows,
    "columns": column_mask,
    "strokes": stroke_mask,
    "pixels": pixel_mask,
}

#: The names :func:`make_mask` understands.
MASK_KINDS: tuple[str, ...] = tuple(_MASK_FUNCS)


def _defaults(kind: str, size: int) -> dict[str, object]:
    """Sensible sizes when the caller gives none: a quarter to a half of the image."""
    quarter = max(1, size // 4)
    return {
        "center": {"hole": max(1, size // 2)},
        "block": {"hole": max(1, size // 2)},
        "rows": {"rows": quarter},
        "scattered_rows": {"rows": quarter},
        "columns": {"cols": quarter},
        "strokes": {},
        "pixels": {"p": 0.5},
    }[kind]


def make_mask(kind: str, batch: int, size: int, generator: torch.Generator | None = None,
              **kw: object) -> torch.Tensor:
    """Make a batch of masks by name.

    Args:
        kind: one of :data:`MASK_KINDS`: ``"center"``, ``"block"``, ``"rows"``,
            ``"scattered_rows"``, ``"columns"``, ``"strokes"``, ``"pixels"``.
        batch: number of masks.
        size: image side in pixels.
        generator: optional ``torch.Generator`` (ignored by ``"center"``, which is fixed).
        **kw: the kind's own parameters (``hole``, ``rows``, ``cols``, ``strokes``,
            ``width``, ``steps``, ``p``); missing ones get defaults (half the image
            for blocks, a quarter for rows/columns, ``p = 0.5``).

    Returns:
        ``(B, 1, size, size)`` float mask, 1 = missing.

    Example:
        ``make_mask("block", 16, 28, hole=12, generator=torch.Generator().manual_seed(0))``
    """
    if kind not in _MASK_FUNCS:
        raise ValueError(f"unknown mask kind {kind!r}; expected one of {', '.join(MASK_KINDS)}.")
    fn = _MASK_FUNCS[kind]
    accepted = [name for name in inspect.signature(fn).parameters if name not in ("batch", "size", "generator")]
    unknown = sorted(set(kw) - set(accepted))
    if unknown:
        raise TypeError(f"mask kind {kind!r} does not take {', '.join(unknown)}; "
                        f"it takes: {', '.join(accepted) or 'no extra parameters'}.")
    size_int = _check_int(size, "size", 1)
    params = {**_defaults(kind, size_int), **kw}
    if kind != "center":
        params["generator"] = generator
    return fn(batch, size_int, **params)


# --------------------------------------------------------------------------- using masks

def apply_mask(x: torch.Tensor, mask: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """Blank the hole: ``x * (1 - mask) + fill * mask``.

    Args:
        x: images ``(N, C, H, W)`` in ``[0, 1]``.
        mask: ``(N, 1, H, W)`` or shaped like ``x``; 1 = missing.
        fill: value written into the hole.

    Returns:
        Tensor shaped like ``x``.
    """
    check_image(x, "x", value_range=False)
    mask = check_mask(mask, like=x)
    return x * (1 - mask) + fill * mask


def composite(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor, *,
              check_values: bool = True) -> torch.Tensor:
    """Keep the known pixels of ``x`` and take only the hole from ``x_hat``.

    ``mask * x_hat + (1 - mask) * x``; shapes ``(N, C, H, W)``.

    Args:
        check_values: verify the mask holds only 0 and 1. Models pass ``False`` in
            their forward pass: shapes are still checked, but reading the values back
            would stall a GPU on every step.
    """
    check_image(x_hat, "x_hat", value_range=False)
    if check_values:
        mask = check_mask(mask, like=x)
    elif not isinstance(mask, torch.Tensor) or mask.dim() != 4 or mask.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"mask must be a (N, 1, H, W) tensor matching x of shape {tuple(x.shape)}; "
                         f"got {getattr(mask, 'shape', type(mask).__name__)}.")
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat of shape {tuple(x_hat.shape)} must match x of shape {tuple(x.shape)}.")
    return mask * x_hat + (1 - mask) * x


# --------------------------------------------------------------------------- corruptions

def gaussian_noise(x: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Additive white Gaussian noise, clamped back to the image range.

    ``y = clamp(x + sigma * eps, 0, 1)``, ``eps ~ N(0, I)``.

    Args:
        x: images ``(N, C, H, W)`` in ``[0, 1]``.
        sigma: noise standard deviation, ``>= 0`` (in units of the ``[0, 1]`` range).
        generator: optional ``torch.Generator`` on ``x``'s device.

    Returns:
        Noisy images shaped like ``x``, in ``[0, 1]``.
    """
    check_image(x, "x")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)):
        raise TypeError(f"sigma must be a number >= 0, got {describe(sigma)}.")
    if sigma < 0:
        raise RangeError(f"sigma must be >= 0 (a standard deviation), got {sigma}.")
    _check_generator(generator)
    eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + float(sigma) * eps).clamp(0.0, 1.0)


def salt_and_pepper(x: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Impulse noise: each pixel becomes white (salt) or black (pepper) with probability ``p``.

    A hit pixel is set to 1 or 0 with equal chance, in all channels at once (a
    dead or stuck sensor pixel), so colour images get white and black dots.

    Args:
        x: images ``(N, C, H, W)`` in ``[0, 1]``.
        p: fraction of pixels hit, ``0 <= p <= 1``.
        generator: optional ``torch.Generator`` on ``x``'s device.

    Returns:
        Corrupted images shaped like ``x``.
    """
    check_image(x, "x")
    p = _check_prob(p, "p")
    _check_generator(generator)
    n, _, h, w = x.shape
    hit = torch.rand(n, 1, h, w, generator=generator, device=x.device) < p
    salt = torch.rand(n, 1, h, w, generator=generator, device=x.device) < 0.5
    return torch.where(hit, salt.to(x.dtype), x)


def square_symmetry(t: torch.Tensor, k: int, *, inverse: bool = False) -> torch.Tensor:
    """Symmetry ``k`` (0-7) of the square applied to the last two dimensions of ``t``.

    Bit 4 transposes, bit 2 flips left-right, bit 1 flips up-down, in that order; ``k = 0``
    is the identity. ``inverse=True`` undoes symmetry ``k`` (the same steps in reverse order).
    Images, masks and fills turned by the same ``k`` stay aligned: the mask augmentation of
    ``genlab.train.FillRepairTask`` and the self-ensemble of ``genlab.restoration``.
    """
    if not 0 <= int(k) < 8:
        raise ValueError(f"a symmetry of the square is a number 0-7, got {k!r}.")
    steps = [(4, lambda a: a.transpose(-1, -2)), (2, lambda a: a.flip(-1)), (1, lambda a: a.flip(-2))]
    for bit, step in reversed(steps) if inverse else steps:
        if k & bit:
            t = step(t)
    return t

