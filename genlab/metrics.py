r"""Evaluation metrics: restoration quality, sample quality, likelihood bounds.

- :func:`psnr`, :func:`masked_psnr`, :func:`masked_ssim`: how close a repaired
  image is to the original, measured on the hole only (the known pixels are
  copied from the input, so counting them would flatter every method).
- :func:`frechet_distance`, :func:`classifier_frechet`, :func:`class_coverage`:
  how close a set of generated images is to real data, in the feature space of
  a digit classifier (the idea of FID, with a small in-domain network).
- :func:`iwae_bound`: a tighter lower bound on :math:`\log p(x)` than the ELBO.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import ShapeError, check_image, check_mask, describe

__all__ = [
    "psnr",
    "masked_psnr",
    "masked_ssim",
    "ssim_map",
    "frechet_distance",
    "classifier_features",
    "classifier_frechet",
    "class_coverage",
    "iwae_bound",
]


# --------------------------------------------------------------------------- PSNR / SSIM


def _check_pair(x_hat: torch.Tensor, x: torch.Tensor) -> None:
    check_image(x_hat, "x_hat", value_range=False)
    check_image(x, "x", value_range=False)
    if x_hat.shape != x.shape:
        raise ShapeError(f"x_hat of shape {tuple(x_hat.shape)} must match x of shape {tuple(x.shape)}.")


def _psnr_from_mse(mse: torch.Tensor, data_range: float) -> torch.Tensor:
    # mse == 0 gives +inf (a perfect reconstruction), which is the honest value.
    return 10.0 * torch.log10(data_range**2 / mse)


def psnr(x_hat: torch.Tensor, x: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    r"""Peak signal-to-noise ratio per image, in dB.

    .. math::

        \mathrm{PSNR} = 10 \log_{10} \frac{R^2}{\frac{1}{CHW}\sum (\hat x - x)^2}

    Args:
        x_hat: reconstruction ``(N, C, H, W)``.
        x: reference ``(N, C, H, W)``.
        data_range: :math:`R`, the span of pixel values (1 for images in ``[0, 1]``).

    Returns:
        ``(N,)`` PSNR in dB; ``inf`` where ``x_hat == x`` exactly.
    """
    _check_pair(x_hat, x)
    mse = (x_hat - x).pow(2).flatten(1).mean(1)
    return _psnr_from_mse(mse, data_range)


def masked_psnr(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor,
                data_range: float = 1.0) -> torch.Tensor:
    r"""PSNR per image from the MSE over the hole pixels only.

    .. math::

        \mathrm{MSE}_n = \frac{\sum_{c,h,w} m_{nchw} (\hat x_{nchw} - x_{nchw})^2}{\sum_{c,h,w} m_{nchw}},
        \qquad \mathrm{PSNR}_n = 10 \log_{10} \frac{R^2}{\mathrm{MSE}_n}

    A one-channel mask counts once per image channel. An image whose hole is
    empty has no pixel to score: its PSNR is ``nan`` (undefined, not "perfect";
    average a batch with ``torch.nanmean``). A perfect hole gives ``inf``. This is
    genlab's only hole PSNR: the painter widget and ``evaluate_repairers`` use it.

    Developed in course/05_restoration (lab 05).

    Args:
        x_hat: reconstruction ``(N, C, H, W)``.
        x: reference ``(N, C, H, W)``.
        mask: ``(N, 1, H, W)`` or ``(N, C, H, W)``, 1 = missing.
        data_range: span of pixel values.

    Returns:
        ``(N,)`` PSNR in dB.
    """
    _check_pair(x_hat, x)
    mask = check_mask(mask, like=x).to(x.dtype).expand_as(x)
    count = mask.flatten(1).sum(1)
    sse = ((x_hat - x).pow(2) * mask).flatten(1).sum(1)
    mse = torch.where(count > 0, sse / count.clamp_min(1.0), torch.full_like(sse, float("nan")))
    return _psnr_from_mse(mse, data_range)


def _gaussian_kernel(sigma: float, radius: int, dtype: torch.dtype) -> torch.Tensor:
    """1-D Gaussian taps ``exp(-t^2 / 2 sigma^2)`` for ``t = -radius..radius``, summing to 1."""
    t = torch.arange(-radius, radius + 1, dtype=dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _pad_symmetric(x: torch.Tensor, r: int) -> torch.Tensor:
    """Pad the last two dims by ``r`` repeating the edge (``d c b a | a b c d``).

    This is scipy.ndimage's ``mode="reflect"`` (what skimage uses for SSIM);
    torch's ``"reflect"`` does not repeat the edge pixel, so we build it.
    """
    x = torch.cat([x[..., :r].flip(-1), x, x[..., -r:].flip(-1)], dim=-1)
    return torch.cat([x[..., :r, :].flip(-2), x, x[..., -r:, :].flip(-2)], dim=-2)


def _blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter of ``(N, C, H, W)``, same size out (symmetric padding)."""
    n, c, h, w = x.shape
    r = (kernel.numel() - 1) // 2
    y = _pad_symmetric(x, r).reshape(n * c, 1, h + 2 * r, w + 2 * r)
    y = F.conv2d(y, kernel.view(1, 1, 1, -1))  # along width
    y = F.conv2d(y, kernel.view(1, 1, -1, 1))  # along height
    return y.reshape(n, c, h, w)


def ssim_map(x_hat: torch.Tensor, x: torch.Tensor, data_range: float = 1.0, sigma: float = 1.5,
             win_size: int | None = None, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    r"""Per-pixel SSIM map with Gaussian weights (Wang et al., 2004).

    .. math::

        \mathrm{SSIM} = \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}
                             {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)},
        \quad C_1 = (K_1 R)^2,\ C_2 = (K_2 R)^2,

    with local means/variances from a Gaussian window (population
    covariance) and symmetric edge padding, computed per channel. This
    matches ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
    use_sample_covariance=False, full=True)``.

    Args:
        x_hat, x: ``(N, C, H, W)``.
        data_range: :math:`R`.
        sigma: Gaussian window standard deviation.
        win_size: odd window side. ``None``: 11 (skimage's default for
            sigma 1.5) when the image is at least 11 px on each side, else 7
            (small images such as 8x8 crops).
        k1, k2: stabilising constants.

    Returns:
        ``(N, C, H, W)`` SSIM map (values in ``[-1, 1]``).
    """
    _check_pair(x_hat, x)
    h, w = x.shape[-2:]
    if win_size is None:
        win_size = 11 if min(h, w) >= 11 else 7
    if win_size % 2 != 1 or win_size > min(h, w):
        raise ShapeError(f"win_size must be odd and at most the image side {min(h, w)}, got {win_size}. "
                         "Pass a smaller odd win_size for small images.")
    dtype = torch.promote_types(x.dtype, torch.float32)
    a, b = x_hat.to(dtype), x.to(dtype)
    kernel = _gaussian_kernel(sigma, (win_size - 1) // 2, dtype).to(x.device)
    mu_a, mu_b = _blur(a, kernel), _blur(b, kernel)
    var_a = _blur(a * a, kernel) - mu_a**2
    var_b = _blur(b * b, kernel) - mu_b**2
    cov = _blur(a * b, kernel) - mu_a * mu_b
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return num / den


def masked_ssim(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor, data_range: float = 1.0,
                sigma: float = 1.5, win_size: int | None = None) -> torch.Tensor:
    r"""SSIM averaged over the hole pixels of each image.

    .. math::

        \mathrm{SSIM}_n = \frac{\sum_{c,h,w} m_{nchw}\, S_{nchw}}{\sum_{c,h,w} m_{nchw}}

    where :math:`S` is :func:`ssim_map` on the whole images (windows around
    the hole see known pixels too, as they should: structure is judged in
    context). Empty hole -> ``nan``, as in :func:`masked_psnr`.

    Developed in course/05_restoration (lab 05).

    Args:
        x_hat, x: ``(N, C, H, W)``.
        mask: ``(N, 1, H, W)`` or ``(N, C, H, W)``, 1 = missing.
        data_range, sigma, win_size: see :func:`ssim_map`.

    Returns:
        ``(N,)`` mean SSIM over the hole.
    """
    _check_pair(x_hat, x)
    mask = check_mask(mask, like=x)
    s = ssim_map(x_hat, x, data_range=data_range, sigma=sigma, win_size=win_size)
    mask = mask.to(s.dtype).expand_as(s)
    count = mask.flatten(1).sum(1)
    total = (s * mask).flatten(1).sum(1)
    out = torch.where(count > 0, total / count.clamp_min(1.0), torch.full_like(total, float("nan")))
    return out.to(x.dtype)


# --------------------------------------------------------------------------- Frechet distance


def _as_2d_float64(feats: object, name: str) -> np.ndarray:
    if isinstance(feats, torch.Tensor):
        arr = feats.detach().cpu().double().numpy()
    elif isinstance(feats, np.ndarray):
        arr = feats.astype(np.float64)
    else:
        raise ShapeError(f"{name} must be a tensor or array of shape (N, D), got {describe(feats)}.")
    if arr.ndim != 2 or arr.shape[0] < 2:
        raise ShapeError(f"{name} must have shape (N, D) with N >= 2 samples, got shape {arr.shape}.")
    return arr


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a PSD matrix via eigh (tiny negative eigenvalues clipped)."""
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(feats_a: torch.Tensor | np.ndarray, feats_b: torch.Tensor | np.ndarray) -> float:
    r"""Frechet distance between Gaussians fitted to two feature sets.

    .. math::

        d^2 = \lVert \mu_a - \mu_b \rVert^2
              + \operatorname{Tr}\big(\Sigma_a + \Sigma_b - 2 (\Sigma_a \Sigma_b)^{1/2}\big)

    (the 2-Wasserstein distance between the two Gaussians; FID is this on
    Inception features). Computed in float64. The trace of
    :math:`(\Sigma_a\Sigma_b)^{1/2}` equals the sum of square roots of the
    eigenvalues of the symmetric PSD matrix
    :math:`\Sigma_a^{1/2}\Sigma_b\Sigma_a^{1/2}` (same spectrum), so we use
    ``eigh`` and never see the small imaginary parts that ``scipy.linalg.sqrtm``
    of a non-symmetric product produces.

    Covariances use the unbiased ``N - 1`` normaliser (like ``np.cov``).

    Args:
        feats_a: ``(N_a, D)`` features.
        feats_b: ``(N_b, D)`` features.

    Returns:
        The squared distance as a Python float (``>= 0``).
    """
    a, b = _as_2d_float64(feats_a, "feats_a"), _as_2d_float64(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ShapeError(f"feats_a and feats_b must have the same feature size, got {a.shape[1]} and "
                         f"{b.shape[1]}. Extract both with the same network.")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a = np.atleast_2d(np.cov(a, rowvar=False))
    s_b = np.atleast_2d(np.cov(b, rowvar=False))
    root_a = _sqrt_psd(s_a)
    middle = root_a @ s_b @ root_a
    middle = 0.5 * (middle + middle.T)  # symmetrise away rounding
    tr_covmean = float(np.sqrt(np.clip(np.linalg.eigvalsh(middle), 0.0, None)).sum())
    d2 = float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2.0 * tr_covmean)
    return max(d2, 0.0)


# --------------------------------------------------------------------------- classifier-based


def _default_classifier() -> nn.Module:
    # Imported lazily: the weights module is optional for most of genlab.
    from .weights import load_pretrained

    return load_pretrained("classifier")


def _default_for(x: object) -> nn.Module:
    """The shipped classifier, refusing images it was not trained on (it reads 1x16x16 digits).

    On another dataset its features mean nothing, so the error says which classifier to pass.
    """
    clf = _default_classifier()
    cfg = getattr(clf, "config", None)
    if isinstance(x, torch.Tensor) and x.dim() == 4 and hasattr(cfg, "image_size") and hasattr(cfg, "channels"):
        want = (cfg.channels, cfg.image_size, cfg.image_size)
        if tuple(x.shape[1:]) != want:
            raise ShapeError(
                f"the shipped classifier reads {want[0]}x{want[1]}x{want[2]} digits, got images of shape "
                f"{tuple(x.shape)}. For another dataset pass a classifier trained on it: "
                "classifier=genlab.datasets.select(...).classifier() trains one (a DigitsClassifier "
                "sized for the dataset).")
    return clf


def _chunks(x: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    for i in range(0, x.shape[0], batch_size):
        yield x[i:i + batch_size]


def _module_device(module: nn.Module) -> torch.device:
    p = next(iter(module.parameters()), None)
    if p is None:
        p = next(iter(module.buffers()), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def _run_classifier(x: torch.Tensor, classifier: nn.Module, method: str, batch_size: int) -> torch.Tensor:
    check_image(x, "x")
    fn = getattr(classifier, method, None)
    if fn is None:
        raise TypeError(f"classifier must have a {method}(x) method (like genlab.models.DigitsClassifier); "
                        f"got {type(classifier).__name__}.")
    was_training = classifier.training
    classifier.eval()  # dropout / batch norm in inference mode
    try:
        dev = _module_device(classifier)
        outs = [fn(chunk.to(dev)).flatten(1).cpu() for chunk in _chunks(x, batch_size)]
    finally:
        classifier.train(was_training)
    return torch.cat(outs) if outs else torch.empty(0, 0)


def classifier_features(x: torch.Tensor, classifier: nn.Module | None = None,
                        batch_size: int = 256) -> torch.Tensor:
    """Penultimate-layer features of a classifier, in eval mode, without gradients.

    Developed in course/04_gans_on_images (lab 04).

    Args:
        x: images ``(N, C, H, W)`` in ``[0, 1]`` (the classifier's input size).
        classifier: a module with ``features(x) -> (N, D)``; ``None`` loads the
            pretrained digits classifier (``genlab.weights.load_pretrained("classifier")``).
        batch_size: images per forward pass.

    Returns:
        ``(N, D)`` float tensor on the CPU.
    """
    classifier = _default_for(x) if classifier is None else classifier
    return _run_classifier(x, classifier, "features", batch_size)


def classifier_frechet(x_a: torch.Tensor, x_b: torch.Tensor, classifier: nn.Module | None = None,
                       batch_size: int = 256) -> float:
    """Frechet distance between two image sets in classifier feature space ("FID" for digits).

    Lower is better; 0 for identical sets. Compare numbers only when computed
    with the same classifier and similar sample sizes (the estimate is biased
    upwards for small N).

    Developed in course/04_gans_on_images (lab 04).

    Args:
        x_a, x_b: images ``(N, C, H, W)`` in ``[0, 1]``.
        classifier: module with ``features``; ``None`` loads the pretrained digits one
            (1x16x16 images only; for another dataset pass ``genlab.datasets.select(...).classifier()``).
        batch_size: images per forward pass.

    Returns:
        Python float.
    """
    classifier = _default_for(x_a) if classifier is None else classifier
    return frechet_distance(classifier_features(x_a, classifier, batch_size),
                            classifier_features(x_b, classifier, batch_size))


def class_coverage(x: torch.Tensor, classifier: nn.Module | None = None, threshold: float = 0.02,
                   batch_size: int = 256) -> dict:
    """How many classes a set of samples covers, by the classifier's argmax.

    A class is *covered* when at least ``threshold`` of the samples are
    predicted as it. A collapsed GAN covers few classes; a good one covers
    all of them with a near-uniform histogram (for 10 balanced classes each
    holds about 0.1, so the default 0.02 flags classes that nearly vanished).

    Developed in course/04_gans_on_images (lab 04).

    Args:
        x: images ``(N, C, H, W)`` in ``[0, 1]``.
        classifier: module whose ``forward(x)`` gives ``(N, K)`` logits;
            ``None`` loads the pretrained one.
        threshold: minimum fraction of samples for a class to count.
        batch_size: images per forward pass.

    Returns:
        Plain data: ``{"covered": int, "n_classes": K, "threshold": float,
        "histogram": [count per class], "fractions": [fraction per class]}``.
    """
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold is a fraction of samples in [0, 1], got {threshold}.")
    classifier = _default_for(x) if classifier is None else classifier
    logits = _run_classifier(x, classifier, "forward", batch_size)
    n_classes = logits.shape[1]
    counts = torch.bincount(logits.argmax(1), minlength=n_classes)
    fractions = counts.double() / max(int(counts.sum()), 1)
    covered = int(((fractions >= threshold) & (counts > 0)).sum())
    return {"covered": covered, "n_classes": int(n_classes), "threshold": float(threshold),
            "histogram": counts.tolist(), "fractions": fractions.tolist()}


# --------------------------------------------------------------------------- IWAE


def _log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``log N(z; mu, diag exp(logvar))`` summed over non-batch dims: ``(M, ...) -> (M,)``."""
    lp = -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) * torch.exp(-logvar))
    return lp.flatten(1).sum(1)


@torch.no_grad()
def iwae_bound(model: nn.Module, x: torch.Tensor, k: int = 64, batch_size: int | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Importance-weighted lower bound on :math:`\log p(x)`, per image, in nats.

    .. math::

        \mathcal L_k(x) = \log \frac1k \sum_{i=1}^k
            \frac{p_\theta(x \mid z_i)\, p(z_i)}{q_\phi(z_i \mid x)},
        \qquad z_i \sim q_\phi(z \mid x)\ \text{i.i.d.}

    evaluated with ``logsumexp`` so the tiny probabilities never underflow.
    :math:`\mathcal L_1` is the single-sample ELBO (in expectation), and
    :math:`\mathbb E\,\mathcal L_k` increases with k towards :math:`\log p(x)`
    (Burda et al., 2016). This returns the bound itself (typically negative);
    ``-iwae_bound`` is an upper bound on the negative log-likelihood.

    Likelihood: Bernoulli on the decoder logits. Prior :math:`\mathcal N(0, I)`.
    The model runs in eval mode without gradients (restored afterwards).

    Developed in course/02_vae (lab 02).

    Args:
        model: has ``encode(x) -> (mu, logvar)`` and ``decode(z) -> logits``
            (logits with as many elements per image as ``x``).
        x: data ``(B, ...)`` in ``[0, 1]`` (typically ``(B, C, H, W)``).
        k: number of importance samples per image.
        batch_size: decode about this many ``z`` at once (memory bound),
            in whole copies of the batch (at least ``B``); ``None`` decodes
            all ``k * B`` together.
        generator: optional ``torch.Generator`` for the samples.

    Returns:
        ``(B,)`` float tensor (x's dtype, on x's device).
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 2:
        raise ShapeError(f"x must be a floating tensor (B, ...) with values in [0, 1], got {describe(x)}.")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}.")
    for name in ("encode", "decode"):
        if not callable(getattr(model, name, None)):
            raise TypeError(f"model must have an {name}() method (a VAE); got {type(model).__name__}.")
    was_training = model.training
    model.eval()
    try:
        mu, logvar = model.encode(x)
        n = x.shape[0]
        # Samples per decode call, in whole copies of the batch.
        per_call = k if batch_size is None else max(1, batch_size // max(n, 1))
        log_w = []
        done = 0
        while done < k:
            m = min(per_call, k - done)
            # (m, B, D): m importance samples for every image.
            eps = torch.randn((m, *mu.shape), generator=generator, dtype=mu.dtype,
                              device=generator.device if generator is not None else mu.device).to(mu.device)
            z = mu + torch.exp(0.5 * logvar) * eps
            z_flat = z.reshape(m * n, *mu.shape[1:])
            logits = model.decode(z_flat).reshape(m * n, *x.shape[1:])
            x_rep = x.unsqueeze(0).expand(m, *x.shape).reshape(m * n, *x.shape[1:])
            log_px_z = -F.binary_cross_entropy_with_logits(logits, x_rep, reduction="none").flatten(1).sum(1)
            zeros = torch.zeros_like(z_flat)
            log_pz = _log_normal(z_flat, zeros, zeros)
            mu_rep = mu.unsqueeze(0).expand_as(z).reshape_as(z_flat)
            logvar_rep = logvar.unsqueeze(0).expand_as(z).reshape_as(z_flat)
            log_qz = _log_normal(z_flat, mu_rep, logvar_rep)
            log_w.append((log_px_z + log_pz - log_qz).reshape(m, n))
            done += m
    finally:
        model.train(was_training)
    log_w_all = torch.cat(log_w, dim=0)  # (k, B)
    return (torch.logsumexp(log_w_all, dim=0) - math.log(k)).to(x.dtype)
