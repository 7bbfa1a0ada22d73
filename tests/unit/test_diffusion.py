"""The tiny DDPM against closed forms: schedules, q(x_t|x_0), the posterior, and the sampler with an exact oracle."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.errors import ShapeError
from genlab.models import DDPM, DiffusionConfig, NoiseSchedule, TimeUNet, beta_schedule
from genlab.train import DiffusionTask


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


# -- schedules -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedules_are_valid_and_end_in_noise(kind):
    betas = beta_schedule(kind, 200)
    assert betas.shape == (200,) and betas.dtype == torch.float64
    assert ((betas > 0) & (betas < 1)).all()
    assert (betas[1:] >= betas[:-1] - 1e-12).all()          # noise grows along the chain
    alpha_bar_T = torch.prod(1 - betas).item()
    assert alpha_bar_T < 1e-3                                # x_T is (almost) pure noise


def test_linear_schedule_matches_ho_et_al_at_T_1000():
    betas = beta_schedule("linear", 1000)
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)


def test_cosine_alpha_bar_is_the_closed_form():
    T, s = 100, 0.008
    ab = torch.cumprod(1 - beta_schedule("cosine", T), 0)
    t = torch.arange(1, T + 1, dtype=torch.float64)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2 / math.cos(s / (1 + s) * math.pi / 2) ** 2
    # equal until the 0.999 clip bites at the very end
    torch.testing.assert_close(ab[:-2], f[:-2], rtol=1e-10, atol=1e-12)


def test_bad_schedule_arguments():
    with pytest.raises(ValueError, match="linear' or 'cosine"):
        beta_schedule("quadratic", 10)
    with pytest.raises(ValueError, match=">= 2"):
        beta_schedule("linear", 1)


# -- the forward process: closed form == iterating one step ------------------------------------

def test_closed_form_moments_equal_the_iterated_recursion_exactly():
    """Mean and variance of x_t given x_0 by recursion m <- sqrt(a) m, v <- a v + beta."""
    betas = beta_schedule("cosine", 50)
    sched = NoiseSchedule(betas)
    m, v = torch.tensor(0.7, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64)
    for i in range(50):
        m = (1 - betas[i]).sqrt() * m
        v = (1 - betas[i]) * v + betas[i]
        ab = sched.alpha_bar[i].double()
        assert m.item() == pytest.approx(ab.sqrt().item() * 0.7, rel=1e-5)
        assert v.item() == pytest.approx(1 - ab.item(), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_q_sample_matches_iterated_q_step_monte_carlo(kind):
    sched = NoiseSchedule(beta_schedule(kind, 40))
    g = torch.Generator().manual_seed(0)
    n = 20000
    x0 = torch.full((n, 1), 0.6)
    for t_stop in (4, 19, 39):
        x = x0.clone()
        for i in range(t_stop + 1):   # x_0 -> x_1 -> ... -> x_{t_stop+1} (0-based index t_stop)
            x = sched.q_step(x, torch.full((n,), i), torch.randn(x.shape, generator=g))
        direct = sched.q_sample(x0, torch.full((n,), t_stop), torch.randn(x0.shape, generator=g))
        ab = sched.alpha_bar[t_stop].item()
        mean, var = math.sqrt(ab) * 0.6, 1 - ab
        se_mean, se_var = math.sqrt(var / n), var * math.sqrt(2 / n)
        for sample in (x, direct):
            assert abs(sample.mean().item() - mean) < 5 * se_mean
            assert abs(sample.var().item() - var) < 5 * se_var + 1e-6


def test_posterior_mean_two_forms_agree_and_variance_is_bayes():
    """eps-form of the mean == x0-form; variance == 1/(1/beta_tilde) from the Gaussian product."""
    sched = NoiseSchedule(beta_schedule("linear", 30))
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(8, 1, 4, 4, generator=g), torch.randn(8, 1, 4, 4, generator=g)
    t = torch.arange(1, 9) * 3
    x_t = sched.q_sample(x0, t, eps)
    via_x0 = sched.posterior_mean(sched.predict_x0(x_t, t, eps), x_t, t)
    a, b, ab = (sched._at(tab, t, x_t) for tab in (sched.alphas, sched.betas, sched.alpha_bar))
    via_eps = (x_t - b / (1 - ab).sqrt() * eps) / a.sqrt()
    torch.testing.assert_close(via_x0, via_eps, rtol=1e-4, atol=1e-4)
    # q(x_{t-1}|x_t,x_0) ∝ N(x_t; sqrt(a) x_{t-1}, b) N(x_{t-1}; sqrt(ab_prev) x0, 1-ab_prev)
    ab_prev = sched.alpha_bar_prev.double()
    precision = sched.alphas.double() / sched.betas.double() + 1 / (1 - ab_prev)
    torch.testing.assert_close(sched.posterior_var.double()[1:], (1 / precision)[1:], rtol=1e-5, atol=1e-9)
    assert sched.posterior_var[0].item() == 0.0


def test_predict_x0_inverts_q_sample():
    sched = NoiseSchedule(beta_schedule("cosine", 20))
    x0, eps = torch.rand(5, 1, 4, 4) * 2 - 1, torch.randn(5, 1, 4, 4)
    t = torch.tensor([0, 4, 9, 14, 19])
    torch.testing.assert_close(sched.predict_x0(sched.q_sample(x0, t, eps), t, eps), x0, rtol=1e-3, atol=1e-3)


def test_bad_t_is_explained():
    sched = NoiseSchedule(beta_schedule("linear", 10))
    with pytest.raises(ShapeError, match="one per image"):
        sched.q_sample(torch.zeros(3, 1, 4, 4), torch.zeros(2, dtype=torch.long), torch.zeros(3, 1, 4, 4))
    with pytest.raises(ValueError, match=r"0\.\.9"):
        sched.q_sample(torch.zeros(2, 1, 4, 4), torch.tensor([0, 10]), torch.zeros(2, 1, 4, 4))


# -- the sampler, checked with the exact noise predictor of known data -------------------------

def _gaussian_oracle(sched: NoiseSchedule, mu0: float, s0: float):
    """E[eps | x_t] when every pixel of x_0 (model space) is N(mu0, s0^2)."""
    def net(x_t, t, y=None):
        ab = sched._at(sched.alpha_bar, t, x_t)
        return (1 - ab).sqrt() * (x_t - ab.sqrt() * mu0) / (ab * s0**2 + 1 - ab)
    return net


def test_sampler_with_exact_oracle_recovers_the_data_distribution():
    cfg = DiffusionConfig(image_size=4, timesteps=200, schedule="cosine")
    sched = NoiseSchedule(beta_schedule("cosine", 200))
    model = DDPM(cfg, net=_gaussian_oracle(sched, mu0=0.3, s0=0.2))
    x, snaps = model.p_sample_loop((4000, 1, 4, 4), generator=torch.Generator().manual_seed(0), clip=False, keep=5)
    assert x.mean().item() == pytest.approx(0.3, abs=0.01)
    assert x.std().item() == pytest.approx(0.2, abs=0.02)
    assert len(snaps) == 5 and snaps[0].std().item() > 0.8          # starts as noise


def test_sampler_returns_a_single_data_point_exactly():
    cfg = DiffusionConfig(image_size=4, timesteps=50, schedule="linear")
    sched = NoiseSchedule(beta_schedule("linear", 50))
    target = torch.linspace(-0.8, 0.8, 16).view(1, 1, 4, 4)

    def oracle(x_t, t, y=None):  # data = one point: eps is determined by x_t
        ab = sched._at(sched.alpha_bar, t, x_t)
        return (x_t - ab.sqrt() * target) / (1 - ab).sqrt()

    model = DDPM(cfg, net=oracle)
    x, _ = model.p_sample_loop((3, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(x, target.expand(3, -1, -1, -1), rtol=0, atol=1e-4)


# -- the network, the loss and training through genlab.train.fit -----------------------------

def test_time_unet_shapes_and_conditioning():
    torch.manual_seed(0)
    net = TimeUNet(DiffusionConfig(image_size=16, width=8, time_dim=16, n_classes=10))
    for p in net.out.parameters():  # undo the zero init so the output depends on the input
        torch.nn.init.normal_(p, std=0.1)
    x = torch.randn(4, 1, 16, 16)
    t = torch.tensor([0, 10, 100, 199])
    out = net(x, t, torch.tensor([1, 2, 3, 4]))
    assert out.shape == x.shape
    assert not torch.allclose(out, net(x, t, torch.tensor([5, 6, 7, 8])))        # labels matter
    assert not torch.allclose(out, net(x, t.flip(0), torch.tensor([1, 2, 3, 4])))  # time matters
    assert net(x, t).shape == x.shape                                          # y=None: "no label"
    with pytest.raises(ShapeError, match="divisible by 4"):
        TimeUNet(DiffusionConfig(image_size=18))


def test_loss_is_the_noise_mse_it_claims():
    torch.manual_seed(0)
    model = DDPM(DiffusionConfig(width=8, time_dim=16, timesteps=20))
    x = torch.rand(6, 1, 16, 16)
    loss = model.loss(x, generator=torch.Generator().manual_seed(3))
    x_t, t, noise, _ = model.noisy_batch(x, generator=torch.Generator().manual_seed(3))
    assert loss.item() == pytest.approx(((model(x_t, t) - noise) ** 2).mean().item(), rel=1e-6)
    assert loss.item() == pytest.approx(1.0, abs=0.15)  # zero-initialised output predicts 0 noise
    torch.testing.assert_close(x_t, model.schedule.q_sample(2 * x - 1, t, noise))


def test_sample_shapes_range_and_determinism():
    torch.manual_seed(0)
    model = DDPM(DiffusionConfig(width=8, time_dim=16, timesteps=10, n_classes=10))
    a = model.sample(5, y=torch.arange(5), generator=torch.Generator().manual_seed(0))
    b = model.sample(5, y=torch.arange(5), generator=torch.Generator().manual_seed(0))
    assert a.shape == (5, 1, 16, 16) and a.min() >= 0 and a.max() <= 1
    torch.testing.assert_close(a, b)
    assert model.training  # sample() restores the mode


def test_diffusion_task_trains_with_fit_and_resumes_exactly(tmp_path):
    from genlab.train import fit

    x = torch.rand(32, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    y = torch.arange(32) % 10

    def task():
        torch.manual_seed(0)
        return DiffusionTask(DDPM(DiffusionConfig(width=8, time_dim=16, timesteps=20, n_classes=10)), lr=2e-3)

    kw = dict(batch_size=16, device="cpu", progress=False)
    straight = task()
    h = fit(straight, (x, y), 2, **kw)
    assert len(h) == 2 and all(math.isfinite(v) for v in h["loss"])
    fit(task(), (x, y), 1, checkpoint_dir=tmp_path, **kw)
    resumed = task()
    fit(resumed, (x, y), 2, checkpoint_dir=tmp_path, resume=True, **kw)
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    h_amp = fit(task(), (x, y), 1, amp=True, **kw)  # bf16 autocast on the CPU
    assert math.isfinite(h_amp["loss"][0])
    assert straight.sample(4).shape == (4, 1, 16, 16)
