r"""Train and evaluate image repairers beside the classical baselines.

Developed in course/05_restoration (lab 05) and used again in course/06_crnn
and by the benchmarks.

The one rule of evaluating a repairer: **score the hole, on held-out images,
under fixed masks, next to the baselines.** A learned repairer that does not
beat the biharmonic baseline (smooth interpolation, :math:`\Delta^2 u = 0` in
the hole) has learned nothing that a formula did not already know.

* :data:`EVAL_MASKS` - the standard evaluation masks of the course (centre
  8x8 block, a band of 5 whole rows, 3 scattered single rows) for 16 px images.
* :func:`eval_masks` - those masks, drawn once from a seeded generator, so every
  method is scored on exactly the same holes.
* :func:`evaluate_repairers` - hole PSNR/SSIM of mean fill, biharmonic and each
  model on every mask kind, as a :class:`RepairTable` (prints as a table).
* :func:`training_masks` - a mixture of mask kinds for :class:`genlab.train.RepairTask`.
* :func:`train_repairer` - a thin wrapper over :func:`genlab.train.fit`.
* :class:`SelfEnsemble` - a repairer averaged over the symmetries of the square.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from . import baselines as _baselines
from . import masks as _masks
from .errors import check_image
from .metrics import masked_psnr, masked_ssim

__all__ = ["EVAL_MASKS", "RepairTable", "SelfEnsemble", "eval_masks", "evaluate_repairers", "mask_kind_spec",
           "train_repairer", "training_masks"]

Repairer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: The evaluation masks of the course for 16 px digits: name -> (``make_mask`` kind, its parameters).
EVAL_MASKS: dict[str, tuple[str, dict[str, int]]] = {
    "centre 8x8": ("center", {"hole": 8}),
    "5-row band": ("rows", {"rows": 5}),
    "3 scattered rows": ("scattered_rows", {"rows": 3}),
}


def mask_kind_spec(kind: str | tuple[str, Mapping[str, Any]], size: int) -> tuple[str, dict[str, Any]]:
    """Normalise a mask description: a name of :data:`EVAL_MASKS`, a ``make_mask`` kind, or ``(kind, kw)``.

    Sizes in :data:`EVAL_MASKS` are for 16 px images; for other sizes they scale
    with the image (a centre block of half the side, a band of 5/16 of the rows).
    """
    if isinstance(kind, tuple):
        return kind[0], dict(kind[1])
    if kind in EVAL_MASKS:
        base, kw = EVAL_MASKS[kind]
        return base, {k: max(1, round(v * size / 16)) for k, v in kw.items()}
    if kind in _masks.MASK_KINDS:
        return kind, {}
    raise ValueError(f"unknown mask kind {kind!r}: use one of {list(EVAL_MASKS)}, a genlab.masks kind "
                     f"{list(_masks.MASK_KINDS)}, or a tuple (kind, parameters).")


def eval_masks(n: int, size: int, mask_kinds: Sequence[Any] | None = None, seed: int = 123
               ) -> dict[str, torch.Tensor]:
    """Fixed, seeded evaluation masks: the same holes for every method and every run.

    Args:
        n: number of images.
        size: image side in pixels.
        mask_kinds: names of :data:`EVAL_MASKS` (default: all of them), ``genlab.masks``
            kinds, or ``(kind, parameters)`` tuples.
        seed: seed of the generator the random masks are drawn from (one generator
            per kind, so adding a kind does not change the others).

    Returns:
        ``{name: (n, 1, size, size) mask}`` (1 = missing), on the CPU.
    """
    kinds = list(EVAL_MASKS) if mask_kinds is None else list(mask_kinds)
    out = {}
    for i, kind in enumerate(kinds):
        name = kind if isinstance(kind, str) else f"{kind[0]} {kind[1]}"
        base, kw = mask_kind_spec(kind, size)
        g = torch.Generator().manual_seed(seed + 1000 * i)
        out[name] = _masks.make_mask(base, n, size, generator=g, **kw)
    return out


@dataclass(repr=False)
class RepairTable:
    """Hole PSNR (dB) and SSIM per method and mask kind; prints as a Markdown table.

    Attributes:
        psnr: ``{method: {mask: mean hole PSNR in dB}}``.
        ssim: ``{method: {mask: mean hole SSIM}}`` (empty when SSIM was not computed).
        n: number of held-out images scored.
    """

    psnr: dict[str, dict[str, float]] = field(default_factory=dict)
    ssim: dict[str, dict[str, float]] = field(default_factory=dict)
    n: int = 0

    @property
    def methods(self) -> list[str]:
        return list(self.psnr)

    @property
    def masks(self) -> list[str]:
        return list(next(iter(self.psnr.values()), {}))

    def gain(self, method: str, over: str = "biharmonic") -> dict[str, float]:
        """PSNR of ``method`` minus PSNR of ``over``, per mask kind (dB; positive = better)."""
        return {m: self.psnr[method][m] - self.psnr[over][m] for m in self.masks}

    def to_markdown(self, ssim: bool = True) -> str:
        """A Markdown table: one row per method, ``PSNR / SSIM`` per mask kind."""
        show_ssim = ssim and bool(self.ssim)
        head = "| method | " + " | ".join(self.masks) + " |"
        rule = "| --- |" + " ---: |" * len(self.masks)
        rows = [head, rule]
        for method in self.methods:
            cells = []
            for m in self.masks:
                cell = f"{self.psnr[method][m]:.1f} dB"
                if show_ssim:
                    cell += f" / {self.ssim[method][m]:.2f}"
                cells.append(cell)
            rows.append(f"| {method} | " + " | ".join(cells) + " |")
        unit = "hole PSNR / hole SSIM" if show_ssim else "hole PSNR"
        return "\n".join(rows) + f"\n\n{unit} on {self.n} held-out images (higher is better)."

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __str__(self) -> str:
        return self.to_markdown()

    __repr__ = __str__

    def to_dict(self) -> dict:
        """Plain data (for JSON benchmark records)."""
        return {"psnr": self.psnr, "ssim": self.ssim, "n": self.n}


def _as_repairer(model: Any) -> Repairer:
    if isinstance(model, nn.Module) or callable(model):
        return model
    raise TypeError(f"a repairer must be callable as f(x_masked, mask) -> x_hat, got {type(model).__name__}.")


class SelfEnsemble(nn.Module):
    """A repairer averaged over the 8 symmetries of the square (4 flips when the images are not square).

    Each symmetry turns the masked image and the mask (and, for a repairer that starts from a
    classical fill, such as ``FillResidualRepairer``, the fill, computed once), the repairer
    fills the turned hole, the result is turned back, and the 8 answers are averaged. A
    network's mistakes differ from one orientation to the next while the truth does not, so
    the average is closer to the truth; it costs 8 forward passes and no training (the
    "self-ensemble" of Lim et al., 2017, for super-resolution). No parameters of its own.

    Developed for the natural-image section of course/05_restoration.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x_masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        fill_fn = getattr(self.model, "fill", None)
        fill = fill_fn(x_masked, mask) if callable(fill_fn) else None
        mask = mask.to(x_masked.dtype)
        turns = range(8) if x_masked.shape[-1] == x_masked.shape[-2] else range(4)
        total = torch.zeros_like(x_masked)
        for k in turns:
            args = [_masks.square_symmetry(t, k) for t in (x_masked, mask)]
            if fill is not None:
                args.append(_masks.square_symmetry(fill, k))
            total += _masks.square_symmetry(self.model(*args).to(x_masked.dtype), k, inverse=True)
        return total / len(turns)


@torch.no_grad()
def _run(fn: Repairer, x: torch.Tensor, mask: torch.Tensor, fill: float, batch_size: int) -> torch.Tensor:
    """Apply ``fn`` to ``(apply_mask(x, mask, fill), mask)`` batch by batch, on the model's device."""
    device = torch.device("cpu")
    was_training = None
    if isinstance(fn, nn.Module):
        was_training = fn.training
        fn.eval()  # dropout/batch-norm in evaluation behaviour (lab 09's "forgotten eval")
        p = next(fn.parameters(), None)
        device = p.device if p is not None else device
    try:
        outs = []
        for i in range(0, len(x), batch_size):
            xb, mb = x[i:i + batch_size].to(device), mask[i:i + batch_size].to(device)
            out = fn(_masks.apply_mask(xb, mb, fill=fill), mb)
            # keep the known pixels whatever the method did: the score is about the hole
            outs.append(_masks.composite(out.float(), xb, mb).clamp(0, 1).cpu())
        return torch.cat(outs)
    finally:
        if was_training:
            fn.train()


def evaluate_repairers(models: Mapping[str, Any], x_test: torch.Tensor,
                       mask_kinds: Sequence[Any] | None = None, *, seed: int = 123,
                       include_baselines: bool = True, ssim: bool = True, fill: float = 0.0,
                       batch_size: int = 256, return_outputs: bool = False
                       ) -> RepairTable | tuple[RepairTable, dict[str, dict[str, torch.Tensor]]]:
    r"""Hole PSNR/SSIM of mean fill, biharmonic and each model on fixed seeded masks.

    For every mask kind the same masks (:func:`eval_masks` with ``seed``) are used
    for every method. Each method sees ``x_masked = x (1 - m) + fill \cdot m`` and
    the mask, its known pixels are then restored (``composite``), and only the
    hole is scored:

    .. math::

        \mathrm{PSNR}_n = 10 \log_{10} \frac{1}{\mathrm{MSE over the hole of image } n},

    averaged over images (``nanmean``). Models are run in ``eval()`` mode under
    ``no_grad`` on their own device and put back in the mode they were in.

    Args:
        models: ``{name: repairer}``, each callable as ``f(x_masked, mask) -> x_hat``
            (a genlab repairer, a student's model, any function).
        x_test: held-out images ``(N, C, H, W)`` in ``[0, 1]``.
        mask_kinds: see :func:`eval_masks`; default :data:`EVAL_MASKS`.
        seed: seed of the evaluation masks.
        include_baselines: put ``mean fill`` and ``biharmonic`` first in the table.
        ssim: also compute hole SSIM (a little slower).
        fill: value written into the hole before a model sees it.
        batch_size: images per forward pass.
        return_outputs: also return ``{method: {mask: x_hat}}`` (for pictures).

    Returns:
        A :class:`RepairTable` (and the outputs when ``return_outputs``).

    Example::

        table = evaluate_repairers({"conv": model}, x_test)
        print(table)                        # Markdown table
        table.gain("conv")["centre 8x8"]    # dB above biharmonic
    """
    check_image(x_test, "x_test")
    if not isinstance(models, Mapping):
        raise TypeError(f"models must be a dict {{name: repairer}}, got {type(models).__name__}.")
    methods: dict[str, Repairer] = {}
    if include_baselines:
        methods["mean fill"] = _baselines.mean_fill
        methods["biharmonic"] = _baselines.biharmonic
    methods.update({name: _as_repairer(m) for name, m in models.items()})
    mask_sets = eval_masks(len(x_test), x_test.shape[-1], mask_kinds, seed=seed)
    table = RepairTable(n=len(x_test))
    outputs: dict[str, dict[str, torch.Tensor]] = {}
    x_cpu = x_test.detach().float().cpu()
    for method, fn in methods.items():
        table.psnr[method], outputs[method] = {}, {}
        if ssim:
            table.ssim[method] = {}
        for mname, mask in mask_sets.items():
            x_hat = _run(fn, x_cpu, mask, fill, batch_size)
            table.psnr[method][mname] = _mean(masked_psnr(x_hat, x_cpu, mask))
            if ssim:
                table.ssim[method][mname] = _mean(masked_ssim(x_hat, x_cpu, mask))
            if return_outputs:
                outputs[method][mname] = x_hat
    if return_outputs:
        outputs["masked"] = {m: _masks.apply_mask(x_cpu, k, fill=0.5) for m, k in mask_sets.items()}
        return table, outputs
    return table


def _mean(values: torch.Tensor) -> float:
    """Mean over finite values (a perfect hole gives inf PSNR; an empty one nan)."""
    finite = values[torch.isfinite(values)]
    return float(finite.mean()) if finite.numel() else math.nan


def training_masks(kinds: Sequence[Any] = ("block", "rows", "scattered_rows"),
                   mask_params: Mapping[str, Mapping[str, Any]] | None = None) -> Callable[..., torch.Tensor]:
    """A mask sampler for :class:`genlab.train.RepairTask` mixing several kinds in every batch.

    Each batch is split evenly between the kinds (the remainder goes to the first
    ones), then shuffled with the same generator so no kind always sits first. This is
    ``genlab.train.mask_mix``, the one sampler of every repairer task and preset.

    Args:
        kinds: ``genlab.masks`` kinds.
        mask_params: per-kind parameters, e.g. ``{"block": {"hole": 8}, "rows": {"rows": 5}}``;
            kinds without an entry use ``make_mask``'s defaults.

    Returns:
        ``sampler(batch, size, generator) -> (B, 1, H, W)``; ``size`` may be an int or ``(H, W)``.
    """
    from .train import mask_mix

    return mask_mix(kinds, mask_params)


def train_repairer(model: nn.Module, x_train: torch.Tensor, epochs: int, *,
                   masks: Any = None, lr: float = 2e-3, loss: str = "masked_mse", batch_size: int = 64,
                   seed: int = 0, lr_drop: tuple[float, float] | None = (0.75, 0.3), **fit_kw: Any):
    """Train a repairer with :class:`genlab.train.RepairTask` and :func:`genlab.train.fit`.

    Args:
        model: a repairer ``forward(x_masked, mask) -> x_hat``.
        x_train: training images ``(N, C, H, W)``.
        epochs: passes over ``x_train``.
        masks: what ``RepairTask`` accepts (a kind, kinds, or a sampler); default the
            course's mix (course/05 and 06, the shipped presets): :func:`training_masks` with
            centre 8x8 blocks, 8x8 blocks anywhere, 5-row bands and 3 scattered rows (for
            16 px images; scaled with the image size otherwise).
        lr: Adam learning rate.
        loss: ``"masked_mse"`` (score the hole only), ``"masked_l1"``, ``"mse"``, ``"l1"``.
        batch_size, seed: passed to ``fit``.
        lr_drop: ``(fraction, factor)``: after ``round(fraction * epochs)`` epochs multiply the
            learning rate by ``factor`` (a late drop polishes the fit: about +1 dB hole PSNR on
            digits); ``None`` keeps it constant.
        **fit_kw: anything else ``fit`` takes (``device``, ``progress``, ``callbacks``, ...).

    Returns:
        The training :class:`genlab.train.History`.
    """
    from .train import LRDrop, RepairTask, fit

    if masks is None:
        side = x_train.shape[-1]
        masks = training_masks(("center", "block", "rows", "scattered_rows"),
                               {"center": {"hole": max(1, side // 2)}, "block": {"hole": max(1, side // 2)},
                                "rows": {"rows": max(1, round(5 * side / 16))},
                                "scattered_rows": {"rows": max(1, round(3 * side / 16))}})
    task = RepairTask(model, lr=lr, masks=masks, loss=loss, seed=seed)
    callbacks = list(fit_kw.pop("callbacks", ()))
    if lr_drop is not None:
        callbacks.append(LRDrop(epochs, *lr_drop))
    return fit(task, x_train, epochs, batch_size=batch_size, seed=seed, callbacks=callbacks, **fit_kw)
