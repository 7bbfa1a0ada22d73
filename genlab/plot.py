"""Pictures the notebooks draw: image grids, before/after rows, loss curves, latent maps.

Used from course/00_setup onward. Every function returns a :class:`Drawn` handle on the
matplotlib Figure (``.figure``; ``savefig`` and the other Figure methods work on it
directly) and draws nothing when called with ``show=False``. The handle shows nothing
when it is the last line of a cell: Jupyter already draws the figure once, and returning
the Figure itself would draw it a second time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


class Drawn:
    """A drawn matplotlib Figure that Jupyter does not display a second time.

    Attribute access is forwarded to the Figure (``drawn.savefig(...)``, ``drawn.axes``).
    """

    def __init__(self, figure) -> None:
        self.figure = figure

    def __getattr__(self, name: str):
        return getattr(self.figure, name)

    def _ipython_display_(self) -> None:
        """Show nothing: the inline backend draws the figure itself at the end of the cell."""

    def __repr__(self) -> str:
        return f"Drawn({len(self.figure.axes)} axes)"


def _to_numpy_grid(x: torch.Tensor, nrow: int, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> one (rows*H, nrow*W[, 3]) array with white gutters."""
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(x.shape)}")
    x = x.detach().float().cpu().clamp(0, 1)
    n, c, h, w = x.shape
    ncol = max(1, min(nrow, n))
    nrows = math.ceil(n / ncol)
    grid = torch.full((c, nrows * (h + pad) + pad, ncol * (w + pad) + pad), pad_value)
    for i in range(n):
        r, k = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[:, top:top + h, left:left + w] = x[i]
    arr = grid.numpy()
    return arr[0] if c == 1 else arr.transpose(1, 2, 0)


def show_grid(x: torch.Tensor, nrow: int = 8, title: str | None = None, ax=None,
              scale: float = 0.6, show: bool = True):
    """Show a batch of images (N, C, H, W) in [0, 1] as one grid.

    Args:
        x: images; 1 or 3 channels.
        nrow: images per row.
        title: optional title.
        ax: draw into this Axes instead of a new figure.
        scale: inches per image.
    Returns:
        A :class:`Drawn` handle on the matplotlib Figure.
    """
    grid = _to_numpy_grid(x, nrow)
    if ax is None:
        n = x.shape[0]
        cols, rows = min(nrow, n), math.ceil(n / max(1, min(nrow, n)))
        fig, ax = plt.subplots(figsize=(max(2.0, cols * scale), max(1.2, rows * scale + (0.3 if title else 0))))
    else:
        fig = ax.figure
    ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    if show and ax is not None and fig is not None:
        fig.tight_layout()
    return Drawn(fig)


def show_rows(rows: Mapping[str, torch.Tensor], n: int = 8, title: str | None = None,
              scale: float = 0.7, show: bool = True):
    """Show several batches as labelled rows: e.g. {"input": x, "corrupted": xc, "model": x_hat}.

    Each value is (N, C, H, W) in [0, 1]; the first ``n`` images of each row are drawn,
    so column k of every row shows the same example.
    """
    names = list(rows)
    fig, axes = plt.subplots(len(names), 1, figsize=(n * scale + 1.2, len(names) * scale + 0.4),
                             squeeze=False)
    for ax, name in zip(axes[:, 0], names, strict=True):
        ax.imshow(_to_numpy_grid(rows[name][:n], n), cmap="gray" if rows[name].shape[1] == 1 else None,
                  vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return Drawn(fig)


def plot_history(history, keys: Sequence[str] | None = None, title: str | None = None,
                 ax=None, logy: bool = False):
    """Plot per-epoch (or per-step) curves from a History, a dict of lists, or its ``to_dict()``.

    Args:
        history: object with ``to_dict()`` or a mapping ``name -> list of numbers``; a mapping
            with an ``"epochs"`` entry of such a mapping is used as the curves.
        keys: which curves; default all numeric lists.
    """
    data = history.to_dict() if hasattr(history, "to_dict") else dict(history)
    if "epochs" in data and isinstance(data["epochs"], Mapping):
        data = data["epochs"]
    keys = list(keys) if keys is not None else [k for k, v in data.items()
                                               if isinstance(v, Sequence) and v and
                                               isinstance(v[0], int | float)]
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3))
    else:
        fig = ax.figure
    for k in keys:
        ax.plot(range(1, len(data[k]) + 1), data[k], label=k, marker="o" if len(data[k]) < 30 else None)
    ax.set_xlabel("epoch")
    if logy:
        ax.set_yscale("log")
    if keys:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return Drawn(fig)


def latent_scatter(z: torch.Tensor, y: torch.Tensor | None = None, title: str | None = None, ax=None):
    """Scatter a 2-D latent code (N, 2), coloured by label when given."""
    z = z.detach().float().cpu()
    if z.dim() != 2 or z.shape[1] < 2:
        raise ValueError(f"z must have shape (N, 2) (or more columns; the first two are drawn), got {tuple(z.shape)}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 4))
    else:
        fig = ax.figure
    sc = ax.scatter(z[:, 0], z[:, 1], c=None if y is None else y.cpu(), cmap="tab10", s=6, alpha=0.8)
    if y is not None:
        fig.colorbar(sc, ax=ax, ticks=range(10), label="class")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return Drawn(fig)
