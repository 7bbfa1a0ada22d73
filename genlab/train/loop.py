"""The training loop, built from the four functions lab 07 has students write.

==========================  ===================================================================
lab 07 exercise             here
==========================  ===================================================================
``autocast_settings``       :func:`autocast_settings`: the same contract, ``(enabled, dtype, use_scaler)``
``train_epoch``             :func:`train_epoch`: one pass over the batches; the model and its
                            optimisers come as a :class:`~genlab.train.Task`, the scaler, device
                            and AMP in the :class:`~genlab.train.TrainContext`
``save_checkpoint``         :func:`save_checkpoint`: atomic; the task carries model and optimisers
``load_checkpoint``         :func:`load_checkpoint`: restores everything, returns the epoch
==========================  ===================================================================

:func:`fit` is those four in a loop, plus what a course-wide library needs: progress bars, a
NaN/inf guard, callbacks (the dashboard hooks in here), gradient clipping, every RNG state
in the checkpoint (resume is bit-exact on CPU), ``channels_last``, ``torch.compile`` and DDP
when launched by torchrun. Its knobs are a :class:`TrainConfig`, stored in each checkpoint.

Developed in course/07_gpu_training (lab 07).
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .batches import epoch_batches, in_memory
from .checkpoint import (
    CHECKPOINT_NAME,
    checkpoint_state,
    read_checkpoint,
    restore,
    set_rng_state,
    write_checkpoint,
)
from .context import History, TrainContext, TrainingDiverged
from .distributed import (
    barrier,
    launched_by_torchrun,
    leave,
    mean_over_ranks,
    setup_distributed,
    wrap_ddp,
)
from .tasks import Task, build_task

__all__ = ["LRDrop", "TrainConfig", "autocast_settings", "fit", "load_checkpoint", "resolve_amp",
           "resume_latest", "save_checkpoint", "train_epoch"]


@dataclasses.dataclass
class TrainConfig:
    """The knobs of :func:`fit` (``fit(task, data, epochs, batch_size=32)`` overrides one).

    Attributes:
        batch_size: global batch size for in-memory data (split across DDP ranks).
        device: default ``genlab.device()``; under DDP each rank's GPU (or the CPU).
        amp: mixed precision (see :func:`autocast_settings`); ``amp_dtype`` forces the dtype.
        clip_grad: max global gradient norm per optimiser (``clip_grad_norm_``), or ``None``.
        checkpoint_dir: write ``checkpoint_dir/checkpoint.pt`` atomically after each epoch.
        resume: continue from ``checkpoint_dir/checkpoint.pt`` if it exists (else start fresh).
        progress: tqdm progress bar; ``None`` = on in a terminal or Jupyter, off in fast mode.
        seed: seeds Python, NumPy, torch, the shuffling and the task's generator (fresh runs).
        channels_last: NHWC memory format for conv models (faster on tensor cores).
        compile: ``torch.compile`` the modules (skipped with a warning where unavailable).
        log_every: per-step losses are gathered from the device every ``log_every`` steps
            (fewer synchronisations on GPUs); the NaN guard checks every step's value.
        distributed: use DDP; ``None`` = automatically when launched by torchrun.
        shuffle, drop_last: in-memory batching options.
    """

    batch_size: int = 64
    device: Any = None
    amp: bool = False
    amp_dtype: Any = None
    clip_grad: float | None = None
    checkpoint_dir: str | os.PathLike | None = None
    resume: bool = False
    progress: bool | None = None
    seed: int = 0
    channels_last: bool = False
    compile: bool = False
    log_every: int = 10
    distributed: bool | None = None
    shuffle: bool = True
    drop_last: bool = False

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}.")
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir: where should the checkpoint come from?")

    @classmethod
    def merge(cls, config: TrainConfig | None, overrides: dict[str, Any]) -> TrainConfig:
        """``config`` (or the defaults) with ``overrides`` applied; unknown names are refused."""
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise TypeError(f"fit() got unknown option(s) {', '.join(map(repr, unknown))}; "
                            f"the TrainConfig knobs are: {', '.join(known)}.")
        return dataclasses.replace(config or cls(), **overrides)

    @property
    def checkpoint_path(self) -> Path | None:
        return Path(self.checkpoint_dir) / CHECKPOINT_NAME if self.checkpoint_dir is not None else None


# ----------------------------------------------------------------------------------------------
# Lab 07's four functions, library versions
# ----------------------------------------------------------------------------------------------

def autocast_settings(device: torch.device | str, bf16_supported: bool | None = None
                      ) -> tuple[bool, torch.dtype, bool]:
    """``(enabled, dtype, use_scaler)`` of mixed precision on ``device`` (lab 07, exercise 1).

    CUDA with bf16: ``(True, bfloat16, False)``; CUDA without (T4, V100): ``(True, float16,
    True)``: float16's 5 exponent bits lose small gradients unless the loss is scaled; CPU:
    ``(True, bfloat16, False)``; anything else (MPS): ``(True, float16, False)``.
    """
    device = torch.device(device)
    if device.type == "cuda":
        if bf16_supported is None:
            bf16_supported = torch.cuda.is_bf16_supported()
        return (True, torch.bfloat16, False) if bf16_supported else (True, torch.float16, True)
    if device.type == "cpu":
        return True, torch.bfloat16, False
    return True, torch.float16, False


def resolve_amp(device: torch.device, amp: bool, amp_dtype: torch.dtype | None = None
                ) -> tuple[torch.dtype | None, Any]:
    """``(autocast dtype or None, GradScaler or None)`` for :func:`fit`'s ``amp`` / ``amp_dtype``."""
    if not amp:
        return None, None
    if device.type == "cpu" and amp_dtype not in (None, torch.bfloat16):
        raise ValueError(f"on the CPU, AMP runs in bfloat16; got amp_dtype={amp_dtype}.")
    if amp_dtype is None:
        _, dtype, use_scaler = autocast_settings(device)
    else:
        dtype, use_scaler = amp_dtype, device.type == "cuda" and amp_dtype == torch.float16
    return dtype, (torch.amp.GradScaler("cuda") if use_scaler else None)


def train_epoch(task: Task, batches: Iterable[tuple[torch.Tensor, torch.Tensor | None]],
                ctx: TrainContext) -> dict[str, float]:
    """One pass over ``batches`` (lab 07, exercise 2): move each batch, one ``task.step``, scaler update.

    ``task.step`` runs its forward passes in ``ctx.autocast()`` and updates through
    ``ctx.optimize`` (zero_grad, scaled backward, clip, step). Losses are gathered every
    ``ctx.log_every`` steps and checked for NaN/inf; callbacks' ``on_step`` run after each step.

    Returns:
        The epoch's mean of each loss, plus ``images_per_s`` and ``seconds``.
    """
    task.train()
    pending: list[dict[str, torch.Tensor]] = []
    epoch_losses: dict[str, list[float]] = {}
    images = 0
    _sync(ctx.device)
    t0 = time.perf_counter()
    for x, y in batches:
        images += len(x) * ctx.world_size
        ctx.last_losses = _step(task, (ctx.to_device(x), ctx.to_device(y)), ctx)
        pending.append(ctx.last_losses)
        ctx.step += 1
        ctx.epoch_step += 1
        if len(pending) >= ctx.log_every:
            _flush(pending, epoch_losses, ctx)
        for cb in ctx.callbacks:
            _call(cb, "on_step", ctx)
        _advance_bar(ctx, epoch_losses)
        if ctx.stop:
            break
    _flush(pending, epoch_losses, ctx)
    _sync(ctx.device)  # GPU work is asynchronous: time it when it is done
    elapsed = time.perf_counter() - t0
    if not epoch_losses:
        raise ValueError("an epoch had no batches: is the data empty, or drop_last with "
                         "fewer than batch_size items?")
    means = {k: float(np.mean(v)) for k, v in epoch_losses.items()}
    means["images_per_s"] = images / max(elapsed, 1e-9)
    means["seconds"] = elapsed
    return means


def save_checkpoint(path: str | os.PathLike, task: Task, scaler: Any, epoch: int, *, step: int = 0,
                    history: History | None = None, data_generator: torch.Generator | None = None,
                    config: TrainConfig | None = None) -> Path:
    """Write everything needed to resume after ``epoch`` finished epochs, atomically (lab 07, exercise 3).

    The task carries the model(s) and optimiser(s); the file also holds the scaler, the step
    count, the history, every RNG state and the :class:`TrainConfig` (format: see
    :mod:`genlab.train.checkpoint`). A crash mid-write leaves the previous file intact.
    """
    state = checkpoint_state(task, epoch=epoch, step=step, history=history or History(), scaler=scaler,
                             data_generator=data_generator, train_config=config)
    return write_checkpoint(path, state)


def load_checkpoint(path: str | os.PathLike, task: Task, scaler: Any = None, *,
                    data_generator: torch.Generator | None = None, history: History | None = None) -> int:
    """Restore what :func:`save_checkpoint` wrote into ``task``; return the finished epochs (exercise 4).

    Also restores the scaler (when both it and the stored state exist), every RNG state and,
    when given, ``history`` in place; ``task.resumed_epoch`` / ``task.resumed_step`` record
    where training stopped.

    Raises:
        CheckpointError: a missing, damaged or foreign file, or one of another model.
    """
    state = read_checkpoint(path, expected=task)
    restore(task, state)
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    if history is not None:
        loaded = History.from_dict(state.get("history"))
        history.epochs, history.steps = loaded.epochs, loaded.steps
    set_rng_state(state["rng"], data_generator, task)
    task.resumed_epoch, task.resumed_step = int(state["epoch"]), int(state["step"])
    return task.resumed_epoch


# ----------------------------------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------------------------------

def fit(task: Task, data: Any, epochs: int, config: TrainConfig | None = None, *, callbacks: Iterable[Any] = (),
        val_data: Any = None, **overrides: Any) -> History:
    """Train ``task`` on ``data`` for ``epochs`` epochs (in total, counting resumed ones).

    Args:
        task: an ``AutoencoderTask``, ``VAETask``, ``GANTask``, ``RepairTask``, ... (or your own Task).
        data: in-memory ``x`` or ``(x, y)`` tensors (shuffled each epoch by a checkpointed
            generator, so resume is exact), or any iterable of batches (a ``DataLoader``).
        epochs: total number of epochs; with ``resume=True`` only the missing ones run.
        config: a :class:`TrainConfig`; ``**overrides`` change single knobs (``batch_size=32``).
        callbacks: objects with ``on_train_begin(ctx)`` / ``on_step(ctx)`` / ``on_epoch_end(ctx)``
            (each optional), or plain functions (called at each epoch end). ``ctx`` is a :class:`~genlab.train.TrainContext`.
        val_data: evaluated with ``task.evaluate`` after each epoch; logged as ``val_<name>``.

    Returns:
        The :class:`~genlab.train.History` (per-epoch means incl. ``images_per_s``, per-step losses).

    Raises:
        TrainingDiverged: a loss became NaN/inf (names epoch, step, loss and value).
    """
    cfg = TrainConfig.merge(config, overrides)
    _check_args(task, epochs)
    rank, world, device, created_group = _processes(cfg)
    ctx = None
    try:
        memory = _prepare(task, data, device, cfg)
        ctx, data_generator = _begin(task, cfg, device, rank, world, callbacks)
        ctx.bar = _progress_bar(task, cfg, data, memory, epochs - ctx.epoch, rank)
        for cb in ctx.callbacks:
            _call(cb, "on_train_begin", ctx)  # also after a resume: schedules set the rate of ctx.step
        for epoch in range(ctx.epoch, epochs):
            ctx.epoch, ctx.epoch_step = epoch, 0
            batches = epoch_batches(data, memory, cfg.batch_size, cfg.shuffle, cfg.drop_last, data_generator,
                                    rank, world)
            means = train_epoch(task, batches, ctx)
            if val_data is not None:
                means.update({f"val_{k}": v for k, v in _evaluate_quietly(task, val_data, device).items()})
                task.train()
            ctx.history.log_epoch(epoch + 1, means)
            if cfg.checkpoint_path is not None and rank == 0:
                save_checkpoint(cfg.checkpoint_path, task, ctx.scaler, epoch + 1, step=ctx.step,
                                history=ctx.history, data_generator=data_generator, config=cfg)
            barrier(world)  # nobody runs ahead of the checkpoint
            for cb in ctx.callbacks:
                _call(cb, "on_epoch_end", ctx)
            if ctx.bar is not None:
                ctx.bar.set_postfix(epoch=epoch + 1, loss=f"{means.get('loss', float('nan')):.4g}")
            if ctx.stop:
                break
        return ctx.history
    finally:
        if ctx is not None and ctx.bar is not None:
            ctx.bar.close()
        task.wrappers.clear()
        leave(created_group)


def _check_args(task: Any, epochs: Any) -> None:
    if not isinstance(task, Task):
        raise TypeError(f"fit needs a genlab.train.Task (e.g. VAETask(model, lr)), got {type(task).__name__}.")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}.")


def _processes(cfg: TrainConfig) -> tuple[int, int, torch.device, bool]:
    """``(rank, world size, device, whether we created the process group)``."""
    from .. import device as default_device

    distributed = launched_by_torchrun() if cfg.distributed is None else cfg.distributed
    if distributed:
        return setup_distributed(cfg.device)
    return 0, 1, (torch.device(cfg.device) if cfg.device is not None else default_device()), False


def _prepare(task: Task, data: Any, device: torch.device, cfg: TrainConfig) -> tuple | None:
    """Move the task to the device and check the data; small in-memory datasets go to the GPU too."""
    task.to(device)
    if cfg.channels_last:
        for m in task.modules.values():
            m.to(memory_format=torch.channels_last)
    memory = in_memory(data)
    if memory is None and not isinstance(data, Iterable):
        raise TypeError(f"data must be x, (x, y) or an iterable of batches; got {type(data).__name__}.")
    if memory is not None and len(memory[0]) == 0:
        raise ValueError("data is empty: there is nothing to train on.")
    if memory is not None and device.type == "cuda":
        if sum(t.numel() * t.element_size() for t in memory if t is not None) < 2**30:
            # Small datasets (digits, MNIST) live on the GPU: batches are then gathered there,
            # with no host-to-device copy per step.
            memory = tuple(None if t is None else t.to(device) for t in memory)
        else:
            # Pinned host memory lets the per-batch non_blocking copies overlap compute.
            memory = tuple(t.pin_memory() if t is not None and not t.is_pinned() else t for t in memory)
    return memory


def _begin(task: Task, cfg: TrainConfig, device: torch.device, rank: int, world: int,
           callbacks: Iterable[Any]) -> tuple[TrainContext, torch.Generator]:
    """Fresh seeds or the checkpoint's exact states, then the DDP / compile wrappers and the context."""
    from .. import seed_everything

    amp_dtype, scaler = resolve_amp(device, cfg.amp, cfg.amp_dtype)
    history = History()
    data_generator = torch.Generator().manual_seed(cfg.seed)
    seed_everything(cfg.seed + rank)
    task.generator.manual_seed(cfg.seed + 7919 * rank + 1)
    start_epoch = step = 0
    if cfg.resume and cfg.checkpoint_path.is_file():
        start_epoch = load_checkpoint(cfg.checkpoint_path, task, scaler, data_generator=data_generator,
                                      history=history)
        step = task.resumed_step
        if rank > 0:  # ranks share rank 0's saved states; keep their noise independent
            task.generator.manual_seed(int(torch.randint(2**62, (1,), generator=task.generator)) + rank)
    if world > 1:
        wrap_ddp(task, device)
    ctx = TrainContext(task, history, device, amp_dtype=amp_dtype, scaler=scaler, clip_grad=cfg.clip_grad,
                       rank=rank, world_size=world, channels_last=cfg.channels_last, callbacks=callbacks,
                       log_every=cfg.log_every)
    ctx.step, ctx.epoch = step, start_epoch
    ctx.eager_nets = dict(task.wrappers)  # what to fall back to if compilation fails
    if cfg.compile:
        ctx.compile_pending = _compile(task, ctx.eager_nets)
    return ctx, data_generator


def _compile(task: Task, eager_nets: dict[str, Any]) -> bool:
    if not hasattr(torch, "compile"):
        warnings.warn("torch.compile is not available in this torch version; training eagerly.", stacklevel=3)
        return False
    try:
        for name in task.modules:
            task.wrappers[name] = torch.compile(task.net(name))
        return True
    except Exception as exc:  # e.g. an unsupported Python or platform
        warnings.warn(f"torch.compile failed ({exc}); training eagerly.", stacklevel=3)
        task.wrappers = dict(eager_nets)
        return False


def _is_interactive() -> bool:
    """True in a terminal or a Jupyter kernel, where a progress bar helps a person."""
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _progress_bar(task: Task, cfg: TrainConfig, data: Any, memory: tuple | None, epochs_left: int,
                  rank: int) -> Any:
    from .. import config as genlab_config

    progress = cfg.progress
    if progress is None:
        progress = _is_interactive() and not genlab_config.is_fast()
    if not progress or rank != 0 or epochs_left <= 0:
        return None
    if memory is not None:
        n = len(memory[0])
        per_epoch = n // cfg.batch_size if cfg.drop_last else math.ceil(n / cfg.batch_size)
    else:
        per_epoch = len(data) if hasattr(data, "__len__") else None
    from tqdm.auto import tqdm

    return tqdm(total=per_epoch * epochs_left if per_epoch else None, desc=task.name, unit="step",
                dynamic_ncols=True)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step(task: Task, batch: tuple, ctx: TrainContext) -> dict[str, torch.Tensor]:
    """``task.step`` and the scaler update; the first compiled step falls back to eager on failure."""
    if ctx.compile_pending:
        # Compilation really happens at the first call; if it fails there (no C compiler,
        # unsupported op), fall back to eager and redo the step.
        ctx.compile_pending = False
        try:
            losses = task.step(batch, ctx)
        except TrainingDiverged:
            raise
        except Exception as exc:
            warnings.warn(f"torch.compile failed at the first step ({type(exc).__name__}: {exc}); "
                          "training eagerly.", stacklevel=2)
            task.wrappers = dict(ctx.eager_nets)
            losses = task.step(batch, ctx)
    else:
        losses = task.step(batch, ctx)
    if ctx.scaler is not None:
        ctx.scaler.update()
    return losses


def _advance_bar(ctx: TrainContext, epoch_losses: dict[str, list[float]]) -> None:
    if ctx.bar is None:
        return
    ctx.bar.update(1)
    if ctx.epoch_step % max(ctx.log_every, 1) == 0 and epoch_losses.get("loss"):
        ctx.bar.set_postfix(epoch=ctx.epoch + 1, loss=f"{epoch_losses['loss'][-1]:.4g}")


def _evaluate_quietly(task: Task, data: Any, device: torch.device) -> dict[str, float]:
    """``task.evaluate`` without touching the training RNG streams (validation never changes training)."""
    devices = [device] if device.type == "cuda" else []
    state = task.generator.get_state()
    with torch.random.fork_rng(devices=devices):
        try:
            return task.evaluate(data)
        finally:
            task.generator.set_state(state)


def _flush(pending: list[dict[str, torch.Tensor]], epoch_losses: dict[str, list[float]], ctx: TrainContext) -> None:
    """Bring buffered step losses to the host (one sync), average across ranks, check for NaN/inf."""
    if not pending:
        return
    keys = list(pending[0].keys())
    table = torch.stack([torch.stack([p[k].detach().float().reshape(()) for k in keys]) for p in pending])
    values = mean_over_ranks(table, ctx.world_size).cpu().tolist()
    first_step = ctx.step - len(pending)
    for i, row in enumerate(values):
        for k, v in zip(keys, row, strict=True):
            if not math.isfinite(v):
                step_in_epoch = ctx.epoch_step - len(pending) + i + 1
                lrs = ", ".join(f"{name}: {o.param_groups[0]['lr']:g}" for name, o in ctx.task.optimizers.items())
                pending.clear()
                raise TrainingDiverged(
                    f"training diverged at epoch {ctx.epoch + 1}, step {step_in_epoch} of the epoch "
                    f"(global step {first_step + i + 1}): loss '{k}' is {v}. Lower the learning rate "
                    f"(now {lrs}), try clip_grad=1.0, and check the data for NaNs or values outside [0, 1].")
    for k, column in zip(keys, zip(*values, strict=True), strict=True):
        epoch_losses.setdefault(k, []).extend(column)
    ctx.history.log_steps({k: [row[j] for row in values] for j, k in enumerate(keys)})
    pending.clear()


def _call(callback: Any, hook: str, ctx: TrainContext) -> None:
    fn = getattr(callback, hook, None)
    if fn is not None:
        fn(ctx)
    elif hook == "on_epoch_end" and callable(callback) and not hasattr(callback, "on_step"):
        callback(ctx)  # a plain function is an end-of-epoch callback


class LRDrop:
    """A ``fit`` callback: multiply every optimiser's learning rate by ``factor`` once, late in training.

    After ``round(at * epochs)`` of ``epochs`` epochs (never after the last one). A
    constant Adam learning rate leaves the weights jittering around a minimum; one late
    drop lets them settle (about +1 dB hole PSNR for the repairers of course/05 and 06,
    and much less seed-to-seed spread). Resume-safe: the dropped rate is part of the
    optimiser state a checkpoint stores.

    Developed in course/05_restoration (``genlab.restoration.train_repairer`` uses it).
    """

    def __init__(self, epochs: int, at: float = 0.75, factor: float = 0.3) -> None:
        if not 0 < at < 1 or not 0 < factor <= 1:
            raise ValueError(f"LRDrop needs 0 < at < 1 and 0 < factor <= 1, got at={at}, factor={factor}.")
        self.epochs = int(epochs)
        self.after = max(1, round(at * self.epochs))
        self.factor = float(factor)

    def on_epoch_end(self, ctx: TrainContext) -> None:
        if ctx.epoch + 1 == self.after and self.after < self.epochs:
            for opt in ctx.task.optimizers.values():
                for group in opt.param_groups:
                    group["lr"] *= self.factor


class CosineLR:
    r"""A ``fit`` callback: a short linear warm-up, then a cosine decay of every learning rate to 0.

    After step :math:`t` of ``total_steps`` (warm-up :math:`w` steps) the rate is
    :math:`\eta\, t / w` while :math:`t < w`, then
    :math:`\tfrac{\eta}{2}\bigl(1 + \cos(\pi \frac{t - w}{T - w})\bigr)`, where :math:`\eta` is the
    optimiser's rate when training began (kept in each parameter group as ``initial_lr``, as
    torch's schedulers do, so a checkpoint resumes on the same curve). For long runs, where one
    late :class:`LRDrop` leaves most of the training at a rate too high to settle.

    Args:
        total_steps: optimiser steps of the whole run (``epochs * batches per epoch``).
        warmup: fraction of the steps spent warming up.

    Developed for the natural-image section of course/05_restoration (the ``photo_repair`` preset).
    """

    def __init__(self, total_steps: int, warmup: float = 0.05) -> None:
        if int(total_steps) < 1 or not 0 <= warmup < 1:
            raise ValueError(f"CosineLR needs total_steps >= 1 and 0 <= warmup < 1, got {total_steps}, {warmup}.")
        self.total = int(total_steps)
        self.warm = int(round(warmup * self.total))

    def factor(self, step: int) -> float:
        """The rate after ``step`` steps, as a fraction of the initial one."""
        if step < self.warm:
            return (step + 1) / self.warm
        t = min(1.0, (step - self.warm) / max(1, self.total - self.warm))
        return 0.5 * (1.0 + math.cos(math.pi * t))

    def _apply(self, ctx: TrainContext) -> None:
        for opt in ctx.task.optimizers.values():
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])
                group["lr"] = group["initial_lr"] * self.factor(ctx.step)

    def on_train_begin(self, ctx: TrainContext) -> None:
        self._apply(ctx)

    def on_step(self, ctx: TrainContext) -> None:
        self._apply(ctx)


def resume_latest(checkpoint_dir: str | os.PathLike, task: Task | None = None) -> Task | None:
    """One call after a Colab reconnect: the task as it was at the last checkpoint, or ``None``.

    Args:
        checkpoint_dir: the folder given to ``fit(..., checkpoint_dir=...)`` (or ``genlab train --out``).
        task: restore into this task; when ``None`` the task and model are rebuilt from the
            checkpoint (``genlab.models.build``), for every task of ``genlab.train.TASKS``.

    Returns:
        The restored task (``task.resumed_epoch`` says how many epochs it has done), or ``None``
        when the folder has no checkpoint yet. Continue with
        ``fit(task, data, epochs, checkpoint_dir=checkpoint_dir, resume=True)``.
    """
    path = Path(checkpoint_dir) / CHECKPOINT_NAME
    if not path.is_file():
        return None
    state = read_checkpoint(path, expected=task)
    if task is None:
        task = build_task({k: state.get(k) for k in ("task", "model", "config", "hparams")})
        read_checkpoint(path, expected=task)  # key check against the rebuilt model
    restore(task, state)
    task.resumed_epoch = int(state["epoch"])
    return task

