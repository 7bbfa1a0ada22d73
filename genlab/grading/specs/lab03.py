"""Grading spec of lab 03 (GAN theory): discriminator_loss, generator_loss, optimal_discriminator."""

from __future__ import annotations

import torch.nn.functional as F

from ..spec import Call, Case, Item, LabSpec, rand, randn


def _d_loss(d_real_logits, d_fake_logits):
    """BCE(real -> 1) + BCE(fake -> 0), each a batch mean."""
    return F.softplus(-d_real_logits).mean() + F.softplus(d_fake_logits).mean()


def _g_loss(d_fake_logits, non_saturating=True):
    """Non-saturating: -mean log D(G(z)); saturating: mean log(1 - D(G(z)))."""
    if non_saturating:
        return F.softplus(-d_fake_logits).mean()
    return -F.softplus(d_fake_logits).mean()


def _d_star(p_data, p_g):
    return p_data / (p_data + p_g)


def _pair(b: int, scale: float, shift: float = 0.0):
    return lambda g: Call([randn(g, b, scale=scale) + shift, randn(g, b, scale=scale) - shift])


def _fake(b: int, scale: float, **kw):
    return lambda g: Call([randn(g, b, scale=scale)], dict(kw))


def _densities(shape: tuple[int, ...]):
    return lambda g: Call([rand(g, *shape, low=0.05, high=2.0), rand(g, *shape, low=0.05, high=2.0)])


SPEC = LabSpec(
    lab="03_gan_theory",
    title="GAN theory",
    items=[
        Item(
            name="discriminator_loss", points=3,
            reference="genlab.losses.discriminator_loss", fallback=_d_loss,
            cases=[
                Case("public-1", _pair(8, 1.0, 0.5)),
                Case("held-1", _pair(32, 3.0, 1.0), public=False),
                Case("held-2", _pair(5, 0.5, -0.5), public=False),
            ],
            expected="BCE-with-logits of real logits against 1 plus BCE-with-logits of fake logits "
                     "against 0, each averaged over the batch (a scalar).",
            hint="real samples are labelled 1 and fakes 0; use F.binary_cross_entropy_with_logits "
                 "with torch.ones_like / torch.zeros_like and add the two means.",
        ),
        Item(
            name="generator_loss", points=3,
            reference="genlab.losses.generator_loss", fallback=_g_loss,
            cases=[
                Case("public-default", _fake(8, 2.0)),
                Case("public-saturating", _fake(8, 2.0, non_saturating=False)),
                Case("held-ns", _fake(16, 3.0, non_saturating=True), public=False),
                Case("held-sat", _fake(16, 3.0, non_saturating=False), public=False),
            ],
            expected="non_saturating=True: -mean(log D(G(z))) = BCE(fake logits, 1); "
                     "non_saturating=False: mean(log(1 - D(G(z)))) = -BCE(fake logits, 0).",
            hint="the saturating loss is the minimax one, log(1 - D); it is negative. The default "
                 "must be the non-saturating loss.",
        ),
        Item(
            name="optimal_discriminator", points=2,
            reference="genlab.losses.optimal_discriminator", fallback=_d_star,
            cases=[
                Case("public-1", _densities((6,))),
                Case("held-1", _densities((4, 5)), public=False),
            ],
            expected="D*(x) = p_data(x) / (p_data(x) + p_g(x)), elementwise.",
            hint="D* is the probability that x came from the data: the data density over the total.",
            rtol=1e-5, atol=1e-6,
        ),
    ],
)

