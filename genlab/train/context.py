"""What a training run carries from step to step: its :class:`History` and the :class:`TrainContext`.

Developed in course/07_gpu_training (lab 07).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..errors import GenlabError
from .checkpoint import atomic_write_bytes

if TYPE_CHECKING:
    from .tasks import Task

__all__ = ["History", "TrainContext", "TrainingDiverged", "intra_op_threads"]


@contextlib.contextmanager
def intra_op_threads(n: int | None) -> Iterator[None]:
    """Run the block on ``n`` intra-op CPU threads, then restore the caller's count.

    On the CPU, how a convolution's or a reduction's sum is split between threads
    changes its rounding, so the bits of a trained model depend on the thread count:
    the shipped weights were trained on one thread, and ``genlab train --preset``
    pins it. One thread is also the fastest setting for these small models on a
    busy machine (idle worker threads spin-wait). ``None`` leaves the count alone.
    """
    if n is None:
        yield
        return
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"the number of threads is an integer >= 1, got {n!r}.")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class TrainingDiverged(GenlabError, RuntimeError):
    """A loss became NaN or infinite: training stopped instead of writing garbage weights."""



class History:
    """Metric history as plain data: per-epoch means and per-step losses.

    Attributes:
        epochs: ``{"epoch": [1, 2, ...], "loss": [...], "images_per_s": [...], "val_loss": [...]}``;
            each list holds one float per finished epoch (epoch numbers start at 1).
        steps: ``{"loss": [...], ...}``: every step's losses, in order.

    ``history["loss"]`` returns the per-epoch list; :meth:`to_dict` is JSON-serialisable.
    """

    def __init__(self, epochs: dict[str, list] | None = None, steps: dict[str, list] | None = None) -> None:
        self.epochs: dict[str, list] = {k: list(v) for k, v in (epochs or {}).items()}
        self.steps: dict[str, list] = {k: list(v) for k, v in (steps or {}).items()}

    def log_epoch(self, epoch: int, values: Mapping[str, float]) -> None:
        """Append one finished epoch (1-based ``epoch``) and its metric values."""
        n_before = len(self.epochs.get("epoch", []))
        self.epochs.setdefault("epoch", []).append(int(epoch))
        for key, value in values.items():
            column = self.epochs.setdefault(key, [])
            # A metric that appears late (e.g. validation from epoch 3) is padded with NaN.
            column.extend([math.nan] * (n_before - len(column)))
            column.append(float(value))

    def log_steps(self, values: Mapping[str, Sequence[float]]) -> None:
        """Append a run of per-step losses."""
        for key, seq in values.items():
            self.steps.setdefault(key, []).extend(float(v) for v in seq)

    def __getitem__(self, key: str) -> list:
        return self.epochs[key]

    def __contains__(self, key: object) -> bool:
        return key in self.epochs

    def __len__(self) -> int:
        return len(self.epochs.get("epoch", []))

    def last(self, key: str = "loss") -> float:
        """The last epoch's value of ``key``."""
        return self.epochs[key][-1]

    def to_dict(self) -> dict:
        """``{"epochs": {...}, "steps": {...}}`` with plain lists of numbers."""
        return {"epochs": copy.deepcopy(self.epochs), "steps": copy.deepcopy(self.steps)}

    @classmethod
    def from_dict(cls, d: Mapping | None) -> History:
        """Inverse of :meth:`to_dict`."""
        d = d or {}
        return cls(d.get("epochs"), d.get("steps"))

    def save_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` as JSON, atomically (NaN written as ``null``)."""
        def clean(v: Any) -> Any:
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, list):
                return [clean(x) for x in v]
            return v
        atomic_write_bytes(Path(path), json.dumps(clean(self.to_dict()), indent=1).encode())

    def __repr__(self) -> str:
        keys = ", ".join(k for k in self.epochs if k != "epoch")
        return f"History({len(self)} epochs: {keys})"


# ----------------------------------------------------------------------------------------------
# The context a step and a callback see
# ----------------------------------------------------------------------------------------------

class TrainContext:
    """What a step function and a callback see.

    Fields:
        epoch: the current epoch, 0-based while running (``history`` numbers epochs from 1).
        step: global step count (optimiser updates of the whole task) done so far.
        epoch_step: step index inside the current epoch.
        history: the :class:`History` being filled.
        task: the :class:`Task` being trained.
        device: the ``torch.device`` batches live on.
        generator: the task's CPU ``torch.Generator`` (noise, masks, latents).
        rank, world_size: the DDP rank and number of processes (0 and 1 without DDP).
        last_losses: the last step's losses as detached tensors; :attr:`losses` gives floats.
        stop: set it to ``True`` in a callback to end training after this step/epoch.
        callbacks, log_every, bar: what :func:`genlab.train.train_epoch` calls, how often it
            gathers losses from the device, and the progress bar (or ``None``).

    Step functions use :meth:`autocast` around forward passes and :meth:`optimize` for
    ``zero_grad -> backward -> (unscale, clip) -> step``, so AMP and clipping live here once.
    """

    def __init__(self, task: Task, history: History, device: torch.device, *, amp_dtype: torch.dtype | None,
                 scaler: Any, clip_grad: float | None, rank: int = 0, world_size: int = 1,
                 channels_last: bool = False, callbacks: Sequence[Any] = (), log_every: int = 10,
                 bar: Any = None) -> None:
        self.task = task
        self.history = history
        self.device = device
        self.amp_dtype = amp_dtype
        self.scaler = scaler
        self.clip_grad = clip_grad
        self.rank = rank
        self.world_size = world_size
        self.channels_last = channels_last
        self.epoch = 0
        self.step = 0
        self.epoch_step = 0
        self.last_losses: dict[str, torch.Tensor] = {}
        self.stop = False
        self.callbacks = list(callbacks)
        self.log_every = log_every
        self.bar = bar  # the tqdm progress bar, or None
        self.compile_pending = False  # True until the first compiled step ran (see train_epoch)
        self.eager_nets: dict[str, Any] = {}

    @property
    def generator(self) -> torch.Generator:
        return self.task.generator

    @property
    def losses(self) -> dict[str, float]:
        """The last step's losses as Python floats (synchronises with the device)."""
        return {k: float(v) for k, v in self.last_losses.items()}

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed-precision context for forward passes (a no-op when AMP is off)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def to_device(self, t: torch.Tensor | None) -> torch.Tensor | None:
        """Move a tensor to the training device (non-blocking; channels_last for images)."""
        if t is None:
            return None
        t = t.to(self.device, non_blocking=True)
        if self.channels_last and t.dim() == 4:
            t = t.contiguous(memory_format=torch.channels_last)
        return t

    def optimize(self, loss: torch.Tensor, optimizer: str = "model") -> None:
        """One optimiser update: ``zero_grad``, backward (scaled under fp16), clip, step.

        Args:
            loss: scalar loss whose gradient updates ``task.optimizers[optimizer]``.
            optimizer: key in ``task.optimizers``.
        """
        opt = self.task.optimizers[optimizer]
        opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        if self.clip_grad is not None:
            if self.scaler is not None:
                self.scaler.unscale_(opt)  # clip the true gradient, not the scaled one
            params = [p for group in opt.param_groups for p in group["params"] if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(params, self.clip_grad)
        if self.scaler is not None:
            self.scaler.step(opt)  # skipped automatically when the fp16 gradient overflowed
        else:
            opt.step()

