"""Training dashboard: live loss curves and a sample grid, updated in place while ``genlab.train.fit`` runs.

Used by the training cells of every lab::

    dash = TrainingDashboard(every=50)
    history = fit(task, data, epochs=10, callbacks=[dash])

It is a callback (``on_step(ctx)`` / ``on_epoch_end(ctx)``). In a notebook
kernel it displays one widget on the first update and then redraws it in
place (ipywidgets ``Image`` values, which JupyterLab, Notebook, VS Code and
Colab all update without new output). In fast mode (``GENLAB_FAST=1``) it only
records the losses, and outside a kernel (scripts, pytest) it never displays.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import torch

from ..config import is_fast
from . import _render


def _get(ctx: Any, *names: str) -> Any:
    """First attribute (or mapping key) of ``ctx`` among ``names`` that is present and not empty."""
    for name in names:
        v = ctx.get(name) if isinstance(ctx, Mapping) else getattr(ctx, name, None)
        if v is not None and not (isinstance(v, Mapping) and not v):
            return v
    return None


def _scalar(v: Any) -> float:
    return float(v.detach()) if isinstance(v, torch.Tensor) else float(v)


class TrainingDashboard:
    """Callback for ``genlab.train.fit`` that draws loss curves and samples in place.

    Args:
        every: redraw the curves every ``every`` optimisation steps (and at each epoch end).
        samples: how many samples in the grid (0: no grid).
        sample_fn: ``sample_fn(ctx) -> images (N, C, H, W)`` in [0, 1]; by default the dashboard
            tries ``ctx.task.sample(n)``, then ``model.sample(n, generator=...)`` (VAEs) with a fixed
            seed so successive grids are comparable.
        keys: which losses to plot (default: every scalar in the step's losses).
        show: display in the notebook; default ``None`` = only inside a kernel and not in fast mode.
        render: draw the PNGs; default ``None`` = not in fast mode. Tests force it.
        logy: logarithmic loss axis.

    Attributes:
        steps, losses: recorded step numbers and ``{name: [values]}`` (always kept, even in fast mode).
        curves_png, samples_png: the latest rendered pictures (bytes, empty until drawn).
        n_renders: how many times the picture was redrawn.
    """

    def __init__(self, every: int = 50, samples: int = 16, sample_fn: Callable[[Any], torch.Tensor] | None = None,
                 keys: Sequence[str] | None = None, show: bool | None = None, render: bool | None = None,
                 logy: bool = False, seed: int = 0):
        if every < 1:
            raise ValueError(f"every must be a positive number of steps, got {every}.")
        self.every, self.n_samples, self.sample_fn = int(every), int(samples), sample_fn
        self.keys = list(keys) if keys is not None else None
        self.show = (_render.in_kernel() and not is_fast()) if show is None else bool(show)
        self.render = (not is_fast()) if render is None else bool(render)
        self.logy, self.seed = logy, seed
        self._steps: list[int] = []
        self._losses: dict[str, list[float]] = {}
        self._pending: list[tuple[int, dict[str, Any]]] = []
        self.epoch_ends: list[int] = []
        self.curves_png = b""
        self.samples_png = b""
        self.n_renders = 0
        self.displayed = False
        self._count = 0
        self.curves = widgets.Image(format="png", layout=widgets.Layout(width="420px"))
        self.samples = widgets.Image(format="png", layout=widgets.Layout(width="260px"))
        self.label = widgets.HTML()
        self.widget = widgets.VBox([self.label, widgets.HBox([self.curves, self.samples])])

    def _ipython_display_(self) -> None:
        _render.display_widget(self.widget)
        self.displayed = True

    # ----------------------------------------------------------- callbacks
    def on_step(self, ctx: Any) -> None:
        """Record this step's losses; redraw the curves every ``every`` steps.

        Losses are kept as (possibly GPU) tensors until the next redraw and converted in one go,
        so the dashboard does not force a device synchronisation at every step.
        """
        self._count += 1
        step = _get(ctx, "step", "global_step")
        step = int(step) if step is not None else self._count
        losses = _get(ctx, "last_losses", "losses", "logs", "metrics")
        if not isinstance(losses, Mapping):
            losses = {} if _get(ctx, "loss") is None else {"loss": _get(ctx, "loss")}
        row = {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in losses.items()
               if (self.keys is None or k in self.keys)
               and ((isinstance(v, torch.Tensor) and v.numel() == 1)
                    or (isinstance(v, int | float) and not isinstance(v, bool)))}
        if row:
            self._pending.append((step, row))
        if self._count % self.every == 0:
            self.update(ctx, with_samples=False)

    def _flush(self) -> None:
        """Move pending per-step losses into :attr:`steps` / :attr:`_losses` as floats."""
        for step, row in self._pending:
            self._steps.append(step)
            for k in list(self._losses) + [k for k in row if k not in self._losses]:
                # Keep every curve as long as self._steps (NaN where a loss was not reported).
                v = row.get(k, math.nan)
                self._losses.setdefault(k, [math.nan] * (len(self._steps) - 1)).append(_scalar(v))
        self._pending.clear()

    @property
    def steps(self) -> list[int]:
        """Step numbers of the recorded losses."""
        self._flush()
        return self._steps

    @property
    def losses(self) -> dict[str, list[float]]:
        """Recorded losses ``{name: [value per recorded step]}`` (aligned with :attr:`steps`)."""
        self._flush()
        return self._losses

    def on_epoch_end(self, ctx: Any) -> None:
        """Redraw curves and samples."""
        self._flush()
        self.epoch_ends.append(self._steps[-1] if self._steps else self._count)
        self.update(ctx, with_samples=True)

    def on_train_end(self, ctx: Any) -> None:
        """Final redraw (in case the last epoch ended between two ``every`` marks)."""
        self.update(ctx, with_samples=True)

    # ------------------------------------------------------------ drawing
    def update(self, ctx: Any = None, with_samples: bool = True) -> None:
        """Redraw now (if rendering is on) and display the widget once (if showing is on)."""
        self._flush()
        epoch = _get(ctx, "epoch") if ctx is not None else None
        # fit's ctx.epoch counts from 0 while running; the label counts from 1, like the
        # progress bar and History, so the last of 60 epochs reads "epoch 60".
        epoch = epoch + 1 if isinstance(epoch, int) and not isinstance(epoch, bool) else epoch
        step = self._steps[-1] if self._steps else 0
        last = ", ".join(f"{k} {v[-1]:.4g}" for k, v in self._losses.items() if v)
        self.label.value = (f"<b>epoch {epoch}</b>, " if epoch is not None else "") + f"step {step}: {last}"
        if not self.render:
            return
        self.curves_png = self._plot_curves()
        self.curves.value = self.curves_png
        if with_samples and self.n_samples:
            imgs = self._samples(ctx)
            if imgs is not None:
                g = _render.grid(imgs, nrow=int(math.ceil(math.sqrt(imgs.shape[0]))))
                self.samples_png = _render.png_bytes(g, max(1, 200 // max(g.shape[-2:])))
                self.samples.value = self.samples_png
        self.n_renders += 1
        if self.show and not self.displayed:
            self._ipython_display_()

    def _plot_curves(self) -> bytes:
        # A bare Figure (no pyplot): nothing is registered with the notebook's inline backend,
        # so the plot never shows up twice and never leaks figures.
        from matplotlib.figure import Figure
        fig = Figure(figsize=(4.2, 2.6), dpi=100)
        ax = fig.add_subplot(1, 1, 1)
        for k, v in self._losses.items():
            ax.plot(self._steps, v, label=k, linewidth=1.2)
        for s in self.epoch_ends:
            ax.axvline(s, color="#bbb", linewidth=0.6, zorder=0)
        ax.set_xlabel("step")
        if self.logy:
            ax.set_yscale("log")
        if self._losses:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()

    def _samples(self, ctx: Any) -> torch.Tensor | None:
        n = self.n_samples
        try:
            if self.sample_fn is not None:
                out = self.sample_fn(ctx)
            else:
                task = _get(ctx, "task") if ctx is not None else None
                model = _get(task, "model") if task is not None else None
                if task is not None and callable(getattr(task, "sample", None)):
                    rng = getattr(task, "generator", None)
                    state = rng.get_state() if isinstance(rng, torch.Generator) else None
                    try:
                        out = task.sample(n)
                    finally:   # drawing previews must not shift the training noise
                        if state is not None:
                            rng.set_state(state)
                elif model is not None and callable(getattr(model, "sample", None)):
                    gen = torch.Generator().manual_seed(self.seed)  # the same noise every epoch
                    with torch.no_grad():
                        out = model.sample(n, generator=gen)
                else:
                    return None
        except Exception as err:  # a sampling hiccup must not stop training
            self.label.value += f' <span style="color:#b00">(samples: {type(err).__name__}: {err})</span>'
            return None
        if not isinstance(out, torch.Tensor) or out.dim() != 4:
            return None
        return out.detach().float().cpu().clamp(0, 1)[:n]
