"""genlab.toy: densities on a grid against closed forms, the 2-D mixture, mode coverage, a tiny toy GAN."""

import math

import pytest
import torch

from genlab import losses, toy
from genlab.errors import ShapeError


def test_normal_pdf_and_integrate_match_closed_forms():
    x = torch.linspace(-10, 10, 4001, dtype=torch.float64)
    p = toy.normal_pdf(x, 1.0, 0.5)
    assert float(p[2000]) == pytest.approx(math.exp(-2) / (0.5 * math.sqrt(2 * math.pi)))
    assert toy.integrate(p, x) == pytest.approx(1.0, abs=1e-9)
    m = toy.mixture_pdf(x, [-2.0, 2.0], [0.5, 1.0], [1, 3])
    assert toy.integrate(m, x) == pytest.approx(1.0, abs=1e-8)
    assert toy.integrate(x * m, x) == pytest.approx(0.25 * -2 + 0.75 * 2, abs=1e-8)


def test_kl_on_grid_matches_gaussian_closed_form():
    x = torch.linspace(-15, 15, 6001, dtype=torch.float64)
    p, q = toy.normal_pdf(x, 0.0, 1.0), toy.normal_pdf(x, 1.0, 2.0)
    # KL(N(m1, s1^2) || N(m2, s2^2)) = log(s2/s1) + (s1^2 + (m1-m2)^2) / (2 s2^2) - 1/2
    want = math.log(2.0) + (1 + 1) / 8 - 0.5
    assert toy.kl_on_grid(p, q, x) == pytest.approx(want, abs=1e-7)


def test_js_bounds_and_symmetry():
    x = torch.linspace(-10, 10, 2001, dtype=torch.float64)
    p, q = toy.normal_pdf(x, -1.0, 1.0), toy.normal_pdf(x, 2.0, 0.7)
    assert toy.js_on_grid(p, p, x) == pytest.approx(0.0, abs=1e-12)
    assert toy.js_on_grid(p, q, x) == pytest.approx(toy.js_on_grid(q, p, x), rel=1e-12)
    assert 0 < toy.js_on_grid(p, q, x) < math.log(2)
    # disjoint supports: JS = log 2
    a = torch.where(x < -1, 1.0, 0.0).double()
    b = torch.where(x > 1, 1.0, 0.0).double()
    a, b = a / toy.integrate(a, x), b / toy.integrate(b, x)
    assert toy.js_on_grid(a, b, x) == pytest.approx(math.log(2), rel=1e-3)


def test_value_at_optimal_discriminator_is_minus_log4_plus_2js():
    x = torch.linspace(-12, 12, 4001, dtype=torch.float64)
    p_data = toy.mixture_pdf(x, [-2.0, 2.0], [0.6, 0.6])
    p_g = toy.normal_pdf(x, 0.5, 1.5)
    d_star = losses.optimal_discriminator(p_data, p_g)
    v = toy.value_on_grid(d_star, p_data, p_g, x)
    assert v == pytest.approx(-math.log(4) + 2 * toy.js_on_grid(p_data, p_g, x), abs=1e-8)
    # any other discriminator does worse
    assert toy.value_on_grid(d_star * 0.9, p_data, p_g, x) < v
    assert toy.value_on_grid(torch.full_like(x, 0.5), p_data, p_g, x) == pytest.approx(-math.log(4), abs=1e-6)


def test_grid_shape_errors():
    with pytest.raises(ShapeError, match="grid"):
        toy.integrate(torch.ones(3), torch.ones(3, 1))
    with pytest.raises(ShapeError, match="shape"):
        toy.kl_on_grid(torch.ones(3), torch.ones(4), torch.arange(3.0))


def test_mixture_centres_sampling_and_log_prob():
    ring = toy.GaussianMixture2D.ring(8, 2.0, 0.05)
    assert torch.allclose(ring.centers.norm(dim=1), torch.full((8,), 2.0))
    grid = toy.GaussianMixture2D.grid(5, 1.0)
    assert grid.n_modes == 25 and torch.allclose(grid.centers.mean(0), torch.zeros(2), atol=1e-6)
    x = ring.sample(4000, generator=torch.Generator().manual_seed(0))
    cov = toy.mode_coverage(x, ring.centers, ring.std)
    assert cov["covered"] == 8 and cov["near_fraction"] > 0.98
    assert min(cov["counts"]) > 400
    # log_prob against a direct sum of Gaussians
    pts = torch.tensor([[2.0, 0.0], [0.3, -0.1]])
    direct = sum(torch.exp(-((pts - c) ** 2).sum(1) / (2 * 0.05**2)) / (2 * math.pi * 0.05**2)
                 for c in ring.centers) / 8
    assert torch.allclose(ring.log_prob(pts)[:1], direct.log()[:1], rtol=1e-5)
    with pytest.raises(ShapeError):
        toy.GaussianMixture2D(torch.zeros(3))


def test_mode_coverage_sees_collapse():
    ring = toy.GaussianMixture2D.ring(8)
    collapsed = ring.centers[3] + 0.01 * torch.randn(500, 2, generator=torch.Generator().manual_seed(1))
    cov = toy.mode_coverage(collapsed, ring.centers, ring.std)
    assert cov["covered"] == 1 and cov["counts"][3] == 500
    off = toy.mode_coverage(torch.zeros(10, 2), ring.centers, ring.std)
    assert off["covered"] == 0 and off["near_fraction"] == 0.0


def test_toy_networks_shapes():
    g, d = toy.ToyGenerator(z_dim=3, hidden=8, depth=1), toy.ToyDiscriminator(hidden=8, depth=1)
    assert g(torch.randn(5, 3)).shape == (5, 2)
    assert d(torch.randn(5, 2)).shape == (5,)
    with pytest.raises(ShapeError):
        d(torch.randn(5, 2, 1))


def test_train_toy_gan_is_reproducible_and_uses_given_losses():
    torch.set_num_threads(1)
    ring = toy.GaussianMixture2D.ring(4, 2.0, 0.1)
    kw = dict(steps=30, batch_size=32, hidden=16, depth=1, snapshots=3, n_show=50, seed=3)
    a = toy.train_toy_gan(ring, **kw)
    b = toy.train_toy_gan(ring, **kw)
    assert sorted(a.snapshots) == [0, 10, 20, 30]
    assert torch.equal(a.snapshots[30], b.snapshots[30])
    assert not torch.equal(a.snapshots[0], a.snapshots[30])
    assert len(a.history["covered"]) == 4
    calls = []

    def d_loss(r, f):
        calls.append("d")
        return losses.discriminator_loss(r, f)

    c = toy.train_toy_gan(ring, d_loss_fn=d_loss, **kw)
    assert calls.count("d") == 30 and torch.equal(c.snapshots[30], a.snapshots[30])
