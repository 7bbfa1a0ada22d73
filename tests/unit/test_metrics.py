"""Tests of genlab.metrics against skimage, scipy, closed forms and quadrature."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.ndimage
import torch
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch import nn

import genlab.metrics as metrics
from genlab.errors import ShapeError
from genlab.losses import negative_elbo
from genlab.metrics import (
    class_coverage,
    classifier_features,
    classifier_frechet,
    frechet_distance,
    iwae_bound,
    masked_psnr,
    masked_ssim,
    psnr,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- PSNR


def test_psnr_matches_skimage():
    g = _gen(0)
    x = torch.rand(3, 1, 8, 8, generator=g, dtype=torch.float64)
    x_hat = (x + 0.1 * torch.randn(3, 1, 8, 8, generator=g, dtype=torch.float64)).clamp(0, 1)
    ref = [peak_signal_noise_ratio(x[i].numpy(), x_hat[i].numpy(), data_range=1.0) for i in range(3)]
    torch.testing.assert_close(psnr(x_hat, x), torch.tensor(ref, dtype=torch.float64))
    assert torch.isinf(psnr(x, x)).all()


def test_masked_psnr_matches_boolean_indexing_and_edge_cases():
    g = _gen(1)
    x = torch.rand(3, 3, 6, 6, generator=g)
    x_hat = torch.rand(3, 3, 6, 6, generator=g)
    mask = (torch.rand(3, 1, 6, 6, generator=g) < 0.5).float()
    mask[2] = 0  # empty hole in the last image
    got = masked_psnr(x_hat, x, mask)
    for i in range(2):
        sel = mask[i].expand_as(x[i]).bool()
        mse = ((x_hat[i] - x[i])[sel] ** 2).mean()
        torch.testing.assert_close(got[i], 10 * torch.log10(1 / mse))
    assert torch.isnan(got[2])
    # Errors outside the hole do not count; a perfect hole is +inf.
    outside = x + (1 - mask) * 0.5
    assert torch.isinf(masked_psnr(outside, x, mask)[:2]).all()


# --------------------------------------------------------------------------- SSIM


def _skimage_masked_ssim(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> list[float]:
    out = []
    for i in range(x.shape[0]):
        a, b = x_hat[i].permute(1, 2, 0).numpy(), x[i].permute(1, 2, 0).numpy()
        _, s = structural_similarity(b, a, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, full=True, channel_axis=-1)
        m = mask[i].permute(1, 2, 0).expand(*s.shape).numpy().astype(bool)
        out.append(float(s[m].mean()))
    return out


@pytest.mark.parametrize("channels", [1, 3])
def test_masked_ssim_matches_skimage_full_map(channels):
    g = _gen(2)
    x = torch.rand(2, channels, 16, 16, generator=g, dtype=torch.float64)
    # Smooth structure plus noise so SSIM is far from both 0 and 1.
    x = (0.5 * x + 0.5 * torch.linspace(0, 1, 16, dtype=torch.float64)).clamp(0, 1)
    x_hat = (x + 0.15 * torch.randn(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    mask = torch.zeros(2, 1, 16, 16, dtype=torch.float64)
    mask[0, :, 4:10, 3:12] = 1
    mask[1, :, 0:5, 10:16] = 1  # touches the border: padding must match
    got = masked_ssim(x_hat, x, mask)
    ref = torch.tensor(_skimage_masked_ssim(x_hat, x, mask), dtype=torch.float64)
    torch.testing.assert_close(got, ref, rtol=1e-9, atol=1e-9)
    assert 0.05 < float(got.min()) and float(got.max()) < 0.95


def test_masked_ssim_small_images_use_7x7_window():
    # skimage cannot make a 7-tap window with sigma 1.5, so build the reference
    # with scipy's Gaussian filter (radius 3 = truncate 2.0) and the SSIM formula.
    g = _gen(3)
    x = torch.rand(1, 1, 8, 8, generator=g, dtype=torch.float64)
    y = torch.rand(1, 1, 8, 8, generator=g, dtype=torch.float64)
    mask = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    mask[..., 2:6, 1:5] = 1

    def filt(a: np.ndarray) -> np.ndarray:
        return scipy.ndimage.gaussian_filter(a, sigma=1.5, truncate=2.0, mode="reflect")

    a, b = x[0, 0].numpy(), y[0, 0].numpy()
    ua, ub = filt(a), filt(b)
    va, vb, cab = filt(a * a) - ua**2, filt(b * b) - ub**2, filt(a * b) - ua * ub
    c1, c2 = 0.01**2, 0.03**2
    s = (2 * ua * ub + c1) * (2 * cab + c2) / ((ua**2 + ub**2 + c1) * (va + vb + c2))
    ref = s[mask[0, 0].numpy().astype(bool)].mean()
    assert abs(float(masked_ssim(y, x, mask)[0]) - ref) < 1e-10


def test_masked_ssim_identity_and_empty_hole():
    x = torch.rand(2, 1, 12, 12, generator=_gen(4))
    mask = torch.zeros(2, 1, 12, 12)
    mask[0, :, 3:7, 3:7] = 1
    got = masked_ssim(x, x, mask)
    assert abs(float(got[0]) - 1.0) < 1e-5
    assert torch.isnan(got[1])
    with pytest.raises(ShapeError, match="win_size"):
        masked_ssim(x[..., :5, :5], x[..., :5, :5], mask[..., :5, :5])


# --------------------------------------------------------------------------- Frechet


def test_frechet_identical_sets_is_zero():
    f = torch.randn(500, 6, generator=_gen(5))
    assert abs(frechet_distance(f, f)) < 1e-9
    assert abs(frechet_distance(f, f + 0.0)) < 1e-9


def test_frechet_closed_form_diagonal_gaussians():
    rng = np.random.default_rng(6)
    n = 200_000
    mean_a, mean_b = np.array([0.0, 1.0, -1.0]), np.array([0.5, 1.0, 0.0])
    var_a, var_b = np.array([1.0, 4.0, 0.25]), np.array([2.0, 1.0, 0.25])
    a = mean_a + np.sqrt(var_a) * rng.standard_normal((n, 3))
    b = mean_b + np.sqrt(var_b) * rng.standard_normal((n, 3))
    expected = ((mean_a - mean_b) ** 2).sum() + ((np.sqrt(var_a) - np.sqrt(var_b)) ** 2).sum()
    got = frechet_distance(torch.from_numpy(a), torch.from_numpy(b))
    assert abs(got - expected) < 0.03 * expected  # sampling error ~ 1/sqrt(n)


def test_frechet_matches_sqrtm_formula_full_covariance():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((400, 5)) @ rng.standard_normal((5, 5))
    b = rng.standard_normal((300, 5)) @ rng.standard_normal((5, 5)) + 0.3
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s_a @ s_b).real
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s_a + s_b - 2 * covmean)
    assert abs(frechet_distance(a, b) - ref) < 1e-8 * max(1.0, ref)
    assert abs(frechet_distance(a, b) - frechet_distance(b, a)) < 1e-8 * max(1.0, ref)


def test_frechet_validates():
    with pytest.raises(ShapeError, match="same feature size"):
        frechet_distance(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ShapeError, match="N >= 2"):
        frechet_distance(torch.zeros(1, 3), torch.zeros(4, 3))


# --------------------------------------------------------------------------- classifier metrics


class RandomProjectionClassifier(nn.Module):
    """Fixed random features; logits pick a class by mean brightness bucket."""

    def __init__(self, pixels: int = 16, dim: int = 5, n_classes: int = 4):
        super().__init__()
        self.proj = nn.Linear(pixels, dim)
        with torch.no_grad():
            self.proj.weight.copy_(torch.randn(dim, pixels, generator=_gen(42)))
            self.proj.bias.zero_()
        self.n_classes = n_classes
        self.drop = nn.Dropout(0.5)  # would break determinism if left in train mode

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.drop(self.proj(x.flatten(1))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centers = (torch.arange(self.n_classes, dtype=x.dtype) + 0.5) / self.n_classes
        return -100 * (x.flatten(1).mean(1, keepdim=True) - centers) ** 2


def test_classifier_features_batched_eval_mode():
    clf = RandomProjectionClassifier()
    clf.train()
    x = torch.rand(10, 1, 4, 4, generator=_gen(8))
    f = classifier_features(x, clf, batch_size=3)
    assert f.shape == (10, 5)
    torch.testing.assert_close(f, torch.tanh(clf.proj(x.flatten(1))))
    assert clf.training  # mode restored
    torch.testing.assert_close(classifier_features(x, clf, batch_size=256), f)


def test_classifier_frechet_zero_for_same_set_and_positive_for_shift():
    clf = RandomProjectionClassifier()
    x = torch.rand(200, 1, 4, 4, generator=_gen(9))
    assert abs(classifier_frechet(x, x, clf)) < 1e-9
    feats = classifier_features(x, clf)
    shifted = (x * 0.5).clamp(0, 1)
    assert classifier_frechet(x, shifted, clf) == pytest.approx(
        frechet_distance(feats, classifier_features(shifted, clf)))
    assert classifier_frechet(x, shifted, clf) > 0.01


def test_class_coverage_counts_classes():
    clf = RandomProjectionClassifier(n_classes=4)
    # Constant images of brightness in buckets 0, 0, 0, 1, 2 ... (class 3 missing).
    levels = [0.1] * 50 + [0.3] * 30 + [0.6] * 19 + [0.9] * 1
    x = torch.tensor(levels).view(-1, 1, 1, 1).expand(-1, 1, 4, 4).contiguous()
    out = class_coverage(x, clf, threshold=0.05)
    assert out["histogram"] == [50, 30, 19, 1]
    assert out["n_classes"] == 4 and out["covered"] == 3
    assert out["fractions"] == pytest.approx([0.5, 0.3, 0.19, 0.01])
    assert class_coverage(x, clf, threshold=0.0)["covered"] == 4
    with pytest.raises(ValueError):
        class_coverage(x, clf, threshold=2.0)


def test_default_classifier_is_loaded_lazily(monkeypatch):
    clf = RandomProjectionClassifier()
    monkeypatch.setattr(metrics, "_default_classifier", lambda: clf)
    x = torch.rand(6, 1, 4, 4, generator=_gen(10))
    torch.testing.assert_close(classifier_features(x), classifier_features(x, clf))


# --------------------------------------------------------------------------- IWAE


class TinyVAE(nn.Module):
    """Linear Gaussian encoder, linear Bernoulli decoder, 1-D latent (for quadrature)."""

    def __init__(self, pixels: int = 6):
        super().__init__()
        g = _gen(11)
        self.enc_mu = nn.Linear(pixels, 1).double()
        self.enc_logvar = nn.Linear(pixels, 1).double()
        self.dec = nn.Linear(1, pixels).double()
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
            self.enc_logvar.weight.mul_(0.3)
            self.enc_logvar.bias.fill_(-1.0)
            self.dec.weight.mul_(2.0)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = x.flatten(1)
        return self.enc_mu(h), self.enc_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec(z).view(-1, 1, 2, 3)


def _log_px_z(model: TinyVAE, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(x | z) for one image x (1, 1, 2, 3) and a grid z (G,) -> (G,)."""
    logits = model.decode(z[:, None])
    return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").flatten(1).sum(1)


def _quadrature(model: TinyVAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact (to quadrature precision) log p(x) and ELBO for each image."""
    z = torch.linspace(-12, 12, 24_001, dtype=torch.float64)
    dz = float(z[1] - z[0])
    log_prior = -0.5 * (z**2 + math.log(2 * math.pi))
    log_px, elbo = [], []
    with torch.no_grad():
        mu, logvar = model.encode(x)
        for i in range(x.shape[0]):
            lpz = _log_px_z(model, x[i:i + 1], z)
            log_px.append(torch.logsumexp(lpz + log_prior, 0) + math.log(dz))
            q = torch.exp(-0.5 * ((z - mu[i, 0]) ** 2 / logvar[i, 0].exp() + logvar[i, 0] + math.log(2 * math.pi)))
            rec = (q * lpz).sum() * dz  # E_q log p(x|z)
            kl = 0.5 * (logvar[i, 0].exp() + mu[i, 0] ** 2 - 1 - logvar[i, 0])
            elbo.append(rec - kl)
    return torch.stack(log_px), torch.stack(elbo)


@pytest.fixture(scope="module")
def tiny():
    model = TinyVAE()
    x = (torch.rand(3, 1, 2, 3, generator=_gen(12), dtype=torch.float64) < 0.5).double()
    log_px, elbo = _quadrature(model, x)
    return model, x, log_px, elbo


def _mean_bound(model, x, k, repeats, seed):
    """Mean and standard error of L_k over independent repeats: (B,), (B,)."""
    b = x.shape[0]
    vals = iwae_bound(model, x.repeat(repeats, 1, 1, 1), k=k, generator=_gen(seed)).view(repeats, b)
    return vals.mean(0), vals.std(0) / math.sqrt(repeats)


def test_iwae_k1_is_the_elbo_in_expectation(tiny):
    model, x, _, elbo = tiny
    mean, se = _mean_bound(model, x, k=1, repeats=20_000, seed=13)
    assert ((mean - elbo).abs() < 5 * se + 1e-9).all()
    # Same thing via negative_elbo with single-sample reconstructions.
    mu, logvar = model.encode(x.repeat(20_000, 1, 1, 1))
    z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=_gen(14), dtype=mu.dtype)
    neg = negative_elbo(x.repeat(20_000, 1, 1, 1), model.decode(z), mu, logvar).detach().view(20_000, -1)
    assert ((-neg.mean(0) - mean).abs() < 5 * (se + neg.std(0) / math.sqrt(20_000))).all()


def test_iwae_increases_with_k_towards_log_px(tiny):
    model, x, log_px, elbo = tiny
    assert (elbo < log_px - 0.05).all()  # q is not the posterior: there is a gap to close
    prev = None
    for k, seed in ((1, 20), (4, 21), (16, 22), (64, 23)):
        mean, se = _mean_bound(model, x, k=k, repeats=4000, seed=seed)
        assert (mean <= log_px + 5 * se).all()
        if prev is not None:
            assert (mean >= prev[0] - 5 * (se + prev[1])).all()
        prev = (mean, se)
    assert (log_px - prev[0] < 0.2 * (log_px - elbo)).all()  # most of the gap closed at k=64
    # Large k, decoded in chunks (batch_size): the mean bound reaches log p(x).
    big = iwae_bound(model, x.repeat(64, 1, 1, 1), k=2048, batch_size=8192, generator=_gen(24))
    big = big.view(64, -1)
    assert ((big.mean(0) - log_px).abs() < 0.05).all()
    assert (big.std(0) / 8 < 0.05).all()


def test_iwae_restores_mode_and_validates(tiny):
    model, x, _, _ = tiny
    model.train()
    out = iwae_bound(model, x, k=8, generator=_gen(25))
    assert out.shape == (3,) and model.training and not out.requires_grad
    with pytest.raises(ValueError, match="k must be"):
        iwae_bound(model, x, k=0)
    with pytest.raises(TypeError, match="encode"):
        iwae_bound(nn.Linear(2, 2), x)
