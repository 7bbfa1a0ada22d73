"""Checks for lab 02 (VAE): ``reparameterize``, ``kl_divergence``, ``elbo_loss``.

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
from ._core import call, expect_tensor, fail, report


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.double(), b.double(), rtol=rtol, atol=atol))


def _preview(t: torch.Tensor, n: int = 4) -> str:
    flat = t.detach().double().flatten()[:n].tolist()
    return "[" + ", ".join(f"{v:.4g}" for v in flat) + (", ..." if t.numel() > n else "") + "]"


# --------------------------------------------------------------------------- reparameterize

def check_reparameterize(fn) -> bool:
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
    if ((std / std_want - 1).abs() > 0.1).any():
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
    return report(name)


# --------------------------------------------------------------------------- kl_divergence

def _kl_inputs(g: torch.Generator, b: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(b, d, generator=g) * 1.5, torch.randn(b, d, generator=g)


def check_kl_divergence(fn) -> bool:
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
    return report(name)


# --------------------------------------------------------------------------- elbo_loss

def _elbo_inputs(g: torch.Generator) -> tuple[torch.Tensor, ...]:
    b = 6
    x = torch.rand(b, 1, 4, 4, generator=g)
    x_logits = 2 * torch.randn(b, 1, 4, 4, generator=g)
    mu = torch.randn(b, 3, generator=g)
    logvar = 0.5 * torch.randn(b, 3, generator=g)
    return x, x_logits, mu, logvar


def check_elbo_loss(fn) -> bool:
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
        return report(name)
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
    return False  # unreachable: fail raises
