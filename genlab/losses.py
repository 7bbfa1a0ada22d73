r"""Losses for autoencoders, VAEs, GANs and inpainting.

Every loss works on logits where a sigmoid would otherwise appear, so that
``log sigmoid`` is evaluated stably as ``-softplus(-l)``:

.. math::

    \log \sigma(l) = -\operatorname{softplus}(-l), \qquad
    \log (1 - \sigma(l)) = -\operatorname{softplus}(l).

Shapes: ``B`` is the batch size. Per-example losses return ``(B,)``; the
losses a training loop minimises return a scalar.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .errors import RangeError, ShapeError, check_image, check_mask, describe

__all__ = [
    "kl_divergence",
    "negative_elbo",
    "elbo_loss",
    "discriminator_loss",
    "generator_loss",
    "optimal_discriminator",
    "gan_value",
    "masked_mse",
    "masked_l1",
]

_LOG_2PI = math.log(2 * math.pi)


def _check_tensor(t: object, name: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise ShapeError(f"{name} must be a torch.Tensor, got {describe(t)}.")
    if not t.is_floating_point():
        raise ShapeError(f"{name} must be a floating tensor, got dtype {t.dtype}. Convert with .float().")
    return t


def _sum_per_example(t: torch.Tensor) -> torch.Tensor:
    """Sum over every dimension except the first: ``(B, ...) -> (B,)``."""
    return t.reshape(t.shape[0], -1).sum(dim=1)


# --------------------------------------------------------------------------- VAE


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""KL divergence of a diagonal Gaussian from the standard normal, per example.

    .. math::

        \mathrm{KL}\big(\mathcal N(\mu, \operatorname{diag} \sigma^2) \,\|\, \mathcal N(0, I)\big)
        = \tfrac12 \sum_j \big(\sigma_j^2 + \mu_j^2 - 1 - \log \sigma_j^2\big),
        \qquad \sigma_j^2 = e^{\text{logvar}_j}.

    The sum runs over every non-batch dimension, so a latent of shape
    ``(B, D)`` or ``(B, C, h, w)`` both work.

    Developed in course/02_vae (lab 02).

    Args:
        mu: posterior means, ``(B, ...)``.
        logvar: posterior log-variances :math:`\log \sigma^2`, same shape as ``mu``.

    Returns:
        ``(B,)`` KL in nats, one value per example (always ``>= 0``).
    """
    _check_tensor(mu, "mu")
    _check_tensor(logvar, "logvar")
    if mu.shape != logvar.shape:
        raise ShapeError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and "
                         f"{tuple(logvar.shape)}. The encoder should return one logvar per mean.")
    if mu.dim() < 1:
        raise ShapeError("mu must have a batch dimension, shape (B, D); got a scalar.")
    return 0.5 * _sum_per_example(logvar.exp() + mu.pow(2) - 1.0 - logvar)


def negative_elbo(x: torch.Tensor, x_logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                  beta: float = 1.0, likelihood: str = "bernoulli", sigma: float = 1.0) -> torch.Tensor:
    r"""Negative evidence lower bound per image, in nats.

    .. math::

        -\mathrm{ELBO}(x) = \underbrace{-\log p_\theta(x \mid z)}_{\text{reconstruction}}
        + \beta\, \mathrm{KL}\big(q_\phi(z \mid x) \,\|\, p(z)\big),
        \qquad z \sim q_\phi(z \mid x),

    where ``x_logits`` is the decoder output for one sample ``z`` (a
    single-sample Monte Carlo estimate of the expectation) and the KL is the
    closed form :func:`kl_divergence`.

    Likelihoods (summed over all pixels):

    - ``"bernoulli"``: :math:`-\log p(x \mid z) = \sum_i \operatorname{BCE}(l_i, x_i)
      = \sum_i \operatorname{softplus}(l_i) - x_i l_i`. Also valid for continuous
      ``x`` in ``[0, 1]`` (the "continuous Bernoulli" without its normaliser,
      which is what most VAE code trains).
    - ``"gaussian"``: mean :math:`m = \sigma(l)` (so the same logit decoder serves
      both likelihoods) and fixed standard deviation ``sigma``:
      :math:`-\log p(x \mid z) = \sum_i \frac{(x_i - m_i)^2}{2 s^2} + \log s + \tfrac12 \log 2\pi`.

    Developed in course/02_vae (lab 02).

    Args:
        x: data, ``(B, ...)`` (e.g. ``(B, C, H, W)``) with values in ``[0, 1]``.
        x_logits: decoder logits, same shape as ``x``.
        mu, logvar: encoder outputs, ``(B, D)`` (or any ``(B, ...)``).
        beta: weight of the KL term (beta-VAE; 1 gives the true ELBO).
        likelihood: ``"bernoulli"`` or ``"gaussian"``.
        sigma: standard deviation of the Gaussian likelihood (ignored for Bernoulli).

    Returns:
        ``(B,)`` negative ELBO per image in nats.
    """
    _check_tensor(x, "x")
    _check_tensor(x_logits, "x_logits")
    if x.shape != x_logits.shape:
        raise ShapeError(f"x_logits must have the shape of x {tuple(x.shape)}, got {tuple(x_logits.shape)}. "
                         "Reshape the decoder output with x_logits.view_as(x).")
    _check_tensor(mu, "mu")
    if mu.dim() < 1 or mu.shape[0] != x.shape[0]:
        raise ShapeError(f"mu has batch size {mu.shape[0]} but x has {x.shape[0]}.")
    if likelihood == "bernoulli":
        if x.numel() and (float(x.min()) < -1e-6 or float(x.max()) > 1 + 1e-6):
            raise RangeError(f"x must hold values in [0, 1] for a Bernoulli likelihood, got min "
                             f"{float(x.min()):.3g}, max {float(x.max()):.3g}.")
        # BCE-with-logits = softplus(l) - x*l: stable for any logit magnitude.
        nll = F.binary_cross_entropy_with_logits(x_logits, x, reduction="none")
    elif likelihood == "gaussian":
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}.")
        mean = torch.sigmoid(x_logits)
        nll = 0.5 * ((x - mean) / sigma).pow(2) + math.log(sigma) + 0.5 * _LOG_2PI
    else:
        raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}.")
    return _sum_per_example(nll) + beta * kl_divergence(mu, logvar)


def elbo_loss(x: torch.Tensor, x_logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
              beta: float = 1.0, likelihood: str = "bernoulli") -> torch.Tensor:
    r"""The VAE training loss: the batch mean of :func:`negative_elbo`.

    .. math::

        \mathcal L = \frac1B \sum_{b=1}^B \Big[-\log p_\theta(x_b \mid z_b)
        + \beta\, \mathrm{KL}\big(q_\phi(z \mid x_b) \,\|\, \mathcal N(0, I)\big)\Big]

    Summing over pixels and averaging over the batch keeps the loss in nats
    per image, so the reconstruction/KL balance does not depend on the
    batch size.

    Developed in course/02_vae (lab 02).

    Args:
        x: data ``(B, ...)`` in ``[0, 1]``.
        x_logits: decoder logits, shaped like ``x``.
        mu, logvar: encoder outputs ``(B, D)``.
        beta: KL weight.
        likelihood: ``"bernoulli"`` (default) or ``"gaussian"``.

    Returns:
        Scalar tensor (0-D).
    """
    return negative_elbo(x, x_logits, mu, logvar, beta=beta, likelihood=likelihood).mean()


# --------------------------------------------------------------------------- GAN


def _check_logits(t: object, name: str) -> torch.Tensor:
    _check_tensor(t, name)
    if t.dim() != 1:
        hint = " Flatten with .view(-1)." if t.dim() == 2 and t.shape[-1] == 1 else ""
        raise ShapeError(f"{name} must be discriminator logits of shape (N,), got shape "
                         f"{tuple(t.shape)}.{hint}")
    return t


def discriminator_loss(d_real_logits: torch.Tensor, d_fake_logits: torch.Tensor) -> torch.Tensor:
    r"""Binary cross-entropy of the discriminator: real labelled 1, fake labelled 0.

    .. math::

        \mathcal L_D = -\mathbb E_{x}\big[\log D(x)\big]
                       - \mathbb E_{z}\big[\log(1 - D(G(z)))\big]
        = \overline{\operatorname{softplus}(-l_{\text{real}})}
        + \overline{\operatorname{softplus}(l_{\text{fake}})},

    with :math:`D = \sigma(l)`. Each expectation is a batch mean, so this is
    the sum of the two means (``= -V(D, G)``, see :func:`gan_value`).

    Developed in course/03_gan_theory (lab 03).

    Args:
        d_real_logits: ``(N,)`` discriminator logits on real data.
        d_fake_logits: ``(M,)`` logits on generated data (detach them when
            updating D, so no gradient reaches G).

    Returns:
        Scalar tensor.
    """
    _check_logits(d_real_logits, "d_real_logits")
    _check_logits(d_fake_logits, "d_fake_logits")
    return F.softplus(-d_real_logits).mean() + F.softplus(d_fake_logits).mean()


def generator_loss(d_fake_logits: torch.Tensor, non_saturating: bool = True) -> torch.Tensor:
    r"""Generator loss, non-saturating (default) or the original minimax form.

    .. math::

        \mathcal L_G^{\text{NS}} = -\mathbb E_z\big[\log D(G(z))\big]
                                 = \overline{\operatorname{softplus}(-l)}, \qquad
        \mathcal L_G^{\text{minimax}} = \mathbb E_z\big[\log(1 - D(G(z)))\big]
                                      = -\overline{\operatorname{softplus}(l)}.

    Why non-saturating: early in training D easily spots fakes, so the fake
    logits :math:`l \to -\infty`. The minimax loss then has gradient
    :math:`\frac{d}{dl}\log(1 - \sigma(l)) = -\sigma(l) \to 0`: it *saturates*
    and G learns nothing. The non-saturating loss has
    :math:`\frac{d}{dl}\,[-\log \sigma(l)] = -(1 - \sigma(l)) \to -1`, a strong
    signal exactly when G is worst. Both push D(G(z)) the same way and share
    the same fixed point.

    Developed in course/03_gan_theory (lab 03).

    Args:
        d_fake_logits: ``(N,)`` discriminator logits on generated samples
            (not detached: the gradient must reach G).
        non_saturating: use :math:`-\log D(G(z))` (True) or
            :math:`\log(1 - D(G(z)))` (False).

    Returns:
        Scalar tensor, to be minimised by G.
    """
    _check_logits(d_fake_logits, "d_fake_logits")
    if non_saturating:
        return F.softplus(-d_fake_logits).mean()
    return -F.softplus(d_fake_logits).mean()


def gan_value(d_real_logits: torch.Tensor, d_fake_logits: torch.Tensor) -> torch.Tensor:
    r"""Monte Carlo estimate of the minimax value :math:`V(D, G)`.

    .. math::

        V(D, G) = \mathbb E_{x \sim p_{\text{data}}}\big[\log D(x)\big]
                + \mathbb E_{z}\big[\log(1 - D(G(z)))\big]

    D maximises V, G minimises it; at the optimal discriminator
    :math:`V(D^*, G) = -\log 4 + 2\,\mathrm{JS}(p_{\text{data}} \,\|\, p_g)`.

    Developed in course/03_gan_theory (lab 03).

    Args:
        d_real_logits: ``(N,)`` logits on real data.
        d_fake_logits: ``(M,)`` logits on generated data.

    Returns:
        Scalar tensor (``<= 0``).
    """
    return -discriminator_loss(d_real_logits, d_fake_logits)


def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    r"""The discriminator that maximises :math:`V(D, G)` for a fixed generator.

    .. math::

        D^*(x) = \frac{p_{\text{data}}(x)}{p_{\text{data}}(x) + p_g(x)}

    Pointwise: :math:`a \log y + b \log(1 - y)` is maximised at
    :math:`y = a / (a + b)`. Where both densities are 0 the point is never
    sampled and any value is optimal; we return 0.5 there (no NaN, and the
    gradient is 0 there too).

    Developed in course/03_gan_theory (lab 03).

    Args:
        p_data: data density evaluated at some points, any shape, ``>= 0``.
        p_g: generator density at the same points (broadcastable).

    Returns:
        :math:`D^*` at those points, values in ``[0, 1]``.
    """
    p_data = torch.as_tensor(p_data)
    p_g = torch.as_tensor(p_g)
    if not p_data.is_floating_point():
        p_data = p_data.double()
    if not p_g.is_floating_point():
        p_g = p_g.to(p_data.dtype)
    if (p_data < 0).any() or (p_g < 0).any():
        raise RangeError("p_data and p_g are densities and must be >= 0, got negative values.")
    total = p_data + p_g
    empty = total == 0
    # Divide by a safe denominator so the masked branch never computes 0/0
    # (torch.where would still propagate NaN gradients from it).
    safe = torch.where(empty, torch.ones_like(total), total)
    return torch.where(empty, torch.full_like(total, 0.5), p_data / safe)


# --------------------------------------------------------------------------- inpainting


def _masked_error(x_hat: torch.Tensor, x: torch.Tensor,
                  mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate and return ``(x_hat - x, mask expanded to x's shape)``."""
    check_image(x, "x", value_range=False)
    check_image(x_hat, "x_hat", value_range=False)
    if x_hat.shape != x.shape:
        raise ShapeError(f"x_hat of shape {tuple(x_hat.shape)} must match x of shape {tuple(x.shape)}.")
    mask = check_mask(mask, like=x).to(dtype=x.dtype)
    # (N, 1, H, W) -> (N, C, H, W): a hole pixel counts once per channel, so
    # the denominator matches the number of terms in the numerator.
    mask = mask.expand_as(x)
    return x_hat - x, mask


def masked_mse(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""Mean squared error over the hole pixels only.

    .. math::

        \mathcal L = \frac{\sum_{n,c,h,w} m_{nchw}\,(\hat x_{nchw} - x_{nchw})^2}
                          {\sum_{n,c,h,w} m_{nchw}}

    with the mask broadcast over channels (a ``(N, 1, H, W)`` mask on RGB
    images counts each hole pixel 3 times, once per channel). The mean pools
    all hole pixels of the batch (images with bigger holes weigh more).
    A mask with no hole pixels gives 0 (not NaN): there is nothing to
    repair, and the gradient is 0 too.

    Developed in course/05_restoration (lab 05).

    Args:
        x_hat: prediction ``(N, C, H, W)``.
        x: target ``(N, C, H, W)``.
        mask: ``(N, 1, H, W)`` or ``(N, C, H, W)``, 1 = missing.

    Returns:
        Scalar tensor.
    """
    diff, mask = _masked_error(x_hat, x, mask)
    return (diff.pow(2) * mask).sum() / mask.sum().clamp_min(1.0)


def masked_l1(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""Mean absolute error over the hole pixels only.

    .. math::

        \mathcal L = \frac{\sum m\,|\hat x - x|}{\sum m}

    Same arguments and conventions as :func:`masked_mse` (channels counted, empty
    mask -> 0); returns a scalar tensor.

    Developed in course/05_restoration (lab 05).
    """
    diff, mask = _masked_error(x_hat, x, mask)
    return (diff.abs() * mask).sum() / mask.sum().clamp_min(1.0)
