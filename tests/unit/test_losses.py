"""Tests of genlab.losses against trusted references (torch ops, closed forms, finite differences)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal
from torch.distributions import kl_divergence as torch_kl

from genlab.errors import RangeError, ShapeError
from genlab.losses import (
    discriminator_loss,
    elbo_loss,
    gan_value,
    generator_loss,
    kl_divergence,
    masked_l1,
    masked_mse,
    negative_elbo,
    optimal_discriminator,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- KL


def test_kl_matches_torch_distributions():
    g = _gen(0)
    mu = torch.randn(5, 7, generator=g, dtype=torch.float64)
    logvar = torch.randn(5, 7, generator=g, dtype=torch.float64)
    ref = torch_kl(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1)
    got = kl_divergence(mu, logvar)
    assert got.shape == (5,)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


def test_kl_sums_over_all_non_batch_dims():
    g = _gen(1)
    mu = torch.randn(3, 2, 4, 4, generator=g)
    logvar = torch.randn(3, 2, 4, 4, generator=g)
    torch.testing.assert_close(kl_divergence(mu, logvar), kl_divergence(mu.flatten(1), logvar.flatten(1)))


def test_kl_zero_at_prior():
    assert torch.equal(kl_divergence(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))


def test_kl_matches_monte_carlo():
    # KL = E_q[log q(z) - log p(z)], estimated with 200k samples; the tolerance
    # is 5 standard errors of that estimate.
    g = _gen(2)
    mu = torch.tensor([[0.7, -1.2, 0.1]], dtype=torch.float64)
    logvar = torch.tensor([[-0.5, 0.4, -1.5]], dtype=torch.float64)
    std = (0.5 * logvar).exp()
    z = mu + std * torch.randn(200_000, 3, generator=g, dtype=torch.float64)
    log_ratio = (Normal(mu, std).log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(1)
    mc, se = log_ratio.mean(), log_ratio.std() / math.sqrt(len(log_ratio))
    assert abs(float(kl_divergence(mu, logvar)[0] - mc)) < 5 * float(se)


def test_kl_gradcheck():
    g = _gen(3)
    mu = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(kl_divergence, (mu, logvar))


def test_kl_shape_mismatch_teaches():
    with pytest.raises(ShapeError, match="same shape"):
        kl_divergence(torch.zeros(2, 3), torch.zeros(2, 4))


# --------------------------------------------------------------------------- ELBO


def test_negative_elbo_bernoulli_matches_bce():
    g = _gen(4)
    x = torch.rand(4, 1, 5, 5, generator=g)  # continuous values in [0, 1] are allowed
    logits = 3 * torch.randn(4, 1, 5, 5, generator=g)
    mu, logvar = torch.randn(4, 2, generator=g), torch.randn(4, 2, generator=g)
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3))
    kl = torch_kl(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(negative_elbo(x, logits, mu, logvar), rec + kl)
    torch.testing.assert_close(negative_elbo(x, logits, mu, logvar, beta=0.25), rec + 0.25 * kl)
    torch.testing.assert_close(elbo_loss(x, logits, mu, logvar), (rec + kl).mean())
    assert elbo_loss(x, logits, mu, logvar).dim() == 0


def test_negative_elbo_gaussian_matches_normal_log_prob():
    g = _gen(5)
    x = torch.rand(3, 1, 4, 4, generator=g, dtype=torch.float64)
    logits = torch.randn(3, 1, 4, 4, generator=g, dtype=torch.float64)
    mu = torch.randn(3, 2, generator=g, dtype=torch.float64)
    logvar = torch.randn(3, 2, generator=g, dtype=torch.float64)
    for sigma in (1.0, 0.1):
        nll = -Normal(torch.sigmoid(logits), sigma).log_prob(x).sum((1, 2, 3))
        got = negative_elbo(x, logits, mu, logvar, likelihood="gaussian", sigma=sigma)
        torch.testing.assert_close(got, nll + kl_divergence(mu, logvar))


def test_negative_elbo_validates():
    x, mu = torch.rand(2, 4), torch.zeros(2, 3)
    with pytest.raises(ShapeError, match="view_as"):
        negative_elbo(x, torch.zeros(2, 5), mu, mu)
    with pytest.raises(RangeError):
        negative_elbo(x + 2, torch.zeros(2, 4), mu, mu)
    with pytest.raises(ValueError, match="likelihood"):
        negative_elbo(x, torch.zeros(2, 4), mu, mu, likelihood="poisson")


# --------------------------------------------------------------------------- GAN


def test_gan_losses_match_bce_with_targets():
    g = _gen(6)
    real, fake = 4 * torch.randn(16, generator=g), 4 * torch.randn(12, generator=g)
    ones, zeros = torch.ones_like(real), torch.zeros_like(fake)
    ref_d = (F.binary_cross_entropy_with_logits(real, ones)
             + F.binary_cross_entropy_with_logits(fake, zeros))
    torch.testing.assert_close(discriminator_loss(real, fake), ref_d)
    torch.testing.assert_close(generator_loss(fake), F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake)))
    # minimax form: E log(1 - D(G(z))) = -BCE(fake, target 0)
    torch.testing.assert_close(generator_loss(fake, non_saturating=False),
                               -F.binary_cross_entropy_with_logits(fake, zeros))
    torch.testing.assert_close(gan_value(real, fake), -ref_d)
    # Direct probability form on moderate logits.
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    torch.testing.assert_close(gan_value(real, fake), d_real.log().mean() + (1 - d_fake).log().mean(),
                               rtol=1e-4, atol=1e-4)


def test_gan_losses_stable_for_huge_logits():
    big = torch.tensor([200.0, -200.0])
    for v in (discriminator_loss(big, big), generator_loss(big), generator_loss(big, non_saturating=False)):
        assert torch.isfinite(v)


def test_generator_gradient_saturation_when_d_is_confident():
    # D confidently rejects the fakes: logits very negative.
    logits = torch.full((8,), -8.0, requires_grad=True)
    (g_ns,) = torch.autograd.grad(generator_loss(logits), logits)
    (g_mm,) = torch.autograd.grad(generator_loss(logits, non_saturating=False), logits)
    s = torch.sigmoid(torch.tensor(-8.0))
    # d/dl softplus(-l) / N = -(1 - sigmoid(l)) / N ; d/dl -softplus(l) / N = -sigmoid(l) / N
    torch.testing.assert_close(g_ns, torch.full((8,), float(-(1 - s) / 8)))
    torch.testing.assert_close(g_mm, torch.full((8,), float(-s / 8)))
    assert g_ns.abs().min() > 1000 * g_mm.abs().max()
    # Both push the logit up (descent direction is +l): same sign.
    assert (g_ns < 0).all() and (g_mm < 0).all()


def test_gan_logits_shape_teaches():
    with pytest.raises(ShapeError, match="view"):
        discriminator_loss(torch.zeros(4, 1), torch.zeros(4))


# --------------------------------------------------------------------------- optimal D


def _normal_pdf(x: torch.Tensor, m: float, s: float) -> torch.Tensor:
    return torch.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))


def _integrate(f: torch.Tensor, x: torch.Tensor) -> float:
    return float(torch.trapezoid(f, x))


def _value(d: torch.Tensor, p_data: torch.Tensor, p_g: torch.Tensor, x: torch.Tensor) -> float:
    # V(D, G) = int p_data log D + p_g log(1 - D); 0 * log 0 taken as 0.
    a = torch.where(p_data > 0, p_data * d.clamp_min(1e-300).log(), torch.zeros_like(d))
    b = torch.where(p_g > 0, p_g * (1 - d).clamp_min(1e-300).log(), torch.zeros_like(d))
    return _integrate(a + b, x)


def test_optimal_discriminator_maximises_value_and_gives_js():
    x = torch.linspace(-12, 12, 48_001, dtype=torch.float64)
    p_data, p_g = _normal_pdf(x, 0.0, 1.0), _normal_pdf(x, 1.5, 0.7)
    d_star = optimal_discriminator(p_data, p_g)
    v_star = _value(d_star, p_data, p_g, x)
    # Perturbations of D* (smooth and pointwise) only lower V.
    for eps in (0.05, -0.05, 0.01):
        for bump in (torch.sin(x), torch.ones_like(x), torch.exp(-x**2)):
            d = (d_star + eps * bump).clamp(1e-9, 1 - 1e-9)
            assert _value(d, p_data, p_g, x) < v_star
    # Also better than a grid of constant discriminators.
    for c in torch.linspace(0.05, 0.95, 19, dtype=torch.float64):
        assert _value(torch.full_like(x, float(c)), p_data, p_g, x) < v_star
    # V(D*, G) = -log 4 + 2 JS, JS computed independently from the mixture.
    m = 0.5 * (p_data + p_g)
    kl_pm = _integrate(p_data * (p_data / m).log(), x)
    kl_gm = _integrate(p_g * (p_g / m).log(), x)
    js = 0.5 * kl_pm + 0.5 * kl_gm
    assert 0 < js < math.log(2)
    assert abs(v_star - (-math.log(4) + 2 * js)) < 1e-6


def test_optimal_discriminator_identical_densities_and_zero_support():
    p = torch.tensor([0.0, 0.2, 1.0, 0.0])
    q = torch.tensor([0.0, 0.2, 0.0, 3.0])
    d = optimal_discriminator(p, q)
    torch.testing.assert_close(d, torch.tensor([0.5, 0.5, 1.0, 0.0]))
    p.requires_grad_(True)
    (grad,) = torch.autograd.grad(optimal_discriminator(p, q).sum(), p)
    assert torch.isfinite(grad).all() and grad[0] == 0
    with pytest.raises(RangeError):
        optimal_discriminator(torch.tensor([-1.0]), torch.tensor([1.0]))


# --------------------------------------------------------------------------- masked losses


def test_masked_mse_matches_boolean_indexing_one_channel_mask():
    g = _gen(7)
    x, x_hat = torch.rand(3, 3, 6, 6, generator=g), torch.rand(3, 3, 6, 6, generator=g)
    mask = (torch.rand(3, 1, 6, 6, generator=g) < 0.4).float()
    sel = mask.expand_as(x).bool()
    torch.testing.assert_close(masked_mse(x_hat, x, mask), ((x_hat - x)[sel] ** 2).mean())
    torch.testing.assert_close(masked_l1(x_hat, x, mask), (x_hat - x)[sel].abs().mean())


def test_masked_mse_full_channel_mask_and_full_mask_is_plain_mse():
    g = _gen(8)
    x, x_hat = torch.rand(2, 3, 5, 5, generator=g), torch.rand(2, 3, 5, 5, generator=g)
    mask = (torch.rand(2, 3, 5, 5, generator=g) < 0.5).float()
    torch.testing.assert_close(masked_mse(x_hat, x, mask), ((x_hat - x)[mask.bool()] ** 2).mean())
    torch.testing.assert_close(masked_mse(x_hat, x, torch.ones(2, 1, 5, 5)), F.mse_loss(x_hat, x))


def test_masked_losses_ignore_known_pixels_and_empty_mask_is_zero():
    g = _gen(9)
    x = torch.rand(2, 1, 4, 4, generator=g)
    mask = torch.zeros(2, 1, 4, 4)
    mask[:, :, 1:3, 1:3] = 1
    x_hat = x.clone().requires_grad_(True)
    bad = x_hat + 5 * (1 - mask)  # errors only on known pixels
    assert masked_mse(bad, x, mask).item() == 0.0
    empty = masked_mse(x_hat, x + 0.3, torch.zeros(2, 1, 4, 4))
    assert empty.item() == 0.0 and not torch.isnan(empty)
    (grad,) = torch.autograd.grad(empty, x_hat)
    assert torch.equal(grad, torch.zeros_like(grad))
    assert masked_l1(x_hat, x + 0.3, torch.zeros(2, 1, 4, 4)).item() == 0.0


def test_masked_mse_gradcheck():
    g = _gen(10)
    x = torch.rand(2, 2, 3, 3, generator=g, dtype=torch.float64)
    x_hat = torch.rand(2, 2, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    mask = (torch.rand(2, 1, 3, 3, generator=g) < 0.5).double()
    assert torch.autograd.gradcheck(lambda a: masked_mse(a, x, mask), (x_hat,))


def test_masked_mse_validates_mask():
    x = torch.rand(2, 1, 4, 4)
    with pytest.raises(ShapeError):
        masked_mse(x, x, torch.zeros(2, 1, 5, 5))
    with pytest.raises(RangeError):
        masked_mse(x, x, torch.full((2, 1, 4, 4), 0.5))
    with pytest.raises(ShapeError, match="must match"):
        masked_mse(x[:, :, :3], x, torch.zeros(2, 1, 4, 4))
