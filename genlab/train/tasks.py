"""The tasks: one training step per model family, and the one registry of families.

=====================  ==========================================================
task                   one step
=====================  ==========================================================
``AutoencoderTask``    reconstruct ``x`` (or a noisy ``x``) with BCE-with-logits
``VAETask``            minimise the negative ELBO (``genlab.losses.elbo_loss``)
``GANTask``            :func:`gan_update`: D on real and on fake (fakes detached), then G through D
``RepairTask``         draw masks, blank the holes, fill them, masked loss
``ClassifierTask``     cross-entropy on labels
``DiffusionTask``      the DDPM noise-prediction loss (``genlab.models.diffusion``)
``Pix2PixTask``        :func:`gan_update` with a patch critic, plus L1 on the hole
=====================  ==========================================================

:data:`TASKS` maps each task's name to its class (so a checkpoint rebuilds its task);
:data:`FAMILY_TASKS` gives the task of every model of ``genlab.models.MODELS`` (checked at
import: the two cannot drift apart), and :data:`FAMILIES` what ``genlab train`` offers,
with each task's default learning rate (``Task.default_lr``).

Developed in course/07_gpu_training (lab 07); each task in the notebook named in its docstring.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import models
from ..errors import CheckpointError
from ..losses import (
    discriminator_loss,
    elbo_loss,
    generator_loss,
    kl_divergence,
    masked_l1,
    masked_mse,
)
from ..masks import MASK_KINDS, apply_mask, make_mask, square_symmetry
from .batches import batches_of
from .checkpoint import plain_data

if TYPE_CHECKING:
    from .context import TrainContext

__all__ = [
    "AutoencoderTask", "ClassifierTask", "DEFAULT_MASKS", "DiffusionTask", "FAMILIES", "FAMILY_TASKS",
    "FillRepairTask", "GANTask", "Pix2PixTask", "RepairTask", "TASKS", "Task", "VAETask", "build_task", "discriminator_update",
    "gan_training_step", "gan_update", "generator_update", "mask_mix",
]


def _model_identity(model: nn.Module) -> tuple[str, dict]:
    """Best guess of a model's registry name and config when the caller gave none."""
    name = getattr(model, "registry_name", None) or getattr(model, "genlab_name", None)
    config = getattr(model, "config", None) or getattr(model, "cfg", None)
    return (name or type(model).__name__), (plain_data(config) if config is not None else {})



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
    ``default_lr`` is the learning rate when none is given (``genlab train`` uses it too).
    """

    default_lr: float = 1e-3

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
        self.model_config = plain_data(model_config) if model_config is not None else guess_config
        self.hparams = plain_data(dict(hparams or {}))
        self.generator = torch.Generator().manual_seed(seed)
        self.wrappers: dict[str, nn.Module] = {}  # DDP / compiled wrappers while fit() runs
        self._preview: torch.Tensor | None = None  # a few inputs kept for sample()

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return type(self).__name__

    def net(self, name: str = "model") -> nn.Module:
        """The module to call in a step: its DDP/compiled wrapper while training, else itself."""
        return self.wrappers.get(name) or self.modules[name]

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
            for x, y in batches_of(data, batch_size):
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

    def __init__(self, model: nn.Module, lr: float | None, *, hparams: Mapping[str, Any], **kw: Any) -> None:
        lr = self.default_lr if lr is None else lr
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

    def __init__(self, model: nn.Module, lr: float | None = None, noise_sigma: float = 0.0, **kw: Any) -> None:
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

    def __init__(self, model: nn.Module, lr: float | None = None, beta: float = 1.0, **kw: Any) -> None:
        super().__init__(model, lr, hparams={"beta": float(beta)}, **kw)
        self.beta = float(beta)

    def losses(self, batch, ctx=None):
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

    default_lr = 2e-4

    def __init__(self, pair: nn.Module, lr: float | None = None, betas: tuple[float, float] = (0.5, 0.999),
                 non_saturating: bool = True, augment: int = 0, **kw: Any) -> None:
        lr = self.default_lr if lr is None else lr
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
            from ..data import random_translate
            x = random_translate(x, self.augment, self.generator)
        return d(x, y) if self.n_classes else d(x)

    def step(self, batch, ctx):
        x_real, y = batch
        if self.n_classes and y is None:
            raise ValueError("a conditional GAN (n_classes > 0) needs labels: pass data as (x, y).")
        y = y if self.n_classes else None
        z = self.randn(x_real.shape[0], self.z_dim)
        with ctx.autocast():
            x_fake = self._g(z, y)
        out = gan_update(lambda x: self._d(x, y), x_real, x_fake, ctx.optimize, autocast=ctx.autocast,
                         non_saturating=self.non_saturating)
        return {"loss": (out["loss_d"] + out["loss_g"]).detach(), **out}

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
            for x, y in batches_of(data, batch_size):
                x = x.to(device)
                y = None if (y is None or not self.n_classes) else y.to(device)
                z = self.randn(len(x), self.z_dim)
                total_real += float(torch.sigmoid(self._d(x, y).float()).sum())
                total_fake += float(torch.sigmoid(self._d(self._g(z, y), y).float()).sum())
                count += len(x)
        finally:
            self.train()
        return {"d_real": total_real / max(count, 1), "d_fake": total_fake / max(count, 1)}


def mask_mix(kinds: Sequence[Any], mask_params: Mapping[str, Mapping[str, Any]] | None = None, *,
             shuffle: bool = True) -> Callable[..., torch.Tensor]:
    """A mask sampler mixing several kinds in every batch: the one sampler of every repairer task.

    Each batch is split evenly between the kinds (the remainder goes to the first ones);
    with ``shuffle`` the batch is then permuted with the same generator, so no kind always
    sits first.

    Args:
        kinds: ``genlab.masks`` kinds (``"center"``, ``"block"``, ``"rows"``, ...); an entry may
            also be a pair ``(kind, params)``, so one kind can come at several sizes
            (``[("rows", {"rows": 5}), ("rows", {"rows": 10})]``).
        mask_params: per-kind parameters, e.g. ``{"block": {"hole": 8}, "rows": {"rows": 5}}``;
            kinds without an entry use ``make_mask``'s defaults (a pair's own params come first).
        shuffle: permute the batch after drawing (one extra draw from the generator).

    Returns:
        ``sampler(batch, size, generator) -> (B, 1, H, W)`` float masks (1 = missing);
        ``size`` may be an int or ``(H, W)``.
    """
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    params = {k: dict(v) for k, v in (mask_params or {}).items()}
    entries: list[tuple[str, dict[str, Any]]] = []
    for k in kinds:
        kind, own = (k, {}) if isinstance(k, str) else (k[0], dict(k[1]))
        if kind not in MASK_KINDS:
            raise ValueError(f"unknown mask kind {kind!r}; known: {list(MASK_KINDS)}.")
        entries.append((kind, {**params.get(kind, {}), **own}))
    if not entries:
        raise ValueError("mask_mix needs at least one mask kind.")

    def sampler(batch: int, size: Any, generator: torch.Generator | None = None) -> torch.Tensor:
        side = size[0] if isinstance(size, (tuple, list, torch.Size)) else int(size)
        n = len(entries)
        counts = [batch // n + (1 if i < batch % n else 0) for i in range(n)]
        parts = [make_mask(kind, c, side, generator=generator, **kw)
                 for (kind, kw), c in zip(entries, counts, strict=True) if c > 0]
        mask = torch.cat(parts)
        if shuffle:
            mask = mask[torch.randperm(batch, generator=generator, device=mask.device)]
        return mask

    sampler.__name__ = "mix_" + "_".join(kind for kind, _ in entries)
    # plain data that rebuilds this very sampler (a checkpoint's hparams; build_task)
    sampler.spec = {"mix": [[kind, dict(kw)] for kind, kw in entries], "shuffle": bool(shuffle)}
    return sampler


def _masks_arg(masks: Any) -> Any:
    """A task's ``masks`` argument as the task keeps it: a kind becomes a 1-tuple, and a
    :func:`mask_mix` sampler's ``spec`` (a checkpoint's hparams) becomes that sampler again."""
    if isinstance(masks, str):
        return (masks,)
    if isinstance(masks, Mapping) and "mix" in masks:
        return mask_mix(masks["mix"], shuffle=bool(masks.get("shuffle", True)))
    return masks


def _mask_hparams(masks: Any, mask_params: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    if callable(masks):
        # a mask_mix sampler records how to rebuild it; any other callable only its name
        described = getattr(masks, "spec", None) or getattr(masks, "__name__", "callable")
    else:
        described = list(masks)
    spec: dict[str, Any] = {"masks": described}
    if mask_params:
        spec["mask_params"] = {k: dict(v) for k, v in mask_params.items()}
    return spec


class _MaskedTask(Task):
    """Shared by the repairer tasks: masks from :func:`mask_mix` (or a sampler) and the task's generator."""

    def _set_masks(self, masks: Any, mask_params: Mapping[str, Mapping[str, Any]] | None) -> None:
        self.masks = _masks_arg(masks)
        self.mask_params = {k: dict(v) for k, v in (mask_params or {}).items()}
        # kinds are drawn unshuffled (as they always were); presets pass a shuffled mask_mix sampler
        self._sampler = self.masks if callable(self.masks) else mask_mix(self.masks, self.mask_params,
                                                                         shuffle=False)

    def draw_masks(self, x: torch.Tensor) -> torch.Tensor:
        """Masks ``(B, 1, H, W)`` (1 = missing) for a batch, drawn with the task's generator."""
        mask = self._sampler(x.shape[0], tuple(x.shape[-2:]), self.generator)
        return mask.float().to(x.device, non_blocking=True)

    def peek_masks(self, x: torch.Tensor) -> torch.Tensor:
        """Masks for ``x`` drawn without moving the task's generator (previews, evaluation)."""
        state = self.generator.get_state()
        try:
            return self.draw_masks(x)
        finally:
            self.generator.set_state(state)


#: Default masks of the restoration tasks: half centre blocks, half whole-row bands.
DEFAULT_MASKS: tuple[str, ...] = ("center", "rows")


class RepairTask(_MaskedTask, _SingleModelTask):
    r"""Inpainting: draw masks, blank the holes, let ``model(x_masked, mask)`` fill them.

    ``loss="masked_mse"`` (default) scores only the hole,
    :math:`\sum_i m_i (\hat x_i - x_i)^2 / \sum_i m_i`; ``"mse"`` and ``"l1"`` score the
    whole image (``"masked_l1"`` is also accepted).

    Args:
        model: a repairer, ``forward(x_masked, mask) -> x_hat`` in ``[0, 1]``.
        lr: Adam learning rate.
        masks: a mask kind for ``genlab.masks.make_mask`` (``"center"``, ``"rows"``, ...), a
            sequence of kinds (each batch is split evenly between them), or a sampler
            ``(batch, size, generator) -> mask (B, 1, H, W)`` such as :func:`mask_mix`.
        loss: ``"masked_mse"``, ``"masked_l1"``, ``"mse"`` or ``"l1"``.
        mask_params: per-kind mask parameters, e.g. ``{"block": {"hole": 8}}``.

    Developed in course/05_restoration (lab 05).
    """

    LOSSES = ("masked_mse", "masked_l1", "mse", "l1")

    def __init__(self, model: nn.Module, lr: float | None = None, masks: Any = DEFAULT_MASKS,
                 loss: str = "masked_mse", mask_params: Mapping[str, Mapping[str, Any]] | None = None,
                 **kw: Any) -> None:
        if loss not in self.LOSSES:
            raise ValueError(f"loss must be one of {self.LOSSES}, got {loss!r}.")
        masks = _masks_arg(masks)
        _SingleModelTask.__init__(self, model, lr, hparams={**_mask_hparams(masks, mask_params), "loss": loss},
                                  **kw)
        self._set_masks(masks, mask_params)
        self.loss_name = loss

    def losses(self, batch, ctx=None):
        x, _ = batch
        mask = self.draw_masks(x)
        x_hat = self.net("model")(apply_mask(x, mask), mask).float()
        return {"loss": self._hole_loss(x_hat, x.float(), mask)}

    def _hole_loss(self, x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The task's loss (``loss=``) of repaired images ``x_hat`` against ``x``."""
        if self.loss_name == "masked_mse":
            return masked_mse(x_hat, x, mask)
        if self.loss_name == "masked_l1":
            return masked_l1(x_hat, x, mask)
        return F.mse_loss(x_hat, x) if self.loss_name == "mse" else F.l1_loss(x_hat, x)

    @torch.no_grad()
    def sample(self, n=16):
        if self._preview is None:
            return None
        x = self._preview[:n]
        mask = self.peek_masks(x)  # previews must not shift the training masks
        return self.modules["model"](apply_mask(x, mask), mask).float().clamp(0, 1)


class FillRepairTask(RepairTask):
    r""":class:`RepairTask` for natural images, with photo augmentation of every batch.

    With ``augment=True`` each training image is, before its mask is drawn, mapped by one of
    the 8 symmetries of the square (flips and 90-degree rotations: a photo patch turned
    over is still a plausible photo patch), and its intensities are changed by a random
    gamma :math:`x \mapsto x^{\gamma}`, :math:`\log_2 \gamma \sim U(-0.5, 0.5)`, then a
    contrast change around the patch mean by a factor in ``[0.7, 1.3]`` (clamped to
    ``[0, 1]``). Everything is drawn from the task's generator, so a run is reproducible and
    resumes exactly. Used by the ``fill_repair`` model (``genlab.models.FillResidualRepairer``).

    Args:
        augment: augment the training batches (evaluation never is).
        loss: ``"psnr"`` (default): minus the mean over images of the hole PSNR,
            :math:`\frac{10}{B}\sum_n \log_{10}(\mathrm{MSE}_n + 10^{-5})`, the figure the evaluation
            averages; plain MSE lets busy patches dominate and spoils the smooth ones, where the
            fill is already close to exact. Or any loss of :class:`RepairTask`.
        **kw: what :class:`RepairTask` takes (``lr``, ``masks``, ``loss``, ``mask_params``).

    Developed for the natural-image section of course/05_restoration.
    """

    LOSSES = (*RepairTask.LOSSES, "psnr")

    def __init__(self, model: nn.Module, lr: float | None = None, masks: Any = DEFAULT_MASKS,
                 loss: str = "psnr", mask_params: Mapping[str, Mapping[str, Any]] | None = None,
                 augment: bool = True, **kw: Any) -> None:
        super().__init__(model, lr, masks=masks, loss=loss, mask_params=mask_params, **kw)
        self.augment = bool(augment)
        self.hparams["augment"] = self.augment

    def _symmetries(self, *tensors: torch.Tensor) -> list[torch.Tensor]:
        """The same random symmetry of the square for image ``i`` of every tensor (one draw)."""
        sym = torch.randint(0, 8, (tensors[0].shape[0],), generator=self.generator).tolist()
        return [torch.stack([square_symmetry(t[i], k) for i, k in enumerate(sym)]) for t in tensors]

    def augment_batch(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, C, H, W)`` (square) under random symmetries and intensity changes."""
        b = x.shape[0]
        g = self.generator
        (y,) = self._symmetries(x)
        gamma = (2.0 ** (torch.rand(b, 1, 1, 1, generator=g) - 0.5)).to(y.device, y.dtype)
        contrast = (0.7 + 0.6 * torch.rand(b, 1, 1, 1, generator=g)).to(y.device, y.dtype)
        y = y.clamp_min(0.0) ** gamma
        mean = y.mean(dim=(1, 2, 3), keepdim=True)
        return (mean + contrast * (y - mean)).clamp(0.0, 1.0)

    def losses(self, batch, ctx=None):
        x, y = batch
        pooled = isinstance(y, torch.Tensor) and y.dim() == 4
        training = self.augment and self.modules["model"].training and x.shape[-1] == x.shape[-2]
        if pooled:
            # a fill pool (fill_pool): each image comes with its mask and its classical fill
            if y.shape[0] != x.shape[0] or y.shape[1] != 1 + x.shape[1] or y.shape[-2:] != x.shape[-2:]:
                raise ValueError(f"a fill pool holds [mask, fill] per image, (B, 1 + C, H, W) = "
                                 f"{(x.shape[0], 1 + x.shape[1], *x.shape[-2:])}; got {tuple(y.shape)}.")
            mask, fill = y[:, :1], y[:, 1:]
            if training:
                # symmetries commute with the fill; an intensity change would not (gamma), and the
                # model is contrast-normalised anyway, so only the symmetries here
                x, mask, fill = self._symmetries(x, mask, fill)
            x_hat = self.net("model")(apply_mask(x, mask), mask, fill).float()
            return {"loss": self._hole_loss(x_hat, x.float(), mask)}
        if training:
            x = self.augment_batch(x)
        return super().losses((x, y), ctx)

    def _hole_loss(self, x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.loss_name != "psnr":
            return super()._hole_loss(x_hat, x, mask)
        m = mask.float().expand_as(x_hat)
        mse = ((x_hat - x) ** 2 * m).sum(dim=(1, 2, 3)) / m.sum(dim=(1, 2, 3)).clamp_min(1.0)
        # minus the mean hole PSNR (capped at 50 dB): what the evaluation averages, per image,
        # so a smooth patch that the fill already gets right weighs as much as a busy one
        return 10.0 * torch.log10(mse + 1e-5).mean()


def _fill_chunk(args: tuple[str, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """One worker's share of :func:`fill_pool` (module level, so a process pool can pickle it)."""
    from .. import baselines

    name, x, mask = args
    with torch.no_grad():
        return baselines.BASELINES[name](x * (1 - mask), mask)


def fill_pool(x: torch.Tensor, masks: Callable[..., torch.Tensor], *, seed: int = 0, fill: str = "biharmonic",
              workers: int = 1, chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Training data for :class:`FillRepairTask` with every image's mask and classical fill drawn once.

    The biharmonic fill costs 2-5 ms a 32 px patch on one CPU core, as much as the U-Net's
    own step: computing it inside every step doubles the training time. ``fill_pool`` draws
    one mask per image (``masks(len(x), size, generator)``, a :func:`mask_mix` sampler) and
    computes the fills once, ``workers`` processes at a time; the task then maps image, mask
    and fill by the same random symmetry of the square each step, so an image is seen with up
    to 8 different holes. Deterministic: the masks come from ``seed``, the fills do not depend
    on ``workers``.

    Args:
        x: images ``(N, C, H, W)`` in ``[0, 1]``.
        masks: a mask sampler ``(batch, size, generator) -> (B, 1, H, W)``.
        seed: seed of the masks.
        fill: ``"biharmonic"`` or ``"mean"`` (as ``FillRepairConfig.fill``).
        workers: processes computing the fills (1: this process).
        chunk: images per piece of work.

    Returns:
        ``(x, aux)`` with ``aux = [mask, fill]`` ``(N, 1 + C, H, W)``: pass the pair to ``fit``
        as ``(x, y)`` data.

    Developed for the natural-image section of course/05_restoration.
    """
    from ..errors import check_image
    from ..models.fill_repair import FILLS

    check_image(x, "x")
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {FILLS}, got {fill!r}.")
    if workers < 1 or chunk < 1:
        raise ValueError(f"workers and chunk must be >= 1, got workers={workers}, chunk={chunk}.")
    x = x.detach().float().cpu().contiguous()
    mask = masks(len(x), tuple(x.shape[-2:]), torch.Generator().manual_seed(seed)).float().cpu()
    pieces = [(fill, x[i:i + chunk], mask[i:i + chunk]) for i in range(0, len(x), chunk)]
    if workers == 1 or len(pieces) == 1:
        fills = [_fill_chunk(p) for p in pieces]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: a forked child of a process whose OpenMP threads have run can hang
        # for ever at its first parallel op (seen here with fork: two idle workers, no fills)
        with ProcessPoolExecutor(min(workers, len(pieces)), mp_context=multiprocessing.get_context("spawn"),
                                 initializer=torch.set_num_threads, initargs=(1,)) as pool:
            fills = list(pool.map(_fill_chunk, pieces))
    return x, torch.cat([mask, torch.cat(fills).float()], dim=1)


class ClassifierTask(_SingleModelTask):
    """Classifier: cross-entropy on labels; logs ``loss`` and ``accuracy``."""

    def __init__(self, model: nn.Module, lr: float | None = None, **kw: Any) -> None:
        super().__init__(model, lr, hparams={}, **kw)

    def losses(self, batch, ctx=None):
        x, y = batch
        if y is None:
            raise ValueError("ClassifierTask needs labels: pass data as (x, y).")
        logits = self.net("model")(x).float()
        return {"loss": F.cross_entropy(logits, y),
                "accuracy": (logits.argmax(1) == y).float().mean().detach()}




class DiffusionTask(_SingleModelTask):
    """A :class:`~genlab.models.diffusion.DDPM`: one Adam step on the noise-prediction loss per batch.

    Labels go to the model when it is conditional (``n_classes > 0``). Works with every
    option of :func:`genlab.train.fit` (AMP, checkpoints and exact resume, DDP).

    Developed in course/08_frontiers (lecture 08, ungraded).
    """

    default_lr = 2e-3

    def __init__(self, model: nn.Module, lr: float | None = None, **kw: Any) -> None:
        kw.setdefault("model_name", getattr(model, "registry_name", None) or "ddpm")
        super().__init__(model, lr, hparams={}, **kw)

    def losses(self, batch, ctx=None) -> Mapping[str, torch.Tensor]:
        x, y = batch
        x_t, t, noise, y = self.modules["model"].noisy_batch(x, y, generator=self.generator)
        # Through self.net: under DDP the wrapper's forward is what synchronises gradients.
        eps = self.net("model")(x_t, t, y)
        return {"loss": F.mse_loss(eps.float(), noise.float())}

    @torch.no_grad()
    def sample(self, n: int = 16) -> torch.Tensor:
        return self.modules["model"].sample(n, generator=torch.Generator().manual_seed(1234))


class Pix2PixTask(_MaskedTask):
    r"""Train a :class:`~genlab.models.unet.Pix2Pix` pair on ``(x[, y])`` batches with masks drawn per batch.

    The generator sees the condition :math:`c = [x \odot (1-m),\ m]` and fills the hole; the
    patch critic :math:`D(c, x)` judges whether an image is a plausible completion *of this
    input*. D's loss is the usual one on real and fake patches (:func:`gan_update`); G's is
    the non-saturating adversarial loss plus :math:`\lambda` times the hole L1 (Isola et al.,
    2017): L1 alone gives the blurry average of all plausible fillings, the adversarial term
    pushes towards one sharp filling; with :math:`\lambda = 100` L1 dominates.

    Args:
        model: the pair.
        lr: Adam learning rate of both networks (betas ``(0.5, 0.999)`` as for GANs).
        l1_weight: :math:`\lambda` in front of the hole L1 term.
        masks: mask kinds for :func:`mask_mix` (the batch is split between them).
        mask_params: extra mask parameters per kind, e.g. ``{"block": {"hole": 8}}``.

    Logged: ``loss_d``, ``loss_g`` (adversarial part), ``l1`` (hole L1) and ``loss``
    (``loss_g + l1_weight * l1``, the generator's objective).

    Developed in course/08_frontiers (lecture 08, ungraded).
    """

    default_lr = 2e-4

    def __init__(self, model: nn.Module, lr: float | None = None, l1_weight: float = 100.0,
                 masks: Sequence[str] = ("block",), mask_params: Mapping[str, Mapping[str, Any]] | None = None,
                 **kw: Any) -> None:
        if not isinstance(model, models.Pix2Pix):
            raise TypeError(f"Pix2PixTask needs a genlab.models.Pix2Pix pair, got {type(model).__name__}.")
        if l1_weight < 0:
            raise ValueError(f"l1_weight must be >= 0, got {l1_weight}.")
        lr = self.default_lr if lr is None else lr
        g, d = model.generator, model.discriminator
        betas = (0.5, 0.999)
        super().__init__(model, {"generator": g, "discriminator": d},
                         {"generator": _adam(g, lr, betas), "discriminator": _adam(d, lr, betas)},
                         hparams={"lr": lr, "l1_weight": float(l1_weight), "masks": list(masks),
                                  "mask_params": {k: dict(v) for k, v in (mask_params or {}).items()}},
                         model_name=kw.pop("model_name", "pix2pix"), **kw)
        self.l1_weight = float(l1_weight)
        self._set_masks(tuple(masks), mask_params)

    def step(self, batch, ctx):
        x, _ = batch
        self._keep_preview(x)
        mask = self.draw_masks(x)
        x_masked = apply_mask(x, mask)
        cond = torch.cat([x_masked, mask], dim=1)            # (B, C+1, H, W): what D conditions on
        d = self.net("discriminator")
        with ctx.autocast():
            x_fake = self.net("generator")(x_masked, mask)
            l1 = masked_l1(x_fake.float(), x.float(), mask)
        # D judges every patch: (B, 1, h, w) logits -> (B*h*w,)
        out = gan_update(lambda img: d(cond, img).flatten(), x, x_fake, ctx.optimize, autocast=ctx.autocast,
                         g_extra=self.l1_weight * l1)
        return {"loss": out["loss_g"] + self.l1_weight * l1.detach(), "loss_d": out["loss_d"],
                "loss_g": out["loss_g"], "l1": l1.detach()}

    @torch.no_grad()
    def losses(self, batch, ctx=None):
        """Hole L1 of the generator on ``batch`` (for ``evaluate``; masks drawn without moving the RNG)."""
        x, _ = batch
        mask = self.peek_masks(x)
        x_hat = self.modules["generator"](apply_mask(x, mask), mask)
        return {"l1": masked_l1(x_hat.float(), x.float(), mask)}

    @torch.no_grad()
    def sample(self, n: int = 16) -> torch.Tensor | None:
        if self._preview is None:
            return None
        x = self._preview[:n]
        mask = self.peek_masks(x)
        g = self.modules["generator"]
        was = g.training
        g.eval()
        try:
            return g(apply_mask(x, mask), mask).float().clamp(0, 1)
        finally:
            g.train(was)


# ----------------------------------------------------------------------------------------------
# The GAN update: one implementation for GANTask, pix2pix, the toy GAN and lab 04's reference
# ----------------------------------------------------------------------------------------------

Optimize = Callable[[torch.Tensor, str], None]


def discriminator_update(discriminate: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                         fake: torch.Tensor, optimize: Optimize, *,
                         autocast: Callable[[], Any] = contextlib.nullcontext,
                         loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = discriminator_loss
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Update D on real and on fake; the fakes are detached, so this step cannot move G.

    Args:
        discriminate: ``images -> logits`` (D, possibly conditioned or augmented).
        real, fake: a real batch and a generated one.
        optimize: ``optimize(loss, "discriminator")`` does zero_grad, backward, step.
        autocast: mixed-precision context for the forward passes.
        loss_fn: ``(real_logits, fake_logits) -> loss``, default ``genlab.losses.discriminator_loss``.

    Returns:
        ``(loss_d, d_real_logits, d_fake_logits)``.
    """
    with autocast():
        d_real = discriminate(real)
        d_fake = discriminate(fake.detach())
        loss_d = loss_fn(d_real.float(), d_fake.float())
    optimize(loss_d, "discriminator")
    return loss_d, d_real, d_fake


def generator_update(discriminate: Callable[[torch.Tensor], torch.Tensor], fake: torch.Tensor, optimize: Optimize,
                     *, autocast: Callable[[], Any] = contextlib.nullcontext, non_saturating: bool = True,
                     loss_fn: Callable[..., torch.Tensor] = generator_loss,
                     extra: torch.Tensor | None = None) -> torch.Tensor:
    """Update G through D: gradients flow through D into G, only ``optimize(loss, "generator")`` steps.

    (D's gradients from this pass are cleared by its ``zero_grad`` at its next update.)
    ``extra`` is added to G's loss (pix2pix's weighted L1). Returns the adversarial loss.
    """
    with autocast():
        loss_adv = loss_fn(discriminate(fake).float(), non_saturating=non_saturating)
        loss_g = loss_adv if extra is None else loss_adv + extra
    optimize(loss_g, "generator")
    return loss_adv


def gan_update(discriminate: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
               optimize: Optimize, *, autocast: Callable[[], Any] = contextlib.nullcontext,
               non_saturating: bool = True, g_extra: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """One GAN step: :func:`discriminator_update` on real and fake, then :func:`generator_update`.

    Returns detached ``loss_d``, ``loss_g`` (adversarial part) and ``d_real`` / ``d_fake``
    (D's mean probabilities before its update).
    """
    loss_d, d_real, d_fake = discriminator_update(discriminate, real, fake, optimize, autocast=autocast)
    loss_g = generator_update(discriminate, fake, optimize, autocast=autocast, non_saturating=non_saturating,
                              extra=g_extra)
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
            "d_real": torch.sigmoid(d_real.float()).mean().detach(),
            "d_fake": torch.sigmoid(d_fake.float()).mean().detach()}


def plain_optimize(optimizers: Mapping[str, torch.optim.Optimizer]) -> Optimize:
    """``optimize(loss, name)`` without AMP or clipping: zero_grad, backward, step of ``optimizers[name]``."""
    def optimize(loss: torch.Tensor, name: str) -> None:
        opt = optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return optimize


def gan_training_step(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                      real: torch.Tensor, z: torch.Tensor) -> dict[str, float]:
    """Lab 04's step: ``fake = G(z)``, one D update, one non-saturating G update through the updated D.

    Returns ``{"loss_d": float, "loss_g": float}``.

    Developed in course/04_gans_on_images (lab 04).
    """
    fake = G(z)
    out = gan_update(D, real, fake, plain_optimize({"generator": opt_g, "discriminator": opt_d}))
    return {"loss_d": float(out["loss_d"]), "loss_g": float(out["loss_g"])}


# ----------------------------------------------------------------------------------------------
# The registry
# ----------------------------------------------------------------------------------------------

#: Task classes by name (used to rebuild a task from a checkpoint).
TASKS: dict[str, type[Task]] = {cls.__name__: cls for cls in (
    AutoencoderTask, VAETask, GANTask, RepairTask, FillRepairTask, ClassifierTask, DiffusionTask,
    Pix2PixTask)}

#: The task of every model of ``genlab.models.MODELS`` (``None``: not trained by ``fit``).
FAMILY_TASKS: dict[str, type[Task] | None] = {
    "ae": AutoencoderTask, "conv_ae": AutoencoderTask,
    "vae": VAETask, "conv_vae": VAETask, "mlp_vae": VAETask,
    "gan": GANTask, "dcgan": GANTask, "cgan": GANTask,
    "mlp_repair": RepairTask, "conv_repair": RepairTask, "crnn": RepairTask, "unet": RepairTask,
    "fill_repair": FillRepairTask,
    "classifier": ClassifierTask,
    "ddpm": DiffusionTask, "pix2pix": Pix2PixTask,
    "toy_gan": None,  # 2-D points, not images: genlab.toy.train_toy_gan trains it
}
if set(FAMILY_TASKS) != set(models.MODELS):  # a new model needs its task here, and the other way round
    raise RuntimeError(f"genlab.train.FAMILY_TASKS and genlab.models.MODELS disagree: "
                       f"{sorted(set(FAMILY_TASKS) ^ set(models.MODELS))}.")

#: What ``genlab train MODEL`` offers: registry name -> (task class, default learning rate).
FAMILIES: dict[str, tuple[type[Task], float]] = {
    name: (cls, cls.default_lr) for name, cls in FAMILY_TASKS.items() if cls is not None}


def build_task(spec: Mapping[str, Any]) -> Task:
    """Rebuild a task from :meth:`Task.spec` (model from ``genlab.models.build``)."""
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
