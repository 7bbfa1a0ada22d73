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
from ._core import Call, Case, Item, Lab, Mistakes, rand, randn
from ._student import call, expect_tensor, fail
from .hints import HINTS


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
             "torch.normal(mu, std) and Normal(...).sample() cut the gradient; draw eps = torch.randn_like(mu) "
             "and return mu + std * eps")
    zd = z.detach().double()
    if float(zd.std(0).max()) < 1e-6:
        fail(name, "a different z for every example (fresh noise per row)", "the same z in every row",
             "draw eps with the full shape of mu: torch.randn_like(mu)")
    std_want = (0.5 * logvar0.double()).exp()
    mean_err = (zd.mean(0) - mu0.double()).abs() / (std_want / math.sqrt(n))
    if (mean_err > 6).any():
        fail(name, f"sample mean of z equal to mu = {_preview(mu0)}", f"sample mean {_preview(zd.mean(0))}",
             "z = mu + std * eps with zero-mean noise eps = torch.randn_like(mu)")
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
             "draw eps with the full shape of mu: torch.randn_like(mu)")
    z.sum().backward()
    if mu.grad is None or logvar.grad is None:
        fail(name, "gradients for both mu and logvar", "no gradient reached "
             f"{'mu' if mu.grad is None else 'logvar'}", "do not detach mu or logvar")
    if not torch.allclose(mu.grad, torch.ones_like(mu), atol=1e-5):
        fail(name, "dz/dmu = 1", f"dz/dmu = {_preview(mu.grad)}",
             "z = mu + std * eps is linear in mu; torch.normal(mu, std) gives zero gradients: "
             "draw eps = torch.randn_like(mu) and build z from it")
    want = 0.5 * (z.detach() - mu.detach())  # d/dlogvar [exp(logvar/2) eps] = exp(logvar/2) eps / 2
    if not torch.allclose(logvar.grad, want, rtol=1e-3, atol=1e-4):
        fail(name, f"dz/dlogvar = (z - mu) / 2 = {_preview(want)}", f"{_preview(logvar.grad)}",
             "eps must not depend on mu or logvar (draw it with torch.randn_like), and std = exp(0.5 * logvar)")
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
                 f"the KL is {kind} over the batch: sum only over the latent dimension (dim=1)")
        if tuple(out.shape) == (b, d):
            fail(name, f"shape ({b},): one KL per example", f"shape {(b, d)}, one value per latent unit",
                 "sum the per-unit terms over the latent dimension: .sum(dim=1)")
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
        fail(name, "a scalar tensor (0-D)", type(out).__name__, "return a torch tensor, not .item()")
    want = losses.elbo_loss(x, x_logits, mu, logvar)
    recon = F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").flatten(1).sum(1)  # (B,)
    kl = losses.kl_divergence(mu, logvar)  # (B,)
    if tuple(out.shape) == (b,):
        fail(name, "a scalar (0-D tensor): the mean over the batch", f"shape {(b,)}, one value per image",
             "average the per-image negative ELBO over the batch with .mean()")
    if out.dim() != 0:
        fail(name, "a scalar (0-D tensor)", f"shape {tuple(out.shape)}",
             "sum the BCE over the pixels of each image, add its KL, then .mean() over the batch")
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


_MISTAKES: dict[str, Mistakes] = {
    'reparameterize': {
        "check: logvar used as the standard deviation": (lambda mu, lv: mu + lv * torch.randn_like(mu), "logvar used as the standard deviation"),
        "check: the variance, not the standard deviation": (lambda mu, lv: mu + lv.exp() * torch.randn_like(mu), "the variance, not the standard deviation"),
        "check: carries no gradient|torch.normal": (lambda mu, lv: torch.normal(mu, (0.5 * lv).exp()), "carries no gradient|torch.normal"),
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


def _check_reparameterize(call: Call, out: dict, ref) -> str | None:  # noqa: ARG001
    mu, logvar = call.args
    z = out.get("out")
    if z is None:
        return "no tensor output"
    if tuple(z.shape) != tuple(mu.shape):
        return f"z has shape {tuple(z.shape)}, expected the shape of mu {tuple(mu.shape)}"
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
    if not torch.allclose(glv.double(), 0.5 * (z - mu.double()), atol=1e-3, rtol=1e-3):
        return "dz/dlogvar is not sigma * eps / 2: take sigma = exp(logvar / 2) and keep eps out of the graph"
    return None


def _kl_call(scale: float, b: int, d: int):
    return lambda g: Call([randn(g, b, d, scale=scale), randn(g, b, d, scale=scale)])


def _elbo_call(b: int, size: int, d: int, binary: bool):
    def make(g: torch.Generator) -> Call:
        x = rand(g, b, 1, size, size)
        if binary:
            x = (x > 0.5).float()
        return Call([x, randn(g, b, 1, size, size, scale=2.0), randn(g, b, d), randn(g, b, d, scale=0.5)])
    return make


LAB = Lab(
    lab="02_vae",
    title="Variational autoencoders",
    items=[
        Item(
            name="reparameterize", diagnose=_diagnose_reparameterize, mistakes=_MISTAKES['reparameterize'], points=3,
            reference="genlab.models.vae.reparameterize",
            also_forbidden=("genlab.models.vae.standard_normal",),
            compare="custom", check=_check_reparameterize,
            cases=[
                Case("public-1", lambda g: _reparam_case(g, 3), public=True,
                     options={"grad": [0, 1], "seed": 1234, "repeat": 2}),
                Case("held-1", lambda g: _reparam_case(g, 5), public=False,
                     options={"grad": [0, 1], "seed": 99, "repeat": 2}),
            ],
            expected="z = mu + exp(logvar / 2) * eps with eps ~ N(0, I) drawn fresh, shaped like mu; "
                     "gradients flow to mu and logvar.",
            hint="the standard deviation is exp(0.5 * logvar), not logvar or exp(logvar); draw eps "
                 "with torch.randn_like(mu).",
        ),
        Item(
            name="kl_divergence", diagnose=_diagnose_kl_divergence, mistakes=_MISTAKES['kl_divergence'], points=3,
            reference="genlab.losses.kl_divergence",
            cases=[
                Case("public-1", _kl_call(1.0, 4, 3)),
                Case("held-1", _kl_call(2.0, 16, 8), public=False),
                Case("held-2", _kl_call(0.3, 1, 20), public=False),
            ],
            expected="KL(N(mu, exp(logvar)) || N(0, I)) per example: "
                     "0.5 * sum_j (exp(logvar) + mu^2 - 1 - logvar), shape (B,).",
            hint="sum over the latent dimension only (dim=1), keep the batch; check the sign of each term.",
        ),
        Item(
            name="elbo_loss", diagnose=_diagnose_elbo_loss, mistakes=_MISTAKES['elbo_loss'], points=4,
            reference="genlab.losses.elbo_loss",
            also_forbidden=("genlab.losses.negative_elbo",),
            cases=[
                Case("public-1", _elbo_call(4, 4, 2, binary=True)),
                Case("held-1", _elbo_call(8, 6, 3, binary=False), public=False),
                Case("held-2", _elbo_call(2, 5, 4, binary=True), public=False),
            ],
            expected="mean over the batch of [sum over pixels of BCE-with-logits(x_logits, x) + KL], "
                     "a scalar in nats.",
            hint="use F.binary_cross_entropy_with_logits(x_logits, x, reduction='none'), sum it per "
                 "image, add kl_divergence, then average over the batch.",
            rtol=1e-4, atol=1e-4,
        ),
    ],
)

# the hint ladder of every item lives in genlab.exercises.hints, once
for _item in LAB.items:
    _item.hints = HINTS[_item.name]
