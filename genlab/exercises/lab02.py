"""Exercise entries of lab 02: the contract, cases, probes and mistakes of each graded item.

Grading spec of lab 02 (VAE): reparameterize, kl_divergence, elbo_loss.

The student check's probes:

Checks for lab 02 (VAE): ``reparameterize``, ``kl_divergence``, ``elbo_loss``.

``reparameterize`` is random, so it is checked by statistics (mean ``mu``,
standard deviation ``exp(logvar / 2)``, independent coordinates) and by its
gradients, which are exact for every correct implementation:
:math:`\\partial z / \\partial \\mu = 1`, :math:`\\partial z / \\partial \\log\\sigma^2
= (z - \\mu) / 2`. The losses are compared with ``genlab.losses``; when a value
is off, the check recognises the classic mistakes (wrong sign, batch sum,
missing factor, sigmoid before BCE-with-logits, ...) and names them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import losses
from .. import losses as _lib_losses
from ._core import (
    Call,
    Case,
    Item,
    Mistakes,
    build_lab,
    layout_cases,
    rand,
    randn,
)
from ._student import call, expect_tensor, fail
from .challenges import Challenge
from .scenarios import like_input, output_check


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.double(), b.double(), rtol=rtol, atol=atol))


def _preview(t: torch.Tensor, n: int = 4) -> str:
    flat = t.detach().double().flatten()[:n].tolist()
    return "[" + ", ".join(f"{v:.4g}" for v in flat) + (", ..." if t.numel() > n else "") + "]"


# --------------------------------------------------------------------------- reparameterize

def _diagnose_reparameterize(fn) -> str | None:
    """``z = mu + exp(logvar / 2) * eps``: right distribution, gradients to ``mu`` and ``logvar``."""
    name = "reparameterize"
    torch.manual_seed(0)
    n = 4000
    mu0 = torch.tensor([1.5, -2.0, 0.5])
    logvar0 = torch.tensor([1.2, -1.0, 0.6])  # away from 0, so std, variance and logvar all differ
    mu = mu0.expand(n, 3).clone().requires_grad_(True)
    logvar = logvar0.expand(n, 3).clone().requires_grad_(True)
    z = call(name, fn, mu, logvar)
    z = expect_tensor(name, z, (n, 3))
    if not torch.equal(mu.detach(), mu0.expand(n, 3)) or not torch.equal(logvar.detach(), logvar0.expand(n, 3)):
        fail(name, "mu and logvar left unchanged", "an input was modified in place", "do not use add_/mul_")
    if not z.requires_grad:
        fail(name, "z differentiable with respect to mu and logvar", "z carries no gradient",
             "sampling z directly from a normal distribution cuts the gradient; draw standard-normal eps "
             "shaped like mu and return mu + std * eps")
    zd = z.detach().double()
    if float(zd.std(0).max()) < 1e-6:
        fail(name, "a different z for every example (fresh noise per row)", "the same z in every row",
             "draw eps with the full shape of mu, one independent value per entry")
    std_want = (0.5 * logvar0.double()).exp()
    mean_err = (zd.mean(0) - mu0.double()).abs() / (std_want / math.sqrt(n))
    if (mean_err > 6).any():
        fail(name, f"sample mean of z equal to mu = {_preview(mu0)}", f"sample mean {_preview(zd.mean(0))}",
             "z = mu + std * eps with zero-mean, standard-normal noise eps shaped like mu")
    std = zd.std(0)
    # the grader's band (6 sigma of the sample variance), not a fixed tolerance on the std
    if ((zd.var(0) / std_want.pow(2) - 1).abs() > 6 * math.sqrt(2 / n)).any():
        candidates = {
            "std = exp(logvar), the variance, not the standard deviation: use exp(0.5 * logvar)":
                logvar0.double().exp(),
            "logvar used as the standard deviation: std = exp(0.5 * logvar)": logvar0.double().abs(),
        }
        hint = next((h for h, c in candidates.items() if ((std / c - 1).abs() < 0.1).all()),
                    "std = exp(0.5 * logvar) multiplies standard-normal noise eps")
        fail(name, f"standard deviation exp(logvar / 2) = {_preview(std_want)}", f"{_preview(std)}", hint)
    eps = (zd - mu0.double()) / std_want
    corr = torch.corrcoef(eps.T)
    if (corr - torch.eye(3, dtype=corr.dtype)).abs().max() > 0.1:
        fail(name, "independent noise for every coordinate", "correlated coordinates of z",
             "draw eps with the full shape of mu, one independent value per entry")
    z.sum().backward()
    if mu.grad is None or logvar.grad is None:
        fail(name, "gradients for both mu and logvar", "no gradient reached "
             f"{'mu' if mu.grad is None else 'logvar'}", "do not detach mu or logvar")
    if not torch.allclose(mu.grad, torch.ones_like(mu), atol=1e-5):
        fail(name, "dz/dmu = 1", f"dz/dmu = {_preview(mu.grad)}",
             "z = mu + std * eps is linear in mu; sampling z directly from a normal distribution gives "
             "zero gradients: draw standard-normal eps and build z from it")
    want = 0.5 * (z.detach() - mu.detach())  # d/dlogvar [exp(logvar/2) eps] = exp(logvar/2) eps / 2
    if not torch.allclose(logvar.grad, want, rtol=1e-3, atol=1e-4):
        fail(name, f"dz/dlogvar = (z - mu) / 2 = {_preview(want)}", f"{_preview(logvar.grad)}",
             "eps must not depend on mu or logvar (draw it standard normal), and std = exp(logvar / 2)")
    return None


# --------------------------------------------------------------------------- kl_divergence

def _kl_inputs(g: torch.Generator, b: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(b, d, generator=g) * 1.5, torch.randn(b, d, generator=g)


def _diagnose_kl_divergence(fn) -> str | None:
    """``KL(N(mu, diag exp(logvar)) || N(0, I))`` per example, ``(B,)``."""
    name = "kl_divergence"
    g = torch.Generator().manual_seed(0)
    for b, d in ((5, 4), (3, 2)):
        mu, logvar = _kl_inputs(g, b, d)
        out = call(name, fn, mu.clone(), logvar.clone())
        if not isinstance(out, torch.Tensor):
            fail(name, f"a tensor of shape ({b},)", type(out).__name__)
        want = losses.kl_divergence(mu, logvar)
        if out.dim() == 0 or tuple(out.shape) == (1,):
            kind = "summed" if _close(out.reshape(()), want.sum()) else (
                "averaged" if _close(out.reshape(()), want.mean()) else "reduced")
            fail(name, f"shape ({b},): one KL per example", f"shape {tuple(out.shape)}, a single number",
                 f"the KL is {kind} over the batch: sum only over the latent dimension (the second axis)")
        if tuple(out.shape) == (b, d):
            fail(name, f"shape ({b},): one KL per example", f"shape {(b, d)}, one value per latent unit",
                 "sum the per-unit terms over the latent dimension (the second axis)")
        out = expect_tensor(name, out, (b,))
        if _close(out, want):
            continue
        if (out < -1e-6).any():
            hint = ("the KL has the wrong sign: KL = 0.5 * sum(exp(logvar) + mu^2 - 1 - logvar) >= 0"
                    if _close(out, -want) else "a KL divergence is never negative: check the signs of each term")
            fail(name, f"{_preview(want)} (>= 0)", f"{_preview(out)}", hint)
        ratio = out.double() / want.double()
        if torch.allclose(ratio, torch.full_like(ratio, 1 / d), rtol=1e-3):
            hint = "you averaged over the latent dimension: sum over it instead"
        elif torch.allclose(ratio, torch.full_like(ratio, 2.0), rtol=1e-3):
            hint = "missing the factor 1/2 in front of the sum"
        elif _close(out, 0.5 * (logvar.pow(2) + mu.pow(2) - 1 - 2 * logvar.abs().log()).sum(1)):
            hint = "logvar was used as the standard deviation: sigma^2 = exp(logvar)"
        else:
            hint = "KL = 0.5 * sum_j (exp(logvar_j) + mu_j^2 - 1 - logvar_j), with sigma^2 = exp(logvar)"
        fail(name, f"{_preview(want)}", f"{_preview(out)}", hint)
    zero = call(name, fn, torch.zeros(2, 3), torch.zeros(2, 3))
    if not _close(expect_tensor(name, zero, (2,)), torch.zeros(2)):
        fail(name, "KL = 0 when q is the prior (mu = 0, logvar = 0)", f"{_preview(zero)}",
             "each term exp(0) + 0 - 1 - 0 is zero")
    return None


# --------------------------------------------------------------------------- elbo_loss

def _elbo_inputs(g: torch.Generator) -> tuple[torch.Tensor, ...]:
    b = 6
    x = torch.rand(b, 1, 4, 4, generator=g)
    x_logits = 2 * torch.randn(b, 1, 4, 4, generator=g)
    mu = torch.randn(b, 3, generator=g)
    logvar = 0.5 * torch.randn(b, 3, generator=g)
    return x, x_logits, mu, logvar


def _diagnose_elbo_loss(fn) -> str | None:
    """Mean over the batch of (BCE-with-logits summed over pixels + KL): a scalar, nats per image."""
    name = "elbo_loss"
    g = torch.Generator().manual_seed(0)
    x, x_logits, mu, logvar = _elbo_inputs(g)
    b, n_pixels = x.shape[0], x[0].numel()
    out = call(name, fn, x.clone(), x_logits.clone(), mu.clone(), logvar.clone())
    if not isinstance(out, torch.Tensor):
        fail(name, "a scalar tensor (0-D)", type(out).__name__, "return a tensor, not a Python number")
    want = losses.elbo_loss(x, x_logits, mu, logvar)
    recon = F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").flatten(1).sum(1)  # (B,)
    kl = losses.kl_divergence(mu, logvar)  # (B,)
    if tuple(out.shape) == (b,):
        fail(name, "a scalar (0-D tensor): the mean over the batch", f"shape {(b,)}, one value per image",
             "average the per-image negative ELBO over the batch")
    if out.dim() != 0:
        fail(name, "a scalar (0-D tensor)", f"shape {tuple(out.shape)}",
             "sum the BCE over the pixels of each image, add its KL, then average over the batch")
    if _close(out, want):
        if not math.isclose(float(call(name, fn, x, x_logits, torch.zeros_like(mu), torch.zeros_like(logvar))),
                            float(recon.mean()), rel_tol=1e-4):
            fail(name, "the loss to use mu and logvar through the KL", "a different value with mu = logvar = 0",
                 "do not use fixed or global tensors inside elbo_loss")
        return None
    sig_recon = F.binary_cross_entropy_with_logits(torch.sigmoid(x_logits), x, reduction="none").flatten(1).sum(1)
    mistakes = [
        ((recon + kl).sum(), "you summed over the batch: divide by the batch size (use .mean() over images)"),
        (-(recon + kl).mean(), "wrong sign: elbo_loss is the NEGATIVE ELBO, a positive number to minimise"),
        ((-recon + kl).mean(), "the reconstruction term has the wrong sign: BCE is already -log p(x|z)"),
        ((recon - kl).mean(), "the KL term has the wrong sign: the loss is reconstruction + KL"),
        ((sig_recon + kl).mean(), "sigmoid applied before binary_cross_entropy_with_logits: pass the raw "
                                  "logits, the function applies the sigmoid itself"),
        ((recon / n_pixels + kl).mean(), "the BCE is averaged over pixels: sum it over the pixels of each "
                                         "image (reduction='sum' per image, or .flatten(1).sum(1))"),
        (recon.mean() / n_pixels + kl.mean(), "the BCE is averaged over pixels: sum it over the pixels of each "
                                               "image (reduction='sum' per image, or .flatten(1).sum(1))"),
        (recon.mean(), "the KL term is missing: add kl_divergence(mu, logvar)"),
        (kl.mean(), "the reconstruction term is missing: add the BCE between x_logits and x"),
    ]
    hint = next((h for value, h in mistakes if _close(out.reshape(()), value.reshape(()), rtol=1e-3)),
                "per image: BCE-with-logits summed over pixels + KL to N(0, I); then the mean over the batch")
    fail(name, f"{float(want):.4f} nats per image", f"{float(out):.4f}", hint)


# --------------------------------------------------------------------------- named mistakes
# Wrong implementations students write. Each maps to the pattern (a regular expression
# searched in the message) its student check must fail with; the grader must give it less
# than full marks (tests/unit/test_mistakes.py). Helpers are prefixed _m*_ by origin.

def _mc_kl_ok(mu, logvar):
    return 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(1)


def _mc_recon(x, x_logits):
    return F.binary_cross_entropy_with_logits(x_logits, x, reduction='none').flatten(1).sum(1)


def _mc_elbo_ok(x, x_logits, mu, logvar):
    return (_mc_recon(x, x_logits) + _mc_kl_ok(mu, logvar)).mean()


_ms_kl_divergence = _lib_losses.kl_divergence  # the library reference


_ms_elbo_loss = _lib_losses.elbo_loss  # the library reference


def _mc_reparam_ok(mu, lv):
    return mu + (0.5 * lv).exp() * torch.randn_like(mu)


_MISTAKES: dict[str, Mistakes] = {
    'iwae_bound': {
        "check: K = 1 (mean of logs)": (lambda lw: lw.mean(1) - math.log(lw.shape[1]), "K = 1"),
        "check: grows with K (mean of log-weights)": (lambda lw: lw.mean(1), "grows with K"),
        "check: finite (naive exp)": (lambda lw: lw.exp().mean(1).log(), "finite"),
        "check: sum not mean (log K missing)": (lambda lw: torch.logsumexp(lw, 1), "grows"),
        "check: over the batch (dim 0)": (lambda lw: torch.logsumexp(lw, 0) - math.log(lw.shape[0]), "shape"),
        "check: graph cut": (lambda lw: torch.tensor((torch.logsumexp(lw, 1) - math.log(lw.shape[1])).tolist(),
                                                     dtype=lw.dtype), "not connected"),
        "check: float32 (dtype)": (lambda lw: (torch.logsumexp(lw, 1) - math.log(lw.shape[1])).float(), "dtype"),
    },
    'reparameterize': {
        "meta: eps drawn on the CPU (device)": (lambda mu, lv: mu + (0.5 * lv).exp() * torch.randn(mu.shape, dtype=mu.dtype), "device"),
        "check: dtype (eps in the default dtype)": (lambda mu, lv: mu + (0.5 * lv).exp() * torch.randn(mu.shape), "dtype"),
        "check: clamped logvar (extreme)": (lambda mu, lv: mu + (0.5 * lv.clamp(-10, 10)).exp() * torch.randn_like(mu), "extreme"),
        "check: epsilon under the root (extreme)": (lambda mu, lv: mu + (lv.exp() + 1e-8).sqrt() * torch.randn_like(mu), "extreme"),
        "check: same eps after a reseed (randomness)": (lambda mu, lv: mu + (0.5 * lv).exp() * torch.randn(mu.shape, generator=torch.Generator().manual_seed(0)).to(mu), "same z|fresh"),
        "check: logvar used as the standard deviation": (lambda mu, lv: mu + lv * torch.randn_like(mu), "logvar used as the standard deviation"),
        "check: the variance, not the standard deviation": (lambda mu, lv: mu + lv.exp() * torch.randn_like(mu), "the variance, not the standard deviation"),
        "check: carries no gradient|torch.normal": (lambda mu, lv: torch.normal(mu, (0.5 * lv).exp()), "carries no gradient|sampling z directly"),
        "check: carries no gradient": (lambda mu, lv: torch.distributions.Normal(mu, (0.5 * lv).exp()).sample(), "carries no gradient"),
        "check: no gradient reached mu": (lambda mu, lv: mu.detach() + (0.5 * lv).exp() * torch.randn_like(mu), "no gradient reached mu"),
        "check: sample mean": (lambda mu, lv: mu + (0.5 * lv).exp() * torch.rand_like(mu), "sample mean"),
        "check: independent noise": (lambda mu, lv: mu + (0.5 * lv).exp() * torch.randn(mu.shape[0], 1), "independent noise"),
        "check: the same z in every row": (lambda mu, lv: mu + (0.5 * lv).exp() * torch.randn(1, mu.shape[1]), "the same z in every row"),
        "check: dz/dmu": (lambda mu, lv: mu + (0.5 * lv).exp() * (mu - mu.detach() + torch.randn_like(mu)), "dz/dmu"),
        "check: same z in every row": (lambda mu, lv: mu, "same z in every row"),
        "std taken as logvar": (lambda mu, lv: mu + lv * torch.randn_like(mu), None),
        "variance used as std": (lambda mu, lv: mu + lv.exp() * torch.randn_like(mu), None),
        "no noise": (lambda mu, lv: mu + 0 * lv, None),
        "eps not standard": (lambda mu, lv: mu + torch.exp(0.5 * lv) * torch.rand_like(mu), None),
    },
    'kl_divergence': {
        "check: wrong sign": (lambda mu, lv: -_mc_kl_ok(mu, lv), "wrong sign"),
        "check: summed over the batch": (lambda mu, lv: _mc_kl_ok(mu, lv).sum(), "summed over the batch"),
        "check: averaged over the batch": (lambda mu, lv: _mc_kl_ok(mu, lv).mean(), "averaged over the batch"),
        "check: shape \\(5, 4\\), one value per latent unit": (lambda mu, lv: 0.5 * (lv.exp() + mu.pow(2) - 1 - lv), "shape \\(5, 4\\), one value per latent unit"),
        "check: averaged over the latent dimension": (lambda mu, lv: 0.5 * (lv.exp() + mu.pow(2) - 1 - lv).mean(1), "averaged over the latent dimension"),
        "check: factor 1/2": (lambda mu, lv: (lv.exp() + mu.pow(2) - 1 - lv).sum(1), "factor 1/2"),
        "check: logvar was used as the standard": (lambda mu, lv: 0.5 * (lv.pow(2) + mu.pow(2) - 1 - lv.pow(2).log()).sum(1), "logvar was used as the standard"),
        "check: expected": (lambda mu, lv: 0.5 * (lv.exp() + mu - 1 - lv).sum(1), "expected"),
        "check: epsilon in the log (extreme)": (lambda mu, lv: 0.5 * (lv.exp() + mu.pow(2) - 1 - torch.log(lv.exp() + 1e-8)).sum(1), "extreme"),
        "check: clamped logvar (extreme)": (lambda mu, lv: _mc_kl_ok(mu, lv.clamp(-10, 10)), "extreme"),
        "check: mu squared in place (side effects)": (lambda mu, lv: 0.5 * (lv.exp() + mu.pow_(2) - 1 - lv).sum(1), "in place"),
        "check: squeeze (batch of one)": (lambda mu, lv: _mc_kl_ok(mu, lv).squeeze(), "shape \\(\\)"),
        "check: graph cut (tolist)": (lambda mu, lv: torch.tensor(_mc_kl_ok(mu, lv).tolist()), "not connected"),
        "wrong sign": (lambda mu, lv: 0.5 * torch.sum(1 + lv - mu ** 2 - lv.exp(), dim=1), None),
        "summed over the batch": (lambda mu, lv: _ms_kl_divergence(mu, lv).sum(), None),
        "std taken as logvar": (lambda mu, lv: 0.5 * torch.sum(lv ** 2 + mu ** 2 - 1 - torch.log(lv ** 2), dim=1), None),
        "mean over latent units": (lambda mu, lv: _ms_kl_divergence(mu, lv) / mu.shape[1], None),
    },
    'elbo_loss': {
        "check: summed over the batch": (lambda x, l, mu, lv: (_mc_recon(x, l) + _mc_kl_ok(mu, lv)).sum(), "summed over the batch"),
        "check: wrong sign: elbo_loss is the NEGATIVE": (lambda x, l, mu, lv: -_mc_elbo_ok(x, l, mu, lv), "wrong sign: elbo_loss is the NEGATIVE"),
        "check: KL term has the wrong sign": (lambda x, l, mu, lv: (_mc_recon(x, l) - _mc_kl_ok(mu, lv)).mean(), "KL term has the wrong sign"),
        "check: sigmoid applied before": (lambda x, l, mu, lv: (_mc_recon(x, torch.sigmoid(l)) + _mc_kl_ok(mu, lv)).mean(), "sigmoid applied before"),
        "check: averaged over pixels": (lambda x, l, mu, lv: F.binary_cross_entropy_with_logits(l, x) + _mc_kl_ok(mu, lv).mean(), "averaged over pixels"),
        "check: shape \\(6,\\), one value per image": (lambda x, l, mu, lv: _mc_recon(x, l) + _mc_kl_ok(mu, lv), "shape \\(6,\\), one value per image"),
        "check: KL term is missing": (lambda x, l, mu, lv: _mc_recon(x, l).mean(), "KL term is missing"),
        "check: scalar tensor": (lambda x, l, mu, lv: _mc_elbo_ok(x, l, mu, lv).item(), "scalar tensor"),
        "check: sigmoid then probability BCE (extreme)": (lambda x, l, mu, lv: (F.binary_cross_entropy(torch.sigmoid(l), x, reduction='none').flatten(1).sum(1) + _mc_kl_ok(mu, lv)).mean(), "extreme"),
        "check: log with an epsilon (extreme)": (lambda x, l, mu, lv: (-(x * torch.log(torch.sigmoid(l) + 1e-7) + (1 - x) * torch.log(1 - torch.sigmoid(l) + 1e-7)).flatten(1).sum(1) + _mc_kl_ok(mu, lv)).mean(), "extreme"),
        "check: sums H and W only (C = 3)": (lambda x, l, mu, lv: (F.binary_cross_entropy_with_logits(l, x, reduction='none').sum((2, 3)) + _mc_kl_ok(mu, lv)[:, None]).mean(), "shape"),
        "check: reconstruction detached (gradients)": (lambda x, l, mu, lv: _mc_elbo_ok(x, l.detach(), mu, lv), "no gradient reached argument 1"),
        "mean over pixels": (lambda x, l, mu, lv: F.binary_cross_entropy_with_logits(l, x) + _ms_kl_divergence(mu, lv).mean(), None),
        "summed over the batch": (lambda x, l, mu, lv: _ms_elbo_loss(x, l, mu, lv) * x.shape[0], None),
        "KL subtracted": (lambda x, l, mu, lv: _ms_elbo_loss(x, l, mu, lv) - 2 * _ms_kl_divergence(mu, lv).mean(), None),
        "sigmoid before BCE-with-logits": (lambda x, l, mu, lv: _ms_elbo_loss(x, torch.sigmoid(l), mu, lv), None),
    },
}


# --------------------------------------------------------------------------- the entry (grading contract)


# --------------------------------------------------------------------------- reparameterize
# Graded by statistics, not by one RNG call order: many samples of one Gaussian
# per column (mean and variance within a 6-sigma band), and by its gradients,
# which are exact for every correct implementation: dz/dmu = 1 and
# dz/dlogvar = sigma * eps / 2 = (z - mu) / 2.
N_SAMPLES = 4000


def _reparam_case(g: torch.Generator, d: int) -> Call:
    mu0 = randn(g, 1, d, scale=2.0)
    sign = torch.where(torch.rand(1, d, generator=g) < 0.5, -1.0, 1.0)
    logvar0 = sign * rand(g, 1, d, low=0.5, high=1.5)  # away from 0: std-vs-var mix-ups show
    return Call([mu0.expand(N_SAMPLES, d).clone(), logvar0.expand(N_SAMPLES, d).clone()])


@output_check
def _check_reparameterize(call: Call, z: torch.Tensor, out: dict) -> str | None:
    mu, logvar = call.args
    if why := like_input(z, mu, "mu", "draw eps like mu", subject="z has "):
        return why
    z = z.double()
    if not torch.isfinite(z).all():
        return "NaN or inf in z"
    n = z.shape[0]
    var = logvar[0].double().exp()
    mean_err = (z.mean(0) - mu[0].double()).abs() / (var.sqrt() / math.sqrt(n))
    if (mean_err > 6).any():
        return (f"the sample mean of z is not mu: got {z.mean(0)[:3].tolist()}, expected "
                f"{mu[0, :3].tolist()} (within sampling error)")
    ratio = z.var(0) / var
    if ((ratio - 1).abs() > 6 * math.sqrt(2 / n)).any():
        return (f"the sample variance of z is not exp(logvar): got {z.var(0)[:3].tolist()}, expected "
                f"{var[:3].tolist()}")
    eps = (z - mu.double()) / var.sqrt()
    if eps.shape[1] > 1 and (torch.corrcoef(eps.T) - torch.eye(eps.shape[1], dtype=eps.dtype)).abs().max() > 6 / math.sqrt(n):
        return "the coordinates of z are correlated: draw independent noise for every entry (the full shape of mu)"
    z1 = out.get("out#1")
    if z1 is not None and torch.equal(z1.double(), z):
        return "two calls with different seeds gave the same z: eps must be drawn fresh each call"
    gmu, glv = out.get("grad.0"), out.get("grad.1")
    if gmu is None or glv is None:
        return "gradients did not reach mu and logvar"
    if not torch.allclose(gmu.double(), torch.ones_like(gmu, dtype=torch.float64), atol=1e-4):
        return "dz/dmu is not 1: z must be mu + sigma * eps with eps independent of mu"
    tol = 2e-2 if mu.dtype == torch.float16 else 1e-3  # float16 z is rounded to about 3 digits
    if not torch.allclose(glv.double(), 0.5 * (z - mu.double()), atol=tol, rtol=tol):
        return "dz/dlogvar is not sigma * eps / 2: take sigma = exp(logvar / 2) and keep eps out of the graph"
    return None


def _reparam_extreme(g: torch.Generator) -> Call:
    """logvar of -20 and +20 (std 4.5e-5 and 2.2e4): no epsilon, no clamp may change them."""
    d = 4
    sign = torch.where(torch.rand(1, d, generator=g) < 0.5, -1.0, 1.0)
    sign[0, :2] = torch.tensor([-1.0, 1.0])  # both ends in every draw
    logvar0 = 20.0 * sign
    mu0 = torch.full((1, d), 0.5)
    return Call([mu0.expand(N_SAMPLES, d).clone(), logvar0.expand(N_SAMPLES, d).clone()])


def _as(make, dtype: torch.dtype):
    """A case maker whose tensors come in ``dtype``."""
    def wrapped(g: torch.Generator) -> Call:
        c = make(g)
        return Call([a.to(dtype) if isinstance(a, torch.Tensor) else a for a in c.args], dict(c.kwargs))
    return wrapped


def _kl_call(scale: float, b: int, d: int):
    return lambda g: Call([randn(g, b, d, scale=scale), randn(g, b, d, scale=scale)])


def _kl_extreme(g: torch.Generator) -> Call:
    """logvar of +-20 next to ordinary values, mu up to a few units."""
    b, d = 4, 3
    logvar = randn(g, b, d)
    # in different rows: the +20 row's KL (about 2.4e8) would hide an error in the -20 term
    logvar[0:2, 0] = -20.0
    logvar[2:4, 1] = 20.0
    return Call([randn(g, b, d, scale=2.0), logvar])


def _elbo_extreme(g: torch.Generator) -> Call:
    """Logits of +-30 and +-120 on binary pixels: confident right and confident wrong, both targets."""
    b = 3
    base = torch.tensor([30.0, -30.0, 120.0, -120.0]).repeat(4)  # 16 pixels
    x = torch.tensor([1.0] * 4 + [0.0] * 4 + [1.0] * 4 + [0.0] * 4)
    perm = torch.stack([torch.randperm(16, generator=g) for _ in range(b)])
    logits = base[perm].reshape(b, 1, 4, 4)
    return Call([x[perm].reshape(b, 1, 4, 4), logits, randn(g, b, 2), randn(g, b, 2, scale=0.5)])


def _elbo_call(b: int, size: int, d: int, binary: bool, c: int = 1, width: int | None = None):
    def make(g: torch.Generator) -> Call:
        shape = (b, c, size, width or size)
        x = rand(g, *shape)
        if binary:
            x = (x > 0.5).float()
        return Call([x, randn(g, *shape, scale=2.0), randn(g, b, d), randn(g, b, d, scale=0.5)])
    return make


def _same_dtype(call: Call, out: dict) -> str | None:
    """The output in the dtype of the first input (float64 in, float64 out)."""
    y, x = out.get("out"), call.args[0]
    if y is not None and isinstance(x, torch.Tensor) and y.dtype != x.dtype:
        return f"dtype {y.dtype}, expected the input's dtype {x.dtype}"
    return None


# --------------------------------------------------------------------------- iwae_bound (stretch)

def _ref_iwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """The lab-only reference: ``log (1/K) sum_k exp(log_w[:, k])``, computed stably, ``(B, K) -> (B,)``."""
    return torch.logsumexp(log_w, dim=1) - math.log(log_w.shape[1])


def _iwae_call(b: int, k: int, scale: float = 3.0, shift: float = -100.0):
    return lambda g: Call([randn(g, b, k, scale=scale) + shift])


def _iwae_very_negative(g: torch.Generator) -> Call:
    """log-weights near -1000 (exp underflows to 0 in any float type) and near +100 (exp(100) is
    inf in float32): only a max-shifted log-sum-exp gets both right."""
    lo = randn(g, 3, 8, scale=2.0) - 1000.0
    hi = randn(g, 2, 8, scale=2.0) + 100.0
    return Call([torch.cat([lo, hi])])


def _diagnose_iwae_bound(fn) -> str | None:
    """``iwae_bound(log_w)``: ``(B, K) -> (B,)``; K = 1 gives the ELBO; grows with K; stable."""
    name = "iwae_bound"
    g = torch.Generator().manual_seed(0)
    log_w = torch.randn(4, 1, generator=g) - 90.0
    out = expect_tensor(name, call(name, fn, log_w.clone()), (4,))
    if not _close(out, log_w[:, 0]):
        fail(name, f"with K = 1 the ELBO itself, {_preview(log_w[:, 0])}", _preview(out),
             "with a single sample the average of one weight is that weight", level=2)
    log_w = torch.randn(2000, 64, generator=g) - 200.0  # many rows: the growth holds on average
    bounds = [call(name, fn, log_w[:, :k].clone()) for k in (1, 4, 16, 64)]
    for b in bounds:
        expect_tensor(name, b, (2000,))
    means = torch.stack([b.double().mean() for b in bounds])
    # log of the average of all weights: what the bound approaches from below as K grows
    ceiling = float(torch.logsumexp(log_w.double().flatten(), 0) - math.log(log_w.numel()))
    if not (bool((means[1:] >= means[:-1] - 1e-4).all()) and float(means[-1] - means[0]) > 0.25
            and float(means[-1]) <= ceiling + 0.05):
        fail(name, "an average bound that grows with K (K = 1, 4, 16, 64) and stays below "
             f"log p(x) = {ceiling:.2f}", _preview(means),
             "divide the sum of the weights by K inside the log (subtract log K), do not take a mean of logs",
             level=2)
    huge = call(name, fn, torch.full((2, 8), -1000.0))
    if isinstance(huge, torch.Tensor) and not torch.isfinite(huge).all():
        fail(name, "-1000 for log-weights that are all -1000 (finite)", _preview(huge),
             "exp(-1000) is 0 in floating point: shift by the largest log-weight before exponentiating",
             level=2)
    return None


# --------------------------------------------------------------------------- challenge
# The lab's challenge (gradebook column c_...): genlab.exercises.challenges measures the saved model.
CHALLENGE = Challenge(
    lab="02", cid="c_elbo", title="a VAE with a low negative ELBO on held-back test digits",
    models=("conv_vae", "vae", "mlp_vae"), metric="neg_elbo", unit="nats per image", thresholds=(120.0, 110.0, 105.0),
    max_params=1_000_000)


# --------------------------------------------------------------------------- the entries
LAB = build_lab("02_vae", "Variational autoencoders", mistakes=_MISTAKES, namespace=globals(), items=[
        Item(
            name="reparameterize", points=3,
            reference="genlab.models.vae.reparameterize",
            also_forbidden=("genlab.models.vae.standard_normal",),
            compare="custom", check=_check_reparameterize,
            cases=[
                Case("public-1", lambda g: _reparam_case(g, 3), public=True,
                     options={"grad": [0, 1], "seed": 1234, "repeat": 2}, tags=("value", "gradients", "randomness")),
                *layout_cases(lambda g: _reparam_case(g, 3), noncontig=False),
                Case("public-extreme", _reparam_extreme, options={"grad": [0, 1], "seed": 7},
                     tags=("extreme", "gradients")),
                Case("public-float16", _as(lambda g: _reparam_case(g, 3), torch.float16), options={"seed": 5, "grad": [0, 1]},
                     tags=("device-dtype",)),
                Case("held-1", lambda g: _reparam_case(g, 5), public=False,
                     options={"grad": [0, 1], "seed": 99, "repeat": 2}, tags=("value", "gradients", "randomness")),
                Case("held-extreme", _reparam_extreme, public=False, options={"grad": [0, 1], "seed": 31},
                     tags=("extreme", "gradients")),
                Case("held-float64", _as(lambda g: _reparam_case(g, 4), torch.float64), public=False,
                     options={"grad": [0, 1], "seed": 41, "repeat": 2}, tags=("device-dtype", "randomness")),
                Case("held-float16", _as(lambda g: _reparam_case(g, 2), torch.float16), public=False,
                     options={"seed": 43, "grad": [0, 1]}, tags=("device-dtype",)),
            ],
            expected="z = mu + exp(logvar / 2) * eps with eps ~ N(0, I) drawn fresh, shaped like mu; "
                     "gradients flow to mu and logvar.",
            hint="the standard deviation is exp(logvar / 2), not logvar or exp(logvar); draw eps "
                 "fresh, standard normal, shaped like mu and on its device, in its dtype.",
        ),
        Item(
            name="kl_divergence", points=3,
            reference="genlab.losses.kl_divergence",
            check=lambda call, out, ref: _same_dtype(call, out),
            cases=[
                Case("public-1", _kl_call(1.0, 4, 3), tags=("value", "side-effects")),
                *layout_cases(_kl_call(1.0, 4, 3)),
                Case("public-batch1", _kl_call(1.0, 1, 5), tags=("shape",)),
                Case("public-extreme", _kl_extreme, tags=("extreme",)),
                Case("public-grad", _kl_call(1.0, 3, 4), options={"grad": [0, 1]}, tags=("gradients",)),
                Case("held-1", _kl_call(2.0, 16, 8), public=False),
                Case("held-2", _kl_call(0.3, 1, 20), public=False, tags=("value", "shape")),
                Case("held-extreme", _kl_extreme, public=False, options={"grad": [0, 1]},
                     tags=("extreme", "gradients")),
                Case("held-float64", _as(_kl_call(1.5, 5, 3), torch.float64), public=False, tags=("device-dtype",)),
            ],
            expected="KL(N(mu, exp(logvar)) || N(0, I)) per example: "
                     "0.5 * sum_j (exp(logvar) + mu^2 - 1 - logvar), shape (B,).",
            hint="sum over the latent dimension only (the second axis), keep the batch; check the sign of each term.",
        ),
        Item(
            name="elbo_loss", points=4,
            reference="genlab.losses.elbo_loss",
            also_forbidden=("genlab.losses.negative_elbo",),
            check=lambda call, out, ref: _same_dtype(call, out),
            cases=[
                Case("public-1", _elbo_call(4, 4, 2, binary=True)),
                *layout_cases(_elbo_call(4, 4, 2, binary=True)),
                Case("public-extreme", _elbo_extreme, tags=("extreme",)),
                Case("public-rgb", _elbo_call(2, 5, 3, binary=False, c=3, width=7), tags=("shape",)),
                Case("public-grad", _elbo_call(3, 4, 2, binary=True), options={"grad": [1, 2, 3]},
                     tags=("gradients",)),
                Case("held-1", _elbo_call(8, 6, 3, binary=False), public=False),
                Case("held-2", _elbo_call(2, 5, 4, binary=True), public=False),
                Case("held-extreme", _elbo_extreme, public=False, options={"grad": [1]}, tags=("extreme", "gradients")),
                Case("held-rgb-batch1", _elbo_call(1, 6, 2, binary=False, c=3, width=4), public=False,
                     tags=("shape",)),
                Case("held-float64", _as(_elbo_call(3, 4, 2, binary=False), torch.float64), public=False,
                     tags=("device-dtype",)),
            ],
            expected="mean over the batch of [sum over pixels of BCE-with-logits(x_logits, x) + KL], "
                     "a scalar in nats.",
            hint="per pixel, the binary cross-entropy computed from the logits (never from probabilities), "
                 "summed per image; add each image's KL, then average over the batch.",
            rtol=1e-4, atol=1e-4,
        ),
        Item(
            name="iwae_bound", points=2,
            reference="genlab.exercises.lab02._ref_iwae_bound",
            protected=("genlab.metrics.iwae_bound",),
            check=lambda call, out, ref: _same_dtype(call, out),
            cases=[
                Case("public-1", _iwae_call(4, 16)),
                *layout_cases(_iwae_call(4, 16), noncontig=False),
                Case("public-k1", _iwae_call(3, 1), tags=("value", "extreme")),
                Case("public-stable", _iwae_very_negative, tags=("extreme",)),
                Case("public-grad", _iwae_call(3, 8), options={"grad": [0]}, tags=("gradients",)),
                Case("public-float64", _as(_iwae_call(2, 5, shift=-700.0), torch.float64), tags=("device-dtype",)),
                Case("held-1", _iwae_call(8, 64, scale=5.0), public=False),
                Case("held-batch1", _iwae_call(1, 32), public=False, tags=("shape",)),
                Case("held-stable", _iwae_very_negative, public=False, options={"grad": [0]},
                     tags=("extreme", "gradients")),
                Case("held-float64", _as(_iwae_call(3, 7, shift=-1e4), torch.float64), public=False,
                     tags=("device-dtype", "extreme")),
            ],
            expected="log (1/K) sum_k exp(log_w[b, k]) per row: (B, K) -> (B,), finite for any log-weights, "
                     "in the input's dtype, differentiable.",
            hint="the average of the K importance weights, taken inside the log, computed without "
                 "exponentiating large or very negative numbers directly.",
            rtol=1e-5, atol=1e-4,
        ),
    ],
)
