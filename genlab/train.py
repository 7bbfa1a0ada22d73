"""One training loop for every model in the course, plus atomic checkpoints and exact resume.

The loop (:func:`fit`) knows nothing about the model. What changes between model
families is one *step function*, held by a small :class:`Task`:

=====================  ==========================================================
task                   one step
=====================  ==========================================================
``AutoencoderTask``    reconstruct ``x`` (or a noisy ``x``) with BCE-with-logits
``VAETask``            minimise the negative ELBO (``genlab.losses.elbo_loss``)
``GANTask``            update D on real and on fake (fakes detached), then G through D
``RepairTask``         draw masks, blank the holes, fill them, masked loss
``ClassifierTask``     cross-entropy on labels
=====================  ==========================================================

Everything else lives in :func:`fit` once: device choice, AMP (bf16 autocast, or
fp16 with a ``GradScaler``), gradient clipping, a NaN/inf guard, progress bars,
metric history as plain data, callbacks (the training dashboard hooks in here),
atomic checkpoints holding every RNG state (so resume is bit-exact on CPU),
``channels_last``, optional ``torch.compile`` and DDP when launched by torchrun.

Developed in course/07_gpu_training (lab 07).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import random
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import CheckpointError, GenlabError

__all__ = [
    "AutoencoderTask",
    "CHECKPOINT_NAME",
    "ClassifierTask",
    "GANTask",
    "History",
    "LRDrop",
    "RepairTask",
    "Task",
    "TrainContext",
    "TrainingDiverged",
    "VAETask",
    "build_task",
    "fit",
    "load_checkpoint",
    "restore",
    "resume_latest",
    "save_checkpoint",
]

#: File name :func:`fit` writes inside ``checkpoint_dir`` (the latest epoch; replaced atomically).
CHECKPOINT_NAME = "checkpoint.pt"
#: Marker stored in every checkpoint; a file without it is not a genlab checkpoint.
CHECKPOINT_FORMAT = "genlab-checkpoint/1"


class TrainingDiverged(GenlabError, RuntimeError):
    """A loss became NaN or infinite: training stopped instead of writing garbage weights."""


# ----------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    """Turn configs (dataclasses, tuples, torch dtypes) into JSON-like plain data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, torch.dtype):
        return str(value)
    return repr(value)


def _model_identity(model: nn.Module) -> tuple[str, dict]:
    """Best guess of a model's registry name and config when the caller gave none."""
    name = getattr(model, "registry_name", None) or getattr(model, "genlab_name", None)
    config = getattr(model, "config", None) or getattr(model, "cfg", None)
    return (name or type(model).__name__), (_plain(config) if config is not None else {})


def _is_interactive() -> bool:
    """True in a terminal or a Jupyter kernel, where a progress bar helps a person."""
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _as_batch(batch: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Normalise what a loader yields into ``(x, y_or_None)``."""
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, Mapping):
        return batch["x"], batch.get("y")
    if isinstance(batch, (list, tuple)):
        if len(batch) == 1:
            return batch[0], None
        return batch[0], batch[1]
    raise TypeError(f"a batch must be a tensor x, a tuple (x, y) or a dict with 'x'; got {type(batch).__name__}.")


def _batches_of(data: Any, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Fixed-order batches over an in-memory dataset or a loader (used by ``evaluate``)."""
    if isinstance(data, torch.Tensor) or (isinstance(data, tuple) and data and isinstance(data[0], torch.Tensor)):
        x, y = _as_batch(data)
        for i in range(0, len(x), batch_size):
            yield x[i:i + batch_size], (None if y is None else y[i:i + batch_size])
    else:
        for batch in data:
            yield _as_batch(batch)


# ----------------------------------------------------------------------------------------------
# History: plain data
# ----------------------------------------------------------------------------------------------

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
        _atomic_write_bytes(Path(path), json.dumps(clean(self.to_dict()), indent=1).encode())

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

    Step functions use :meth:`autocast` around forward passes and :meth:`optimize` for
    ``zero_grad -> backward -> (unscale, clip) -> step``, so AMP and clipping live here once.
    """

    def __init__(self, task: Task, history: History, device: torch.device, *, amp_dtype: torch.dtype | None,
                 scaler: Any, clip_grad: float | None, rank: int = 0, world_size: int = 1,
                 channels_last: bool = False) -> None:
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


# ----------------------------------------------------------------------------------------------
# Tasks: one step function per model family
# ----------------------------------------------------------------------------------------------

class Task:
    """A model family's training step, its modules and optimisers.

    Attributes:
        modules: ``{name: nn.Module}`` trained by this task (saved in checkpoints).
        optimizers: ``{name: Optimizer}``.
        model: the module a user keeps (the GAN pair, the VAE, ...).
        model_name, model_config: registry name and config (``genlab.models.build(name, **config)``).
        hparams: the task's own settings (lr, beta, ...), plain data.
        generator: CPU ``torch.Generator`` for the task's randomness (noise, masks, latents);
            its state is checkpointed so resume is exact.

    Subclasses implement :meth:`step` (and usually :meth:`losses`, used by :meth:`evaluate`).
    """

    def __init__(self, model: nn.Module, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                 *, hparams: Mapping[str, Any] | None = None, model_name: str | None = None,
                 model_config: Mapping[str, Any] | None = None, seed: int = 0) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"{type(self).__name__} needs an nn.Module, got {type(model).__name__}. "
                            "Build one with genlab.models.build(name, **config).")
        self.model = model
        self.modules = dict(modules)
        self.optimizers = dict(optimizers)
        guess_name, guess_config = _model_identity(model)
        self.model_name = model_name or guess_name
        self.model_config = _plain(model_config) if model_config is not None else guess_config
        self.hparams = _plain(dict(hparams or {}))
        self.generator = torch.Generator().manual_seed(seed)
        self._nets: dict[str, nn.Module] = {}  # DDP / compiled wrappers while fit() runs
        self._preview: torch.Tensor | None = None  # a few inputs kept for sample()

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return type(self).__name__

    def net(self, name: str = "model") -> nn.Module:
        """The module to call in a step: its DDP/compiled wrapper while training, else itself."""
        return self._nets.get(name) or self.modules[name]

    def to(self, device: torch.device | str) -> Task:
        for m in self.modules.values():
            m.to(device)
        return self

    def train(self) -> None:
        for m in self.modules.values():
            m.train()

    def eval(self) -> None:
        for m in self.modules.values():
            m.eval()

    @property
    def device(self) -> torch.device:
        for m in self.modules.values():
            for p in m.parameters():
                return p.device
        return torch.device("cpu")

    def spec(self) -> dict:
        """Plain description used to check and rebuild checkpoints."""
        return {"task": self.name, "model": self.model_name, "config": self.model_config,
                "hparams": self.hparams}

    def rng_state(self) -> dict:
        return {"generator": self.generator.get_state()}

    def set_rng_state(self, state: Mapping) -> None:
        if "generator" in state:
            self.generator.set_state(state["generator"])

    def randn(self, *shape: int) -> torch.Tensor:
        """Standard normal noise from the task's generator, on the task's device."""
        return torch.randn(*shape, generator=self.generator).to(self.device, non_blocking=True)

    def _keep_preview(self, x: torch.Tensor, n: int = 16) -> None:
        self._preview = x[:n].detach()

    # -- the parts a model family fills in -------------------------------------------------
    def step(self, batch: tuple[torch.Tensor, torch.Tensor | None], ctx: TrainContext) -> dict[str, torch.Tensor]:
        """One training step on ``batch = (x, y_or_None)`` (on the device). Returns detached losses."""
        raise NotImplementedError

    def losses(self, batch: tuple[torch.Tensor, torch.Tensor | None], ctx: TrainContext | None = None
               ) -> dict[str, torch.Tensor]:
        """Forward-only losses (scalars) of a batch; used by :meth:`step` and :meth:`evaluate`."""
        raise NotImplementedError

    @torch.no_grad()
    def evaluate(self, data: Any, *, batch_size: int = 256) -> dict[str, float]:
        """Mean of :meth:`losses` over ``data`` (tensor, ``(x, y)`` or a loader), in eval mode."""
        was_training = [m.training for m in self.modules.values()]
        self.eval()
        device = self.device
        totals: dict[str, float] = {}
        count = 0
        try:
            for x, y in _batches_of(data, batch_size):
                x = x.to(device)
                y = None if y is None else y.to(device)
                out = self.losses((x, y), None)
                for k, v in out.items():
                    totals[k] = totals.get(k, 0.0) + float(v) * len(x)
                count += len(x)
        except NotImplementedError:
            return {}
        finally:
            for m, flag in zip(self.modules.values(), was_training, strict=True):
                m.train(flag)
        return {k: v / max(count, 1) for k, v in totals.items()}

    @torch.no_grad()
    def sample(self, n: int = 16) -> torch.Tensor | None:
        """Images in ``[0, 1]`` for a dashboard (samples or reconstructions), or ``None``."""
        return None


def _adam(module: nn.Module, lr: float, betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Optimizer:
    return torch.optim.Adam(module.parameters(), lr=lr, betas=betas)


def _bce_per_image(x_logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli reconstruction loss in nats per image: sum over pixels, mean over the batch."""
    return F.binary_cross_entropy_with_logits(x_logits.float(), x.float(), reduction="sum") / x.shape[0]


class _SingleModelTask(Task):
    """A task with one module and one Adam optimiser; ``step`` = ``optimize(losses()["loss"])``."""

    def __init__(self, model: nn.Module, lr: float, *, hparams: Mapping[str, Any], **kw: Any) -> None:
        super().__init__(model, {"model": model}, {"model": _adam(model, lr)},
                         hparams={"lr": lr, **hparams}, **kw)

    def step(self, batch, ctx):
        self._keep_preview(batch[0])
        with ctx.autocast():
            out = self.losses(batch, ctx)
        ctx.optimize(out["loss"], "model")
        return {k: v.detach() for k, v in out.items()}


class AutoencoderTask(_SingleModelTask):
    r"""Autoencoder: ``model(x) -> logits``, Bernoulli reconstruction loss.

    .. math:: \mathcal{L} = -\sum_{i} x_i \log \sigma(\hat x_i) + (1 - x_i)\log(1 - \sigma(\hat x_i))

    summed over pixels, averaged over the batch. With ``noise_sigma > 0`` it is a
    *denoising* autoencoder: the input is ``clamp(x + sigma * eps, 0, 1)`` and the
    target the clean ``x``.

    Developed in course/01_autoencoders (lab 01).
    """

    def __init__(self, model: nn.Module, lr: float = 1e-3, noise_sigma: float = 0.0, **kw: Any) -> None:
        if noise_sigma < 0:
            raise ValueError(f"noise_sigma must be >= 0, got {noise_sigma}.")
        super().__init__(model, lr, hparams={"noise_sigma": float(noise_sigma)}, **kw)
        self.noise_sigma = float(noise_sigma)

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """The denoising corruption (identity when ``noise_sigma == 0``)."""
        if self.noise_sigma == 0:
            return x
        eps = torch.randn(x.shape, generator=self.generator).to(x.device, non_blocking=True)
        return (x + self.noise_sigma * eps).clamp(0, 1)

    def losses(self, batch, ctx=None):
        x, _ = batch
        x_logits = self.net("model")(self.corrupt(x))
        return {"loss": _bce_per_image(x_logits, x)}

    @torch.no_grad()
    def sample(self, n=16):
        if self._preview is None:
            return None
        x = self._preview[:n]
        return torch.sigmoid(self.modules["model"](self.corrupt(x)).float())


class VAETask(_SingleModelTask):
    r"""VAE: minimise the negative ELBO with ``genlab.losses.elbo_loss``.

    .. math:: \mathcal{L} = \mathbb{E}_{q(z|x)}[-\log p(x|z)] + \beta\, \mathrm{KL}(q(z|x)\,\|\,p(z))

    Logged: ``loss`` (the objective), ``kl`` (per image) and ``recon`` (= loss - beta kl).

    Developed in course/02_vae (lab 02).
    """

    def __init__(self, model: nn.Module, lr: float = 1e-3, beta: float = 1.0, **kw: Any) -> None:
        super().__init__(model, lr, hparams={"beta": float(beta)}, **kw)
        self.beta = float(beta)

    def losses(self, batch, ctx=None):
        from .losses import elbo_loss, kl_divergence

        x, _ = batch
        x_logits, mu, logvar = self.net("model")(x)
        loss = elbo_loss(x.float(), x_logits.float(), mu.float(), logvar.float(), beta=self.beta)
        kl = kl_divergence(mu.float(), logvar.float()).mean().detach()
        return {"loss": loss, "kl": kl, "recon": loss.detach() - self.beta * kl}

    @torch.no_grad()
    def sample(self, n=16):
        """Decode a fixed batch of latents (comparable grids across epochs; no training RNG used)."""
        model = self.modules["model"]
        d = _find_attr([model], ("latent_dim", "z_dim"))
        if d is None or not hasattr(model, "decode"):
            return None
        z = torch.randn(n, int(d), generator=torch.Generator().manual_seed(1234)).to(self.device)
        was = model.training
        model.eval()
        try:
            return torch.sigmoid(model.decode(z).float())
        finally:
            model.train(was)


def _gan_parts(pair: nn.Module) -> tuple[nn.Module, nn.Module]:
    g, d = getattr(pair, "generator", None), getattr(pair, "discriminator", None)
    if not isinstance(g, nn.Module) or not isinstance(d, nn.Module):
        raise TypeError("GANTask needs a GAN pair: a module with .generator and .discriminator "
                        f"(genlab.models.build('dcgan')), got {type(pair).__name__}.")
    return g, d


def _find_attr(objs: Iterable[Any], names: Sequence[str], default: Any = None) -> Any:
    for obj in objs:
        for holder in (obj, getattr(obj, "config", None), getattr(obj, "cfg", None)):
            if holder is None:
                continue
            for name in names:
                value = getattr(holder, name, None)
                if value is not None and not callable(value):
                    return value
    return default


class GANTask(Task):
    r"""GAN: alternate one discriminator and one generator update per batch.

    D maximises :math:`\log D(x) + \log(1 - D(G(z)))` (``genlab.losses.discriminator_loss``);
    G minimises :math:`-\log D(G(z))` (non-saturating, the default: strong gradients early
    when D easily rejects fakes) or :math:`\log(1 - D(G(z)))` (saturating, the minimax form).
    Conditional when the pair has ``n_classes > 0``: labels go to both G and D.
    ``augment=k`` shifts every image D sees during training, real and fake, by up to ``k``
    pixels (``genlab.data.random_translate``): on a dataset of a few thousand images D
    otherwise memorises the training set and its gradients stop teaching G much.

    Logged: ``loss_d``, ``loss_g``, ``d_real`` and ``d_fake`` (mean D probabilities) and
    ``loss`` (= ``loss_d + loss_g``, a single number to watch for divergence only).

    Developed in course/04_gans_on_images (lab 04).
    """

    def __init__(self, pair: nn.Module, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
                 non_saturating: bool = True, augment: int = 0, **kw: Any) -> None:
        generator, discriminator = _gan_parts(pair)
        betas = (float(betas[0]), float(betas[1]))
        if not isinstance(augment, int) or augment < 0:
            raise ValueError(f"augment is a shift in pixels (an integer >= 0), got {augment!r}.")
        hparams = {"lr": lr, "betas": betas, "non_saturating": bool(non_saturating)}
        if augment:
            hparams["augment"] = augment
        super().__init__(pair, {"generator": generator, "discriminator": discriminator},
                         {"generator": _adam(generator, lr, betas), "discriminator": _adam(discriminator, lr, betas)},
                         hparams=hparams, **kw)
        self.non_saturating = bool(non_saturating)
        self.augment = augment
        self.z_dim = int(_find_attr([generator, pair], ("z_dim", "latent_dim", "nz")))
        self.n_classes = int(_find_attr([generator, pair], ("n_classes", "num_classes"), 0) or 0)
        # A fixed noise batch: sample grids stay comparable from epoch to epoch.
        fixed = torch.Generator().manual_seed(1234)
        self.fixed_z = torch.randn(64, self.z_dim, generator=fixed)
        self.fixed_y = torch.arange(64) % self.n_classes if self.n_classes else None

    def _g(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        g = self.net("generator")
        return g(z, y) if self.n_classes else g(z)

    def _d(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        d = self.net("discriminator")
        if self.augment and d.training:
            # differentiable augmentation: every image D sees, real or fake, is shifted
            from .data import random_translate
            x = random_translate(x, self.augment, self.generator)
        return d(x, y) if self.n_classes else d(x)

    def step(self, batch, ctx):
        from .losses import discriminator_loss, generator_loss

        x_real, y = batch
        if self.n_classes and y is None:
            raise ValueError("a conditional GAN (n_classes > 0) needs labels: pass data as (x, y).")
        y = y if self.n_classes else None
        b = x_real.shape[0]
        z = self.randn(b, self.z_dim)

        # (1) Update D on real and on fake. The fakes are detached: this step must not move G.
        with ctx.autocast():
            x_fake = self._g(z, y)
            d_real = self._d(x_real, y)
            d_fake = self._d(x_fake.detach(), y)
            loss_d = discriminator_loss(d_real.float(), d_fake.float())
        ctx.optimize(loss_d, "discriminator")

        # (2) Update G through D: gradients flow through D into G; only G's optimiser steps
        # (D's gradients from this pass are cleared by its zero_grad next step).
        with ctx.autocast():
            d_fake_for_g = self._d(x_fake, y)
            loss_g = generator_loss(d_fake_for_g.float(), non_saturating=self.non_saturating)
        ctx.optimize(loss_g, "generator")

        return {"loss": (loss_d + loss_g).detach(), "loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
                "d_real": torch.sigmoid(d_real.float()).mean().detach(),
                "d_fake": torch.sigmoid(d_fake.float()).mean().detach()}

    @torch.no_grad()
    def sample(self, n=16):
        z = self.fixed_z[:n].to(self.device)
        y = None if self.fixed_y is None else self.fixed_y[:n].to(self.device)
        g = self.modules["generator"]
        was = g.training
        g.eval()
        try:
            return (g(z, y) if self.n_classes else g(z)).float().clamp(0, 1)
        finally:
            g.train(was)

    @torch.no_grad()
    def evaluate(self, data, *, batch_size=256):
        """D's mean probability on real data and on as many fakes (a health check, not a metric)."""
        self.eval()
        total_real = total_fake = 0.0
        count = 0
        device = self.device
        try:
            for x, y in _batches_of(data, batch_size):
                x = x.to(device)
                y = None if (y is None or not self.n_classes) else y.to(device)
                z = self.randn(len(x), self.z_dim)
                total_real += float(torch.sigmoid(self._d(x, y).float()).sum())
                total_fake += float(torch.sigmoid(self._d(self._g(z, y), y).float()).sum())
                count += len(x)
        finally:
            self.train()
        return {"d_real": total_real / max(count, 1), "d_fake": total_fake / max(count, 1)}


#: Default masks of the restoration tasks: half centre blocks, half whole-row bands.
DEFAULT_MASKS: tuple[str, ...] = ("center", "rows")


class RepairTask(_SingleModelTask):
    r"""Inpainting: draw masks, blank the holes, let ``model(x_masked, mask)`` fill them.

    ``loss="masked_mse"`` (default) scores only the hole,
    :math:`\sum_i m_i (\hat x_i - x_i)^2 / \sum_i m_i`; ``"mse"`` and ``"l1"`` score the
    whole image (``"masked_l1"`` is also accepted).

    Args:
        model: a repairer, ``forward(x_masked, mask) -> x_hat`` in ``[0, 1]``.
        lr: Adam learning rate.
        masks: a mask kind for ``genlab.masks.make_mask`` (``"center"``, ``"rows"``, ...), a
            sequence of kinds (each batch is split evenly between them), or a callable
            ``(batch, size, generator) -> mask (B, 1, H, W)``.
        loss: ``"masked_mse"``, ``"masked_l1"``, ``"mse"`` or ``"l1"``.

    Developed in course/05_restoration (lab 05).
    """

    LOSSES = ("masked_mse", "masked_l1", "mse", "l1")

    def __init__(self, model: nn.Module, lr: float = 1e-3, masks: Any = DEFAULT_MASKS,
                 loss: str = "masked_mse", **kw: Any) -> None:
        if loss not in self.LOSSES:
            raise ValueError(f"loss must be one of {self.LOSSES}, got {loss!r}.")
        if isinstance(masks, str):
            masks = (masks,)
        mask_spec = list(masks) if not callable(masks) else getattr(masks, "__name__", "callable")
        super().__init__(model, lr, hparams={"masks": mask_spec, "loss": loss}, **kw)
        self.masks = masks
        self.loss_name = loss

    def draw_masks(self, x: torch.Tensor) -> torch.Tensor:
        """Masks ``(B, 1, H, W)`` (1 = missing) for a batch, drawn with the task's generator."""
        b, size = x.shape[0], tuple(x.shape[-2:])
        if callable(self.masks):
            mask = self.masks(b, size, self.generator)
        else:
            from .masks import make_mask

            kinds = list(self.masks)
            counts = [b // len(kinds) + (1 if i < b % len(kinds) else 0) for i in range(len(kinds))]
            parts = [make_mask(kind, n, size[0], generator=self.generator)
                     for kind, n in zip(kinds, counts, strict=True) if n > 0]
            mask = torch.cat(parts)
        return mask.float().to(x.device, non_blocking=True)

    def losses(self, batch, ctx=None):
        from .masks import apply_mask

        x, _ = batch
        mask = self.draw_masks(x)
        x_hat = self.net("model")(apply_mask(x, mask), mask).float()
        x = x.float()
        if self.loss_name == "masked_mse":
            from .losses import masked_mse
            loss = masked_mse(x_hat, x, mask)
        elif self.loss_name == "masked_l1":
            from .losses import masked_l1
            loss = masked_l1(x_hat, x, mask)
        elif self.loss_name == "mse":
            loss = F.mse_loss(x_hat, x)
        else:
            loss = F.l1_loss(x_hat, x)
        return {"loss": loss}

    @torch.no_grad()
    def sample(self, n=16):
        if self._preview is None:
            return None
        from .masks import apply_mask

        x = self._preview[:n]
        state = self.generator.get_state()  # previews must not shift the training masks
        try:
            mask = self.draw_masks(x)
        finally:
            self.generator.set_state(state)
        return self.modules["model"](apply_mask(x, mask), mask).float().clamp(0, 1)


class ClassifierTask(_SingleModelTask):
    """Classifier: cross-entropy on labels; logs ``loss`` and ``accuracy``."""

    def __init__(self, model: nn.Module, lr: float = 1e-3, **kw: Any) -> None:
        super().__init__(model, lr, hparams={}, **kw)

    def losses(self, batch, ctx=None):
        x, y = batch
        if y is None:
            raise ValueError("ClassifierTask needs labels: pass data as (x, y).")
        logits = self.net("model")(x).float()
        return {"loss": F.cross_entropy(logits, y),
                "accuracy": (logits.argmax(1) == y).float().mean().detach()}


#: Task classes by name (used to rebuild a task from a checkpoint).
TASKS: dict[str, type[Task]] = {cls.__name__: cls for cls in
                                (AutoencoderTask, VAETask, GANTask, RepairTask, ClassifierTask)}


def build_task(spec: Mapping[str, Any]) -> Task:
    """Rebuild a task from :meth:`Task.spec` (model from ``genlab.models.build``)."""
    from . import models

    cls = TASKS.get(spec.get("task", ""))
    if cls is None:
        raise CheckpointError(f"unknown task {spec.get('task')!r}; known: {sorted(TASKS)}.")
    model = models.build(spec["model"], **dict(spec.get("config") or {}))
    hparams = dict(spec.get("hparams") or {})
    if "betas" in hparams:
        hparams["betas"] = tuple(hparams["betas"])
    if isinstance(hparams.get("masks"), list):
        hparams["masks"] = tuple(hparams["masks"])
    return cls(model, **hparams, model_name=spec["model"], model_config=spec.get("config") or {})


# ----------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------

_PLAIN_TYPES = (type(None), bool, int, float, str, bytes, torch.Tensor, torch.dtype, torch.device, torch.Size)


def _check_plain(value: Any, where: str = "state") -> None:
    """Refuse anything ``torch.load(weights_only=True)`` could not read back."""
    if type(value) in _PLAIN_TYPES or isinstance(value, torch.Tensor):
        return  # exact types: a str subclass (e.g. torch.__version__) would need pickling
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"checkpoint key {where}[{k!r}] must be a str or int.")
            _check_plain(v, f"{where}[{k!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    raise TypeError(f"{where} is a {type(value).__name__}: checkpoints hold only tensors and plain "
                    "Python data (so torch.load(weights_only=True) can read them). Convert it first.")


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """Write to a temp file in the same folder, fsync, then ``os.replace``: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); give it the usual permissions instead.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    _atomic_write(path, lambda f: f.write(data))


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    """Save ``state`` atomically: a crash mid-save leaves the previous file intact.

    Args:
        path: destination file (its folder is created).
        state: tensors and plain Python data only (checked), e.g. from :func:`fit`.

    Returns:
        The path written.
    """
    path = Path(path)
    _check_plain(state)
    _atomic_write(path, lambda f: torch.save(dict(state), f))
    return path


def _describe_model(name: Any, config: Any) -> str:
    return f"{name!r} with config {json.dumps(config, sort_keys=True)}"


def _expected_spec(expected: Any) -> tuple[dict | None, dict[str, set] | None]:
    if expected is None:
        return None, None
    if isinstance(expected, Task):
        keys = {name: set(m.state_dict().keys()) for name, m in expected.modules.items()}
        return expected.spec(), keys
    if isinstance(expected, Mapping):
        return dict(expected), None
    raise TypeError(f"expected must be a Task, a dict with 'model'/'config', or None; got {type(expected).__name__}.")


def load_checkpoint(path: str | os.PathLike, expected: Task | Mapping[str, Any] | None = None) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` with ``torch.load(weights_only=True)``.

    Args:
        path: the file.
        expected: a :class:`Task` (or ``{"model": name, "config": {...}}``) the checkpoint must
            belong to: same model name, same config, same state_dict keys.

    Returns:
        The state dict (tensors on the CPU).

    Raises:
        CheckpointError: missing, truncated or corrupted file, not a genlab checkpoint, or a
            checkpoint of another model.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: the file does not exist. Train first "
                              "(genlab train ... --out DIR) or check the path.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, bad pickle, wrong magic: all mean the same to a user
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupted and cannot be read ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}). Delete it and train again, or "
            "resume from an earlier copy.") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a genlab training checkpoint (no '{CHECKPOINT_FORMAT}' marker).")
    spec, keys = _expected_spec(expected)
    if spec is not None:
        held = (state.get("model"), _plain(state.get("config")))
        want = (spec.get("model"), _plain(spec.get("config")))
        if held[0] != want[0] or (spec.get("config") is not None and held[1] != want[1]):
            raise CheckpointError(
                f"checkpoint {path} holds model {_describe_model(*held)}, but the expected model is "
                f"{_describe_model(*want)}. Point to the right folder or build the model with the "
                "checkpoint's config.")
        if "task" in spec and state.get("task") not in (None, spec["task"]):
            raise CheckpointError(f"checkpoint {path} was written by {state.get('task')}, "
                                  f"but it is being loaded into {spec['task']}.")
    if keys is not None:
        held_modules = state.get("modules", {})
        for name, want_keys in keys.items():
            got = set(held_modules.get(name, {}).keys())
            if got != want_keys:
                missing = sorted(want_keys - got)[:3]
                extra = sorted(got - want_keys)[:3]
                raise CheckpointError(
                    f"checkpoint {path} holds model {_describe_model(state.get('model'), state.get('config'))} "
                    f"whose '{name}' weights do not fit the expected model "
                    f"{_describe_model(spec.get('model'), spec.get('config'))}: missing {missing}, "
                    f"unexpected {extra}.")
    return state


def _rng_state(data_generator: torch.Generator | None, task: Task) -> dict:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": _plain_py_random(random.getstate()),
        "task": task.rng_state(),
    }
    if data_generator is not None:
        state["data"] = data_generator.get_state()
    return state


def _plain_py_random(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _set_rng_state(state: Mapping, data_generator: torch.Generator | None, task: Task) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    npst = state.get("numpy")
    if npst:
        np.random.set_state((npst["name"], npst["keys"].numpy().astype(np.uint32), npst["pos"],
                             npst["has_gauss"], npst["cached_gaussian"]))
    py = state.get("python")
    if py:
        random.setstate((py[0], tuple(py[1]), py[2]))
    if data_generator is not None and "data" in state:
        data_generator.set_state(state["data"])
    if "task" in state:
        task.set_rng_state(state["task"])


def checkpoint_state(task: Task, *, epoch: int, step: int, history: History, scaler: Any = None,
                     data_generator: torch.Generator | None = None, extra: Mapping | None = None) -> dict:
    """Everything needed to continue training exactly where it stopped (plain data only)."""
    spec = task.spec()
    return {
        "format": CHECKPOINT_FORMAT,
        "task": spec["task"], "model": spec["model"], "config": spec["config"], "hparams": spec["hparams"],
        "modules": {name: m.state_dict() for name, m in task.modules.items()},
        "optimizers": {name: o.state_dict() for name, o in task.optimizers.items()},
        "scaler": scaler.state_dict() if scaler is not None else None,
        "epoch": int(epoch), "step": int(step),
        "history": history.to_dict(),
        "rng": _rng_state(data_generator, task),
        "torch_version": str(torch.__version__),
        "extra": dict(extra or {}),
    }


def restore(task: Task, state: Mapping[str, Any], *, optimizers: bool = True) -> None:
    """Load a checkpoint's module (and optimiser) states into ``task``."""
    for name, module in task.modules.items():
        if name not in state["modules"]:
            raise CheckpointError(f"the checkpoint has no weights for '{name}' (it holds {sorted(state['modules'])}).")
        module.load_state_dict(state["modules"][name])
    if optimizers:
        for name, opt in task.optimizers.items():
            if name in state.get("optimizers", {}):
                opt.load_state_dict(state["optimizers"][name])


def resume_latest(checkpoint_dir: str | os.PathLike, task: Task | None = None) -> Task | None:
    """One call after a Colab reconnect: the task as it was at the last checkpoint, or ``None``.

    Args:
        checkpoint_dir: the folder given to ``fit(..., checkpoint_dir=...)`` (or ``genlab train --out``).
        task: restore into this task; when ``None`` the task and model are rebuilt from the
            checkpoint (``genlab.models.build``).

    Returns:
        The restored task (``task.resumed_epoch`` says how many epochs it has done), or ``None``
        when the folder has no checkpoint yet. Continue with
        ``fit(task, data, epochs, checkpoint_dir=checkpoint_dir, resume=True)``.
    """
    path = Path(checkpoint_dir) / CHECKPOINT_NAME
    if not path.is_file():
        return None
    state = load_checkpoint(path, expected=task)
    if task is None:
        task = build_task({k: state.get(k) for k in ("task", "model", "config", "hparams")})
        load_checkpoint(path, expected=task)  # key check against the rebuilt model
    restore(task, state)
    task.resumed_epoch = int(state["epoch"])
    return task


# ----------------------------------------------------------------------------------------------
# Distributed plumbing
# ----------------------------------------------------------------------------------------------

def launched_by_torchrun() -> bool:
    """True when the environment says several processes run this script (torchrun sets these)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def _setup_distributed(device: torch.device | None) -> tuple[int, int, torch.device, bool]:
    """Join (or create) the process group; returns rank, world size, device, whether we created it."""
    import torch.distributed as dist

    created = False
    if not dist.is_initialized():
        if "MASTER_ADDR" not in os.environ and "TORCHELASTIC_RUN_ID" not in os.environ:
            raise ValueError("distributed=True needs several processes: launch the script with "
                             "`torchrun --nproc_per_node=N script.py` (or init the process group yourself).")
        use_cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
        backend = "nccl" if use_cuda else "gloo"
        dist.init_process_group(backend=backend)
        created = True
    rank, world = dist.get_rank(), dist.get_world_size()
    if device is None:
        if torch.cuda.is_available() and dist.get_backend() == "nccl":
            local = int(os.environ.get("LOCAL_RANK", rank % torch.cuda.device_count()))
            device = torch.device("cuda", local)
        else:
            device = torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return rank, world, device, created


# ----------------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------------

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


def _call(callback: Any, hook: str, ctx: TrainContext) -> None:
    fn = getattr(callback, hook, None)
    if fn is not None:
        fn(ctx)
    elif hook == "on_epoch_end" and callable(callback) and not hasattr(callback, "on_step"):
        callback(ctx)  # a plain function is an end-of-epoch callback


def _resolve_amp(device: torch.device, amp: bool, amp_dtype: torch.dtype | None) -> tuple[torch.dtype | None, Any]:
    """AMP policy: bf16 autocast where supported (no scaler needed), else fp16 + GradScaler on CUDA."""
    if not amp:
        return None, None
    if device.type == "cuda":
        dtype = amp_dtype or (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
        scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
        return dtype, scaler
    if device.type == "cpu":
        if amp_dtype not in (None, torch.bfloat16):
            raise ValueError(f"on the CPU, AMP runs in bfloat16; got amp_dtype={amp_dtype}.")
        return torch.bfloat16, None
    # MPS and others: fp16 autocast, no scaler (GradScaler is CUDA-first).
    return amp_dtype or torch.float16, None


def _in_memory(data: Any) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    if isinstance(data, torch.Tensor):
        return data, None
    if isinstance(data, (tuple, list)) and 1 <= len(data) <= 2 and all(
            isinstance(t, torch.Tensor) or t is None for t in data):
        x = data[0]
        y = data[1] if len(data) == 2 else None
        if y is not None and len(y) != len(x):
            raise ValueError(f"x has {len(x)} items but y has {len(y)}; they must match.")
        return x, y
    return None


def fit(task: Task, data: Any, epochs: int, *, batch_size: int = 64, device: torch.device | str | None = None,
        amp: bool = False, amp_dtype: torch.dtype | None = None, clip_grad: float | None = None,
        checkpoint_dir: str | os.PathLike | None = None, resume: bool = False, callbacks: Iterable[Any] = (),
        progress: bool | None = None, seed: int = 0, channels_last: bool = False, compile: bool = False,
        val_data: Any = None, log_every: int = 10, distributed: bool | None = None,
        shuffle: bool = True, drop_last: bool = False) -> History:
    """Train ``task`` on ``data`` for ``epochs`` epochs (in total, counting resumed ones).

    Args:
        task: an :class:`AutoencoderTask`, :class:`VAETask`, :class:`GANTask`, :class:`RepairTask`,
            :class:`ClassifierTask` (or your own :class:`Task`).
        data: in-memory ``x`` or ``(x, y)`` tensors (shuffled each epoch by a checkpointed
            generator, so resume is exact), or any iterable of batches (a ``DataLoader``).
        epochs: total number of epochs; with ``resume=True`` only the missing ones run.
        batch_size: global batch size for in-memory data (split across DDP ranks).
        device: default ``genlab.device()``; under DDP each rank's GPU (or the CPU).
        amp: mixed precision. CUDA: bf16 if supported, else fp16 with a ``GradScaler``;
            CPU: bf16 autocast. ``amp_dtype`` forces the dtype.
        clip_grad: max global gradient norm per optimiser (``clip_grad_norm_``), or ``None``.
        checkpoint_dir: write ``checkpoint_dir/checkpoint.pt`` atomically after each epoch.
        resume: continue from ``checkpoint_dir/checkpoint.pt`` if it exists (else start fresh).
        callbacks: objects with ``on_step(ctx)`` / ``on_epoch_end(ctx)``, or plain functions
            (called at each epoch end). ``ctx`` is a :class:`TrainContext`.
        progress: tqdm progress bar; ``None`` = on in a terminal or Jupyter, off in fast mode.
        seed: seeds Python, NumPy, torch, the shuffling and the task's generator (fresh runs).
        channels_last: NHWC memory format for conv models (faster on tensor cores).
        compile: ``torch.compile`` the modules (skipped with a warning where unavailable).
        val_data: evaluated with ``task.evaluate`` after each epoch; logged as ``val_<name>``.
        log_every: per-step losses are gathered from the device every ``log_every`` steps
            (fewer synchronisations on GPUs); the NaN guard checks every step's value.
        distributed: use DDP; ``None`` = automatically when launched by torchrun.
        shuffle, drop_last: in-memory batching options.

    Returns:
        The :class:`History` (per-epoch means incl. ``images_per_s``, per-step losses).

    Raises:
        TrainingDiverged: a loss became NaN/inf (names epoch, step, loss and value).
    """
    from . import config as _config
    from . import device as _default_device
    from . import seed_everything

    if not isinstance(task, Task):
        raise TypeError(f"fit needs a genlab.train.Task (e.g. VAETask(model, lr)), got {type(task).__name__}.")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")

    # -- processes and device ---------------------------------------------------------------
    distributed = launched_by_torchrun() if distributed is None else distributed
    created_group = False
    rank, world = 0, 1
    if distributed:
        rank, world, device, created_group = _setup_distributed(device)
    else:
        device = torch.device(device) if device is not None else _default_device()
    main_process = rank == 0

    bar = None
    try:
        task.to(device)
        if channels_last:
            for m in task.modules.values():
                m.to(memory_format=torch.channels_last)
        amp_dtype_used, scaler = _resolve_amp(device, amp, amp_dtype)

        in_memory = _in_memory(data)
        if in_memory is None and not isinstance(data, Iterable):
            raise TypeError(f"data must be x, (x, y) or an iterable of batches; got {type(data).__name__}.")
        if in_memory is not None and len(in_memory[0]) == 0:
            raise ValueError("data is empty: there is nothing to train on.")
        if in_memory is not None and device.type == "cuda":
            nbytes = sum(t.numel() * t.element_size() for t in in_memory if t is not None)
            if nbytes < 2**30:
                # Small datasets (digits, MNIST) live on the GPU: batches are then gathered there,
                # with no host-to-device copy per step.
                in_memory = tuple(None if t is None else t.to(device) for t in in_memory)
            else:
                # Pinned host memory lets the per-batch non_blocking copies overlap compute.
                in_memory = tuple(t.pin_memory() if t is not None and not t.is_pinned() else t
                                  for t in in_memory)

        # -- randomness: fresh seeds, or the exact states of the checkpoint ------------------
        history = History()
        start_epoch, global_step = 0, 0
        data_generator = torch.Generator().manual_seed(seed)
        seed_everything(seed + rank)
        task.generator.manual_seed(seed + 7919 * rank + 1)
        ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
        if resume and ckpt_path is None:
            raise ValueError("resume=True needs checkpoint_dir: where should the checkpoint come from?")
        if resume and ckpt_path.is_file():
            state = load_checkpoint(ckpt_path, expected=task)
            restore(task, state)
            if scaler is not None and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            history = History.from_dict(state.get("history"))
            start_epoch, global_step = int(state["epoch"]), int(state["step"])
            _set_rng_state(state["rng"], data_generator, task)
            if rank > 0:  # ranks share rank 0's saved states; keep their noise independent
                task.generator.manual_seed(int(torch.randint(2**62, (1,), generator=task.generator)) + rank)

        # -- wrappers: DDP syncs gradients; compile fuses kernels ----------------------------
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            for name, m in task.modules.items():
                if any(p.requires_grad for p in m.parameters()):
                    ids = [device.index] if device.type == "cuda" else None
                    task._nets[name] = DDP(m, device_ids=ids)
        eager_nets = dict(task._nets)  # what to fall back to if compilation fails
        compiled = False
        if compile:
            if not hasattr(torch, "compile"):
                warnings.warn("torch.compile is not available in this torch version; training eagerly.",
                              stacklevel=2)
            else:
                try:
                    for name in task.modules:
                        task._nets[name] = torch.compile(task.net(name))
                    compiled = True
                except Exception as exc:  # e.g. an unsupported Python or platform
                    warnings.warn(f"torch.compile failed ({exc}); training eagerly.", stacklevel=2)
                    task._nets = dict(eager_nets)

        ctx = TrainContext(task, history, device, amp_dtype=amp_dtype_used, scaler=scaler, clip_grad=clip_grad,
                           rank=rank, world_size=world, channels_last=channels_last)
        ctx.step = global_step
        callbacks = list(callbacks)

        if progress is None:
            progress = _is_interactive() and not _config.is_fast()
        if in_memory is not None:
            n = len(in_memory[0])
            per_epoch = n // batch_size if drop_last else math.ceil(n / batch_size)
        else:
            per_epoch = len(data) if hasattr(data, "__len__") else None
        if progress and main_process and start_epoch < epochs:
            from tqdm.auto import tqdm

            total = per_epoch * (epochs - start_epoch) if per_epoch else None
            bar = tqdm(total=total, desc=f"{task.name}", unit="step", dynamic_ncols=True)

        for epoch in range(start_epoch, epochs):
            ctx.epoch, ctx.epoch_step = epoch, 0
            task.train()
            pending: list[dict[str, torch.Tensor]] = []
            epoch_losses: dict[str, list[float]] = {}
            images = 0
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()

            for x, y in _epoch_batches(data, in_memory, batch_size, shuffle, drop_last, data_generator, rank, world):
                images += len(x) * world
                batch = (ctx.to_device(x), ctx.to_device(y))
                if compiled:
                    # Compilation really happens at the first call; if it fails there (no C
                    # compiler, unsupported op), fall back to eager and redo the step.
                    compiled = False
                    try:
                        losses = task.step(batch, ctx)
                    except TrainingDiverged:
                        raise
                    except Exception as exc:
                        warnings.warn(f"torch.compile failed at the first step ({type(exc).__name__}: {exc}); "
                                      "training eagerly.", stacklevel=2)
                        task._nets = dict(eager_nets)
                        losses = task.step(batch, ctx)
                else:
                    losses = task.step(batch, ctx)
                if scaler is not None:
                    scaler.update()
                ctx.last_losses = losses
                pending.append(losses)
                ctx.step += 1
                ctx.epoch_step += 1
                if len(pending) >= log_every:
                    _flush(pending, epoch_losses, history, ctx)
                for cb in callbacks:
                    _call(cb, "on_step", ctx)
                if bar is not None:
                    bar.update(1)
                    if ctx.epoch_step % max(log_every, 1) == 0 and epoch_losses.get("loss"):
                        bar.set_postfix(epoch=epoch + 1, loss=f"{epoch_losses['loss'][-1]:.4g}")
                if ctx.stop:
                    break
            _flush(pending, epoch_losses, history, ctx)
            if device.type == "cuda":
                torch.cuda.synchronize(device)  # GPU work is asynchronous: time it when it is done
            elapsed = time.perf_counter() - t0

            if not epoch_losses:
                raise ValueError("an epoch had no batches: is the data empty, or drop_last with "
                                 f"fewer than batch_size={batch_size} items?")
            means = {k: float(np.mean(v)) for k, v in epoch_losses.items()}
            means["images_per_s"] = images / max(elapsed, 1e-9)
            means["seconds"] = elapsed
            if val_data is not None:
                means.update({f"val_{k}": v for k, v in _evaluate_quietly(task, val_data, device).items()})
                task.train()
            history.log_epoch(epoch + 1, means)

            if ckpt_path is not None and main_process:
                save_checkpoint(ckpt_path, checkpoint_state(task, epoch=epoch + 1, step=ctx.step, history=history,
                                                            scaler=scaler, data_generator=data_generator))
            if world > 1:
                import torch.distributed as dist

                dist.barrier()  # nobody runs ahead of the checkpoint
            for cb in callbacks:
                _call(cb, "on_epoch_end", ctx)
            if bar is not None:
                bar.set_postfix(epoch=epoch + 1, loss=f"{means.get('loss', float('nan')):.4g}")
            if ctx.stop:
                break
        return history
    finally:
        if bar is not None:
            bar.close()
        task._nets.clear()
        if created_group:
            import torch.distributed as dist

            dist.destroy_process_group()


def _evaluate_quietly(task: Task, data: Any, device: torch.device) -> dict[str, float]:
    """``task.evaluate`` without touching the training RNG streams (validation never changes training)."""
    devices = [device] if device.type == "cuda" else []
    state = task.generator.get_state()
    with torch.random.fork_rng(devices=devices):
        try:
            return task.evaluate(data)
        finally:
            task.generator.set_state(state)


def _epoch_batches(data: Any, in_memory: tuple | None, batch_size: int, shuffle: bool, drop_last: bool,
                   generator: torch.Generator, rank: int, world: int
                   ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """One epoch of batches; under DDP each rank gets its contiguous shard of every global batch."""
    if in_memory is None:
        for batch in data:
            x, y = _as_batch(batch)
            if world > 1:
                x = torch.tensor_split(x, world)[rank]
                y = None if y is None else torch.tensor_split(y, world)[rank]
            yield x, y
        return
    x, y = in_memory
    n = len(x)
    # The permutation comes from a generator whose state goes into every checkpoint.
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = (n // batch_size) * batch_size if drop_last else n
    for i in range(0, stop, batch_size):
        idx = order[i:i + batch_size]
        if world > 1:
            idx = torch.tensor_split(idx, world)[rank]
            if len(idx) == 0:
                continue
        idx = idx.to(x.device)
        yield x[idx], (None if y is None else y[idx.to(y.device)])


def _flush(pending: list[dict[str, torch.Tensor]], epoch_losses: dict[str, list[float]],
           history: History, ctx: TrainContext) -> None:
    """Bring buffered step losses to the host (one sync), average across ranks, check for NaN/inf."""
    if not pending:
        return
    keys = list(pending[0].keys())
    table = torch.stack([torch.stack([p[k].detach().float().reshape(()) for k in keys]) for p in pending])
    if ctx.world_size > 1:
        import torch.distributed as dist

        dist.all_reduce(table, op=dist.ReduceOp.SUM)
        table = table / ctx.world_size
    values = table.cpu().tolist()
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
    history.log_steps({k: [row[j] for row in values] for j, k in enumerate(keys)})
    pending.clear()
