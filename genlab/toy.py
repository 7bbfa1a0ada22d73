r"""2-D toy GANs and 1-D densities: the small worlds where GAN theory can be seen and checked.

Developed in course/03_gan_theory (lab 03).

Two kinds of helpers live here:

* **Densities on a grid** (1-D), for checking the theory numerically:
  :func:`normal_pdf`, :func:`mixture_pdf`, :func:`integrate`, :func:`kl_on_grid`,
  :func:`js_on_grid` and :func:`value_on_grid`, the minimax value

  .. math::

      V(D, G) = \int p_\text{data}(x) \log D(x) + p_g(x) \log(1 - D(x)) \, dx .

* **A 2-D toy GAN**: :class:`GaussianMixture2D` (modes on a ring or a grid),
  :class:`ToyGenerator` / :class:`ToyDiscriminator` (small MLPs; the
  discriminator returns logits ``(B,)`` like every discriminator in genlab),
  :func:`train_toy_gan` (the alternating D/G updates, keeping snapshots of
  samples so mode collapse can be watched) and :func:`mode_coverage` (how many
  modes the samples reach, and what fraction of samples are near any mode).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .errors import ShapeError
from .models.toy import ToyDiscriminator, ToyGenerator

__all__ = [
    "GaussianMixture2D", "ToyDiscriminator", "ToyGANRun", "ToyGenerator", "grid_centers", "integrate",
    "js_on_grid", "kl_on_grid", "mixture_pdf", "mode_coverage", "normal_pdf", "ring_centers",
    "show_snapshots", "train_toy_gan", "value_on_grid",
]


# --------------------------------------------------------------------------- 1-D densities on a grid


def normal_pdf(x: torch.Tensor, mu: float = 0.0, sigma: float = 1.0) -> torch.Tensor:
    r""":math:`\mathcal N(x; \mu, \sigma^2) = \exp(-(x-\mu)^2 / 2\sigma^2) / (\sigma\sqrt{2\pi})`, elementwise."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}.")
    x = torch.as_tensor(x, dtype=torch.float64)
    return torch.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def mixture_pdf(x: torch.Tensor, mus: list[float], sigmas: list[float],
                weights: list[float] | None = None) -> torch.Tensor:
    r"""Density of a 1-D Gaussian mixture :math:`\sum_k w_k \mathcal N(x; \mu_k, \sigma_k^2)`.

    Args:
        x: points, any shape.
        mus, sigmas: one mean and standard deviation per component.
        weights: mixing weights (default uniform); normalised to sum to 1.

    Returns:
        The density at ``x`` (float64, shape of ``x``).
    """
    if len(mus) != len(sigmas) or not mus:
        raise ValueError(f"need as many sigmas as mus (at least one), got {len(mus)} mus, {len(sigmas)} sigmas.")
    w = torch.ones(len(mus), dtype=torch.float64) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    if w.shape != (len(mus),) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be {len(mus)} non-negative numbers, got {weights}.")
    w = w / w.sum()
    return sum(wk * normal_pdf(x, m, s) for wk, m, s in zip(w.tolist(), mus, sigmas, strict=True))


def _check_grid(x: torch.Tensor, *fs: torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.float64)
    if x.dim() != 1 or x.numel() < 2:
        raise ShapeError(f"the grid x must be 1-D with at least 2 points, got shape {tuple(x.shape)}.")
    for f in fs:
        if torch.as_tensor(f).shape != x.shape:
            raise ShapeError(f"values on the grid must have the grid's shape {tuple(x.shape)}, "
                             f"got {tuple(torch.as_tensor(f).shape)}.")
    return x


def integrate(f: torch.Tensor, x: torch.Tensor) -> float:
    r"""Trapezoidal rule :math:`\int f(x)\,dx \approx \sum_i \tfrac12 (f_i + f_{i+1})(x_{i+1} - x_i)`."""
    x = _check_grid(x, f)
    return float(torch.trapezoid(torch.as_tensor(f, dtype=torch.float64), x))


def _xlogy_ratio(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``p log(p / q)`` with ``0 log 0 = 0`` (where p = 0 the term vanishes whatever q is)."""
    p = torch.as_tensor(p, dtype=torch.float64)
    q = torch.as_tensor(q, dtype=torch.float64)
    safe_q = torch.where(p > 0, q, torch.ones_like(q))
    return torch.where(p > 0, p * (torch.log(p.clamp_min(1e-300)) - torch.log(safe_q)), torch.zeros_like(p))


def kl_on_grid(p: torch.Tensor, q: torch.Tensor, x: torch.Tensor) -> float:
    r""":math:`\mathrm{KL}(p\,\|\,q) = \int p \log(p/q)\,dx` by the trapezoidal rule (nats)."""
    x = _check_grid(x, p, q)
    return integrate(_xlogy_ratio(p, q), x)


def js_on_grid(p: torch.Tensor, q: torch.Tensor, x: torch.Tensor) -> float:
    r"""Jensen-Shannon divergence :math:`\tfrac12 \mathrm{KL}(p\|m) + \tfrac12 \mathrm{KL}(q\|m)`, :math:`m = (p+q)/2`.

    Computed from its definition (not from the GAN value), so it is an
    independent check of :math:`V(D^*, G) = -\log 4 + 2\,\mathrm{JS}`. In nats,
    between 0 (equal densities) and :math:`\log 2` (disjoint supports).
    """
    x = _check_grid(x, p, q)
    p = torch.as_tensor(p, dtype=torch.float64)
    q = torch.as_tensor(q, dtype=torch.float64)
    m = 0.5 * (p + q)
    return 0.5 * kl_on_grid(p, m, x) + 0.5 * kl_on_grid(q, m, x)


def value_on_grid(d: torch.Tensor, p_data: torch.Tensor, p_g: torch.Tensor, x: torch.Tensor) -> float:
    r"""The minimax value :math:`V(D, G) = \int p_\text{data} \log D + p_g \log(1 - D)\,dx` on a grid.

    Args:
        d: discriminator probabilities :math:`D(x) \in [0, 1]` on the grid.
        p_data, p_g: the two densities on the grid.
        x: the grid (1-D, increasing).

    Returns:
        :math:`V` in nats (``<= 0``); terms with zero density count as 0.
    """
    x = _check_grid(x, d, p_data, p_g)
    d = torch.as_tensor(d, dtype=torch.float64)
    p_data = torch.as_tensor(p_data, dtype=torch.float64)
    p_g = torch.as_tensor(p_g, dtype=torch.float64)
    # x log y with 0 log 0 = 0: where a density is 0 the point never contributes.
    real = torch.where(p_data > 0, p_data * torch.log(d.clamp_min(1e-300)), torch.zeros_like(d))
    fake = torch.where(p_g > 0, p_g * torch.log((1 - d).clamp_min(1e-300)), torch.zeros_like(d))
    return integrate(real + fake, x)


# --------------------------------------------------------------------------- 2-D mixtures


def ring_centers(n_modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """``n_modes`` points equally spaced on a circle of ``radius``: ``(n_modes, 2)``."""
    if n_modes < 1:
        raise ValueError(f"n_modes must be >= 1, got {n_modes}.")
    angles = torch.arange(n_modes, dtype=torch.float32) * (2 * math.pi / n_modes)
    return radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def grid_centers(side: int = 5, spacing: float = 1.0) -> torch.Tensor:
    """A ``side x side`` grid of points ``spacing`` apart, centred on 0: ``(side**2, 2)``."""
    if side < 1:
        raise ValueError(f"side must be >= 1, got {side}.")
    ticks = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([gx.flatten(), gy.flatten()], dim=1)


@dataclass
class GaussianMixture2D:
    r"""Equal-weight mixture of isotropic 2-D Gaussians :math:`\frac1K\sum_k \mathcal N(c_k, \sigma^2 I)`.

    Build one with :meth:`ring` or :meth:`grid`.

    Attributes:
        centers: ``(K, 2)`` mode centres.
        std: the common standard deviation :math:`\sigma`.
    """

    centers: torch.Tensor
    std: float = 0.05

    def __post_init__(self) -> None:
        self.centers = torch.as_tensor(self.centers, dtype=torch.float32)
        if self.centers.dim() != 2 or self.centers.shape[1] != 2:
            raise ShapeError(f"centers must have shape (K, 2), got {tuple(self.centers.shape)}.")
        if self.std <= 0:
            raise ValueError(f"std must be > 0, got {self.std}.")

    @classmethod
    def ring(cls, n_modes: int = 8, radius: float = 2.0, std: float = 0.05) -> GaussianMixture2D:
        """Modes equally spaced on a circle (the classic 8-Gaussians toy)."""
        return cls(ring_centers(n_modes, radius), std)

    @classmethod
    def grid(cls, side: int = 5, spacing: float = 1.0, std: float = 0.05) -> GaussianMixture2D:
        """Modes on a ``side x side`` grid (the classic 25-Gaussians toy)."""
        return cls(grid_centers(side, spacing), std)

    @property
    def n_modes(self) -> int:
        return self.centers.shape[0]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` points ``(n, 2)``: pick a mode uniformly, add :math:`\\sigma` times Gaussian noise."""
        k = torch.randint(0, self.n_modes, (n,), generator=generator)
        return self.centers[k] + self.std * torch.randn(n, 2, generator=generator)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\log p(x) = \operatorname{logsumexp}_k \log\mathcal N(x; c_k, \sigma^2 I) - \log K`: ``(N, 2) -> (N,)``."""
        if x.dim() != 2 or x.shape[1] != 2:
            raise ShapeError(f"x must be points of shape (N, 2), got {tuple(x.shape)}.")
        d2 = torch.cdist(x.float(), self.centers).pow(2)                      # (N, K)
        log_n = -d2 / (2 * self.std**2) - math.log(2 * math.pi * self.std**2)
        return torch.logsumexp(log_n, dim=1) - math.log(self.n_modes)


def mode_coverage(samples: torch.Tensor, centers: torch.Tensor, std: float, n_std: float = 3.0,
                  min_count: int | None = None) -> dict:
    """How many modes of a mixture the samples reach.

    A sample is *near* mode k when it lies within ``n_std * std`` of centre k
    (these discs do not overlap for the ring and grid above). A mode is
    *covered* when at least ``min_count`` samples are near it (default: 1% of
    the samples, at least 1). A collapsed GAN covers 1 or 2 modes; a good one
    covers all of them with most samples near some mode.

    Args:
        samples: ``(N, 2)`` generated points.
        centers: ``(K, 2)`` mode centres.
        std: the mixture's standard deviation.
        n_std: radius of the "near" disc in standard deviations.
        min_count: samples a mode needs to count as covered.

    Returns:
        ``{"covered": int, "n_modes": K, "counts": [per mode], "near_fraction": float}``
        where ``near_fraction`` is the fraction of samples near any mode ("quality").
    """
    if samples.dim() != 2 or samples.shape[1] != 2:
        raise ShapeError(f"samples must have shape (N, 2), got {tuple(samples.shape)}.")
    n = samples.shape[0]
    min_count = max(1, round(0.01 * n)) if min_count is None else min_count
    dist = torch.cdist(samples.detach().float().cpu(), torch.as_tensor(centers, dtype=torch.float32))  # (N, K)
    nearest = dist.min(dim=1)
    near = nearest.values <= n_std * std
    counts = torch.bincount(nearest.indices[near], minlength=centers.shape[0])
    return {"covered": int((counts >= min_count).sum()), "n_modes": int(centers.shape[0]),
            "counts": counts.tolist(), "near_fraction": float(near.float().mean()) if n else 0.0}


@dataclass
class ToyGANRun:
    """The result of :func:`train_toy_gan`.

    Attributes:
        generator, discriminator: the trained networks (on the CPU, eval mode).
        snapshots: ``{step: (n_show, 2) samples from a fixed noise batch}``.
        history: ``{"step", "loss_d", "loss_g", "covered"}`` lists, one entry per snapshot.
    """

    generator: ToyGenerator
    discriminator: ToyDiscriminator
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)
    history: dict[str, list] = field(default_factory=lambda: {"step": [], "loss_d": [], "loss_g": [],
                                                              "covered": []})


def train_toy_gan(mixture: GaussianMixture2D, steps: int = 2000, *, batch_size: int = 256, lr: float = 1e-3,
                  betas: tuple[float, float] = (0.5, 0.999), lr_d: float | None = None,
                  non_saturating: bool = True, d_steps: int = 1,
                  z_dim: int = 2, hidden: int = 128, depth: int = 3, snapshots: int = 6, n_show: int = 1000,
                  seed: int = 0,
                  d_loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                  g_loss_fn: Callable[..., torch.Tensor] | None = None) -> ToyGANRun:
    """Train a small GAN on a 2-D mixture with alternating updates; keep sample snapshots.

    Each step: ``d_steps`` discriminator updates on a fresh real batch and detached
    fakes, then one generator update through D (``genlab.train.discriminator_update`` and
    ``generator_update``, the same GAN update as ``GANTask`` and pix2pix). CPU only (these nets are tiny:
    a GPU would spend its time launching kernels).

    Args:
        mixture: the data distribution.
        steps: generator updates.
        batch_size, lr, betas: Adam settings for both players (betas (0.5, 0.999) as in DCGAN).
        lr_d: the discriminator's learning rate if it differs from the generator's ``lr``
            (a discriminator that lags behind its generator invites mode collapse).
        non_saturating: the generator loss (see ``genlab.losses.generator_loss``).
        d_steps: discriminator updates per generator update.
        z_dim, hidden, depth: network sizes.
        snapshots: number of snapshots, evenly spaced, the last at ``steps``.
        n_show: points per snapshot (from one fixed noise batch, so snapshots compare).
        seed: seeds the networks, the data and the noise.
        d_loss_fn, g_loss_fn: the losses (default ``genlab.losses``); lab 03 passes its own.

    Returns:
        A :class:`ToyGANRun`.
    """
    from .losses import discriminator_loss, generator_loss
    from .train.context import intra_op_threads
    from .train.tasks import discriminator_update, generator_update, plain_optimize

    d_loss_fn = d_loss_fn or discriminator_loss
    g_loss_fn = g_loss_fn or generator_loss
    if steps < 1 or snapshots < 1:
        raise ValueError(f"steps and snapshots must be >= 1, got steps={steps}, snapshots={snapshots}.")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    g_net = ToyGenerator(z_dim, hidden, depth)
    d_net = ToyDiscriminator(hidden, depth)
    opt_g = torch.optim.Adam(g_net.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(d_net.parameters(), lr=lr if lr_d is None else lr_d, betas=betas)
    fixed_z = torch.randn(n_show, z_dim, generator=gen)
    when = sorted({max(1, round(steps * (i + 1) / snapshots)) for i in range(snapshots)})
    run = ToyGANRun(g_net, d_net)

    def snapshot(step: int, loss_d: float, loss_g: float) -> None:
        with torch.no_grad():
            pts = g_net(fixed_z)
        run.snapshots[step] = pts
        run.history["step"].append(step)
        run.history["loss_d"].append(loss_d)
        run.history["loss_g"].append(loss_g)
        run.history["covered"].append(mode_coverage(pts, mixture.centers, mixture.std)["covered"])

    optimize = plain_optimize({"generator": opt_g, "discriminator": opt_d})
    snapshot(0, float("nan"), float("nan"))
    # Nets this small gain nothing from intra-op threads, and on a busy CPU their spin-waits cost
    # 30x (215 ms a step with 2 threads against 6 ms with 1, measured at a load average of 4).
    with intra_op_threads(1):
        for step in range(1, steps + 1):
            for _ in range(d_steps):
                real = mixture.sample(batch_size, generator=gen)
                fake = g_net(torch.randn(batch_size, z_dim, generator=gen))
                loss_d, _, _ = discriminator_update(d_net, real, fake, optimize, loss_fn=d_loss_fn)
            fake = g_net(torch.randn(batch_size, z_dim, generator=gen))
            loss_g = generator_update(d_net, fake, optimize, non_saturating=non_saturating, loss_fn=g_loss_fn)
            if step in when:
                snapshot(step, float(loss_d.detach()), float(loss_g.detach()))
    g_net.eval()
    d_net.eval()
    return run


def show_snapshots(run: ToyGANRun, mixture: GaussianMixture2D, title: str | None = None, axes=None,
                   lim: float | None = None):
    """Scatter the generator's samples at each snapshot over the mixture's modes (one panel per step).

    Args:
        run: a :class:`ToyGANRun`.
        mixture: the data distribution (its centres are drawn as red crosses).
        title: written left of the row (e.g. the setting).
        axes: a row of matplotlib axes, one per snapshot (default: a new figure).
        lim: half-width of each panel (default: the mixture's extent plus a margin).

    Returns:
        The axes.
    """
    import matplotlib.pyplot as plt

    steps = sorted(run.snapshots)
    if axes is None:
        _, axes = plt.subplots(1, len(steps), figsize=(2.2 * len(steps), 2.4), squeeze=False)
        axes = axes[0]
    lim = lim or float(mixture.centers.abs().max()) + 1.0
    for ax, step in zip(axes, steps, strict=False):
        pts = run.snapshots[step]
        cov = mode_coverage(pts, mixture.centers, mixture.std)
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4)
        ax.scatter(mixture.centers[:, 0], mixture.centers[:, 1], c="red", marker="x", s=25)
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xticks=[], yticks=[], aspect="equal")
        ax.set_title(f"step {step}\n{cov['covered']}/{cov['n_modes']} modes", fontsize=8)
    if title:
        axes[0].set_ylabel(title, fontsize=9)
    return axes
