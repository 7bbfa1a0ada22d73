"""Grading spec of lab 02 (VAE): reparameterize, kl_divergence, elbo_loss."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..spec import Call, Case, Item, LabSpec, rand, randn


def _kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Closed form KL(N(mu, e^logvar) || N(0, I)) per example, summed over latent units."""
    return 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar).reshape(mu.shape[0], -1).sum(1)


def _elbo(x, x_logits, mu, logvar):
    """Batch mean of sum_pixels BCE(logits, x) + KL, in nats."""
    nll = F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").reshape(x.shape[0], -1).sum(1)
    return (nll + _kl(mu, logvar)).mean()


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


SPEC = LabSpec(
    lab="02_vae",
    title="Variational autoencoders",
    items=[
        Item(
            name="reparameterize", points=3,
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
            name="kl_divergence", points=3,
            reference="genlab.losses.kl_divergence", fallback=_kl,
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
            name="elbo_loss", points=4,
            reference="genlab.losses.elbo_loss", fallback=_elbo,
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
