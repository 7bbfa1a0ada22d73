r"""A tiny denoising diffusion model (DDPM, Ho et al. 2020) for 16x16 digits.

**Forward process.** Fix variances :math:`\beta_1, \dots, \beta_T` and add a little
Gaussian noise at each step:

.. math::

    q(x_t \mid x_{t-1}) = \mathcal N\big(\sqrt{1-\beta_t}\, x_{t-1},\ \beta_t I\big).

With :math:`\alpha_t = 1-\beta_t` and :math:`\bar\alpha_t = \prod_{s\le t}\alpha_s`, the
composition of Gaussians has a closed form, so any :math:`x_t` is one draw away from
:math:`x_0`:

.. math::

    q(x_t \mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\, x_0,\ (1-\bar\alpha_t) I\big),
    \qquad x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1-\bar\alpha_t}\, \epsilon .

**Loss.** A network :math:`\epsilon_\theta(x_t, t)` predicts the noise that was added;
the simplified objective is :math:`\mathbb E_{t, x_0, \epsilon}\lVert \epsilon -
\epsilon_\theta(x_t, t)\rVert^2` with :math:`t` uniform.

**Ancestral sampling.** Start from :math:`x_T \sim \mathcal N(0, I)` and step back with
the Gaussian posterior :math:`q(x_{t-1} \mid x_t, x_0)` evaluated at the predicted
:math:`\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\epsilon_\theta)/\sqrt{\bar\alpha_t}`:

.. math::

    \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\hat x_0
                + \frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t} x_t
              = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}
                \epsilon_\theta\Big),
    \qquad \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t .

Images in ``[0, 1]`` are mapped to ``[-1, 1]`` for the process (so the end point
:math:`\mathcal N(0, I)` matches the data's scale) and mapped back by :meth:`DDPM.sample`.
Indices in code are 0-based: ``t = 0 .. T-1`` stands for the paper's ``1 .. T``.

Optional class conditioning (``n_classes > 0``) adds a label embedding to the time
embedding; labels are dropped to a "no label" token with probability ``p_uncond`` during
training, so one model samples both with and without a label.

Developed in course/08_frontiers (lecture 08, ungraded).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ShapeError, check_image
from .config import ImageConfig

__all__ = ["DDPM", "DiffusionConfig", "NoiseSchedule", "TimeUNet", "beta_schedule", "timestep_embedding"]


@dataclass
class DiffusionConfig(ImageConfig):
    """Sizes and schedule of the tiny DDPM.

    Attributes:
        image_size: height = width, divisible by 4 (16 or 28).
        channels: 1 or 3.
        timesteps: number of noising steps ``T``.
        schedule: ``"cosine"`` (Nichol & Dhariwal 2021) or ``"linear"`` (Ho et al. 2020).
        width: channels of the noise predictor at full resolution (``2 * width`` below).
        time_dim: size of the time (and label) embedding.
        n_classes: 0 for an unconditional model, else the number of labels.
        p_uncond: probability of dropping a label during training (conditional models).
    """

    timesteps: int = 200
    schedule: str = "cosine"
    width: int = 32
    time_dim: int = 64
    n_classes: int = 0
    p_uncond: float = 0.1


# ----------------------------------------------------------------------------------------------
# The noise schedule: closed forms
# ----------------------------------------------------------------------------------------------

def beta_schedule(kind: str, timesteps: int, *, s: float = 0.008) -> torch.Tensor:
    r"""The variances :math:`\beta_t`, shape ``(T,)``, float64.

    * ``"linear"``: Ho et al.'s ``1e-4 .. 0.02`` for ``T = 1000``, rescaled by ``1000 / T``
      so that :math:`\bar\alpha_T` is as small for a shorter chain.
    * ``"cosine"``: :math:`\bar\alpha_t = f(t)/f(0)` with
      :math:`f(t) = \cos^2\!\big(\tfrac{t/T + s}{1+s}\tfrac{\pi}{2}\big)`, and
      :math:`\beta_t = 1 - \bar\alpha_t / \bar\alpha_{t-1}` clipped at 0.999: noise is added
      more gently at the start, where the linear schedule destroys small images quickly.
    """
    if not isinstance(timesteps, int) or timesteps < 2:
        raise ValueError(f"timesteps must be an integer >= 2, got {timesteps!r}.")
    if kind == "linear":
        scale = 1000.0 / timesteps
        return torch.linspace(scale * 1e-4, min(scale * 0.02, 0.999), timesteps, dtype=torch.float64)
    if kind == "cosine":
        steps = torch.arange(timesteps + 1, dtype=torch.float64)
        f = torch.cos((steps / timesteps + s) / (1 + s) * math.pi / 2) ** 2
        alpha_bar = f / f[0]
        return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)
    raise ValueError(f"schedule must be 'linear' or 'cosine', got {kind!r}.")


class NoiseSchedule(nn.Module):
    r"""The tables of a schedule (buffers, so they follow ``.to(device)``) and its closed forms.

    Buffers (all ``(T,)``): ``betas``, ``alphas`` = :math:`1-\beta_t`, ``alpha_bar`` =
    :math:`\prod_{s \le t} \alpha_s`, ``alpha_bar_prev`` (:math:`\bar\alpha_{t-1}`, 1 at t=0),
    ``posterior_var`` = :math:`\tilde\beta_t`.
    """

    def __init__(self, betas: torch.Tensor) -> None:
        super().__init__()
        betas = betas.double()
        if betas.dim() != 1 or not ((betas > 0) & (betas < 1)).all():
            raise ValueError("betas must be a 1-D tensor with values in (0, 1).")
        alphas = 1 - betas
        alpha_bar = torch.cumprod(alphas, 0)
        alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        posterior_var = betas * (1 - alpha_bar_prev) / (1 - alpha_bar)
        for name, value in [("betas", betas), ("alphas", alphas), ("alpha_bar", alpha_bar),
                            ("alpha_bar_prev", alpha_bar_prev), ("posterior_var", posterior_var)]:
            self.register_buffer(name, value.float(), persistent=False)

    @property
    def timesteps(self) -> int:
        return int(self.betas.shape[0])

    @staticmethod
    def _at(table: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``table[t]`` shaped ``(B, 1, 1, 1)`` to broadcast over images ``like``."""
        values = table.to(like.device)[t.to(like.device)]
        return values.to(like.dtype).view(-1, *([1] * (like.dim() - 1)))

    def _check_t(self, t: torch.Tensor, batch: int) -> torch.Tensor:
        if not isinstance(t, torch.Tensor) or t.dim() != 1 or t.shape[0] != batch:
            raise ShapeError(f"t must be a 1-D tensor of {batch} step indices (one per image), got "
                             f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}.")
        if t.dtype.is_floating_point or int(t.min()) < 0 or int(t.max()) >= self.timesteps:
            raise ValueError(f"t holds integer step indices in 0..{self.timesteps - 1}; got values "
                             f"{int(t.min())}..{int(t.max())} of dtype {t.dtype}.")
        return t.long()

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        r""":math:`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon` (closed form), shapes ``(B, ...)``."""
        t = self._check_t(t, x0.shape[0])
        ab = self._at(self.alpha_bar, t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def q_step(self, x_prev: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        r"""One forward step :math:`x_t = \sqrt{1-\beta_t}\,x_{t-1} + \sqrt{\beta_t}\,\epsilon`."""
        t = self._check_t(t, x_prev.shape[0])
        beta = self._at(self.betas, t, x_prev)
        return (1 - beta).sqrt() * x_prev + beta.sqrt() * noise

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        r""":math:`\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\epsilon)/\sqrt{\bar\alpha_t}`."""
        ab = self._at(self.alpha_bar, t, x_t)
        return (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()

    def posterior_mean(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        r"""Mean :math:`\tilde\mu_t(x_t, x_0)` of :math:`q(x_{t-1} \mid x_t, x_0)`."""
        ab = self._at(self.alpha_bar, t, x_t)
        ab_prev = self._at(self.alpha_bar_prev, t, x_t)
        beta = self._at(self.betas, t, x_t)
        alpha = self._at(self.alphas, t, x_t)
        return (ab_prev.sqrt() * beta / (1 - ab)) * x0 + (alpha.sqrt() * (1 - ab_prev) / (1 - ab)) * x_t


# ----------------------------------------------------------------------------------------------
# The noise predictor: a small U-Net that knows the time step
# ----------------------------------------------------------------------------------------------

def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    r"""Sinusoidal embedding ``(B, dim)`` of integer steps: :math:`[\sin(t\omega_k), \cos(t\omega_k)]`,
    :math:`\omega_k = 10000^{-k/(d/2)}` (as the Transformer's positions)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, c), c)


class _ResBlock(nn.Module):
    """``(GN, SiLU, conv) -> + time/label bias -> (GN, SiLU, conv)``, plus a residual path."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int) -> None:
        super().__init__()
        self.block1 = nn.Sequential(_norm(c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1))
        self.emb = nn.Linear(emb_dim, c_out)
        self.block2 = nn.Sequential(_norm(c_out), nn.SiLU(), nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.block1(x) + self.emb(emb)[:, :, None, None]   # (B, c_out, H, W) + (B, c_out, 1, 1)
        return self.block2(h) + self.skip(x)


class TimeUNet(nn.Module):
    r"""Noise predictor :math:`\epsilon_\theta(x_t, t[, y])`: ``(B, C, H, W) -> (B, C, H, W)``.

    Shapes (``w = width``)::

        x_t (B, C, H, W) -> conv                      (B, w, H, W)
          -> res                                       h1 (B, w, H, W)
          -> conv s2, res                              h2 (B, 2w, H/2, W/2)
          -> conv s2, res, res                         (B, 2w, H/4, W/4)
          -> up x2, concat h2, res                     (B, 2w, H/2, W/2)
          -> up x2, concat h1, res                     (B, w, H, W)
          -> GN, SiLU, conv (zero-initialised)         (B, C, H, W)

    The step ``t`` (and the label ``y``) enter every residual block as a per-channel bias.
    """

    def __init__(self, cfg: DiffusionConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or DiffusionConfig()
        if cfg.image_size % 4:
            raise ShapeError(f"TimeUNet needs image_size divisible by 4, got {cfg.image_size}.")
        w, d = cfg.width, cfg.time_dim
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        # Label n_classes is the "no label" token (classifier-free training).
        self.label_emb = nn.Embedding(cfg.n_classes + 1, d) if cfg.n_classes else None
        self.conv_in = nn.Conv2d(cfg.channels, w, 3, padding=1)
        self.res1 = _ResBlock(w, w, d)
        self.down1 = nn.Conv2d(w, w, 3, stride=2, padding=1)
        self.res2 = _ResBlock(w, 2 * w, d)
        self.down2 = nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1)
        self.mid1 = _ResBlock(2 * w, 2 * w, d)
        self.mid2 = _ResBlock(2 * w, 2 * w, d)
        self.up_res2 = _ResBlock(4 * w, 2 * w, d)
        self.up_res1 = _ResBlock(3 * w, w, d)
        self.out = nn.Sequential(_norm(w), nn.SiLU(), nn.Conv2d(w, cfg.channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)  # start by predicting 0 noise: a calm first step
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.config.time_dim))
        if self.label_emb is not None:
            if y is None:  # unconditional: the "no label" token
                y = torch.full((x_t.shape[0],), self.config.n_classes, device=x_t.device, dtype=torch.long)
            emb = emb + self.label_emb(y)
        h1 = self.res1(self.conv_in(x_t), emb)
        h2 = self.res2(self.down1(h1), emb)
        h = self.mid2(self.mid1(self.down2(h2), emb), emb)
        h = self.up_res2(torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), h2], 1), emb)
        h = self.up_res1(torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), h1], 1), emb)
        return self.out(h)


# ----------------------------------------------------------------------------------------------
# The model: loss and sampler
# ----------------------------------------------------------------------------------------------

class DDPM(nn.Module):
    """A denoising diffusion model: a :class:`NoiseSchedule` and a noise predictor.

    Args:
        cfg: the :class:`DiffusionConfig`.
        net: the noise predictor ``net(x_t, t, y) -> eps``; default a :class:`TimeUNet`
            (tests pass an exact oracle here to check the sampler).
    """

    def __init__(self, cfg: DiffusionConfig | None = None,
                 net: Callable[..., torch.Tensor] | nn.Module | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or DiffusionConfig()
        self.schedule = NoiseSchedule(beta_schedule(cfg.schedule, cfg.timesteps))
        self.net = net if net is not None else TimeUNet(cfg)

    @property
    def _device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return self.schedule.betas.device

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted noise ``(B, C, H, W)``."""
        return self.net(x_t, t, y)

    def noisy_batch(self, x: torch.Tensor, y: torch.Tensor | None = None,
                    generator: torch.Generator | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Draw ``t``, ``noise`` (and label dropout) for images ``x`` in [0, 1]; return ``(x_t, t, noise, y)``.

        Randomness is drawn on the CPU from ``generator`` (reproducible and the same on every
        device) and moved to ``x``'s device.
        """
        cfg = self.config
        check_image(x, "x", channels=cfg.channels)
        b = x.shape[0]
        t = torch.randint(0, cfg.timesteps, (b,), generator=generator).to(x.device)
        noise = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
        if cfg.n_classes and y is not None:
            drop = (torch.rand(b, generator=generator) < cfg.p_uncond).to(x.device)
            y = torch.where(drop, torch.full_like(y, cfg.n_classes), y)
        elif not cfg.n_classes:
            y = None
        return self.schedule.q_sample(2 * x - 1, t, noise), t, noise, y

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        r"""Noise-prediction loss :math:`\lVert\epsilon - \epsilon_\theta(x_t, t)\rVert^2` (mean over pixels and batch)."""
        x_t, t, noise, y = self.noisy_batch(x, y, generator)
        return F.mse_loss(self(x_t, t, y).float(), noise.float())

    @torch.no_grad()
    def p_sample_loop(self, shape: tuple[int, ...], y: torch.Tensor | None = None,
                      generator: torch.Generator | None = None, clip: bool = True,
                      keep: int = 0) -> tuple[torch.Tensor, list[torch.Tensor]]:
        r"""Ancestral sampling in the model's space ``[-1, 1]``.

        Args:
            shape: ``(B, C, H, W)``.
            y: labels ``(B,)`` for a conditional model (``None``: unconditional).
            generator: CPU generator for :math:`x_T` and every step's noise.
            clip: clamp :math:`\hat x_0` to ``[-1, 1]`` before forming the posterior mean
                (without clipping this equals the :math:`\epsilon`-form of :math:`\tilde\mu_t`).
            keep: also return ``keep`` snapshots of :math:`x_t` evenly spaced in ``t``.

        Returns:
            ``(x_0, snapshots)``.
        """
        device = self._device
        sched = self.schedule
        x = torch.randn(shape, generator=generator).to(device)
        if y is not None:
            y = y.to(device)
        marks = set(torch.linspace(sched.timesteps - 1, 0, keep).round().long().tolist()) if keep else set()
        snaps = []
        for i in reversed(range(sched.timesteps)):
            t = torch.full((shape[0],), i, device=device, dtype=torch.long)
            eps = self.net(x, t, y).float()
            x0_hat = sched.predict_x0(x, t, eps)
            if clip:
                x0_hat = x0_hat.clamp(-1, 1)
            mean = sched.posterior_mean(x0_hat, x, t)
            if i > 0:
                z = torch.randn(shape, generator=generator).to(device)
                x = mean + sched._at(sched.posterior_var, t, x).sqrt() * z
            else:
                x = mean  # the last step adds no noise
            if i in marks:
                snaps.append(x.clone())
        return x, snaps

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images ``(n, C, H, W)`` in ``[0, 1]`` (eval mode for the duration)."""
        cfg = self.config
        was = self.training
        self.eval()
        try:
            x, _ = self.p_sample_loop((n, cfg.channels, cfg.image_size, cfg.image_size), y, generator)
        finally:
            self.train(was)
        return ((x + 1) / 2).clamp(0, 1)
