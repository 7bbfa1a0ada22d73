"""Checks for lab 01 (autoencoders): ``ConvEncoder``, ``ConvDecoder``, ``add_noise``.

The modules are checked by behaviour, not by their exact layers: shapes for
several latent sizes, convolutions present, logits (not probabilities) out of
the decoder, each image's output depending only on that image, gradients
reaching the parameters. ``add_noise`` is checked by statistics of the noise
it adds (mean, standard deviation, Gaussian shape, clamping, freshness).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ._core import call, fail, report

IMAGE_SIZE = 16


def _build(name: str, cls: Callable[..., nn.Module], latent_dim: int) -> nn.Module:
    """Instantiate the student's class as ``cls(latent_dim=...)``; fail clearly otherwise."""
    if not isinstance(cls, type):
        fail(name, "a class (subclass of nn.Module)", type(cls).__name__,
             f"define `class {name}(nn.Module):` with __init__ and forward")
    try:
        model = cls(latent_dim=latent_dim)
    except NotImplementedError:
        call(name, _raise_not_implemented)
    except TypeError as exc:
        fail(name, f"{name}(latent_dim={latent_dim}) to build a module", f"TypeError: {exc}",
             "keep the signature __init__(self, latent_dim: int = 16)")
    except Exception as exc:  # the student's constructor crashed
        fail(name, f"{name}(latent_dim={latent_dim}) to build a module", f"{type(exc).__name__}: {exc}")
    if not isinstance(model, nn.Module):
        fail(name, "an nn.Module", type(model).__name__, f"write `class {name}(nn.Module)`")
    return model.eval()  # eval: dropout/batch-norm must not couple the images of a batch here


def _raise_not_implemented() -> None:
    raise NotImplementedError


def _count_convs(model: nn.Module) -> int:
    return sum(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in model.modules())


def _expect_shape(name: str, out: object, shape: tuple[int, ...], what: str, hint: str) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        fail(name, f"a tensor of shape {shape} ({what})", type(out).__name__, hint)
    if tuple(out.shape) != shape:
        fail(name, f"shape {shape} ({what})", f"shape {tuple(out.shape)}", hint)
    if not torch.isfinite(out).all():
        fail(name, "finite values", "NaN or inf in the output", "look for a log or a division")
    return out


def _expect_batch_independent(name: str, model: nn.Module, inp: torch.Tensor) -> None:
    """Changing example 0 must not change the outputs of the other examples."""
    with torch.no_grad():
        a = call(name, model, inp.clone())
        changed = inp.clone()
        changed[0] = torch.rand_like(changed[0]) * changed[0].abs().max().clamp_min(1.0)
        b = call(name, model, changed)
    if not torch.allclose(a[1:], b[1:], atol=1e-5):
        fail(name, "each output to depend only on its own input", "changing image 0 changed the others",
             "a reshape mixes the batch: use x.flatten(1) or x.view(x.shape[0], ...), not view(-1, ...) "
             "with a wrong size (and no batch-norm in eval mode coupling examples)")


def _expect_gradients(name: str, model: nn.Module, inp: torch.Tensor) -> None:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        fail(name, "trainable parameters", "none", "build the layers in __init__ as attributes (self.net = ...)")
    model.zero_grad()
    out = call(name, model, inp)
    if out.requires_grad:
        out.float().pow(2).mean().backward()
    reached = sum(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params)
    if reached == 0:
        fail(name, "gradients reaching the parameters", "no parameter got a gradient",
             "do not use .detach(), .numpy() or torch.no_grad() in forward")


def check_ConvEncoder(cls) -> bool:  # noqa: N802 - named after the graded class
    """``ConvEncoder(latent_dim)``: ``(B, 1, 16, 16)`` images -> ``(B, latent_dim)`` codes."""
    name = "ConvEncoder"
    g = torch.Generator().manual_seed(0)
    for d in (16, 3):
        torch.manual_seed(0)
        model = _build(name, cls, d)
        x = torch.rand(5, 1, IMAGE_SIZE, IMAGE_SIZE, generator=g)
        z = call(name, model, x)
        _expect_shape(name, z, (5, d), f"one code of latent_dim = {d} per image",
                      "flatten the conv features with .flatten(1) and end with nn.Linear(..., latent_dim); "
                      "use the latent_dim argument, not a fixed number")
    if _count_convs(model) == 0:
        fail(name, "a convolutional encoder (nn.Conv2d layers)", "no Conv2d layer",
             "start with nn.Conv2d(1, 32, 4, stride=2, padding=1): 16x16 -> 8x8")
    _expect_batch_independent(name, model, x)
    with torch.no_grad():
        z2 = call(name, model, torch.rand(5, 1, IMAGE_SIZE, IMAGE_SIZE, generator=g))
    if torch.allclose(z, z2):
        fail(name, "codes that depend on the image", "the same codes for different images",
             "forward must use its input x")
    _expect_gradients(name, model, x)
    return report(name)


def check_ConvDecoder(cls) -> bool:  # noqa: N802 - named after the graded class
    """``ConvDecoder(latent_dim)``: ``(B, latent_dim)`` codes -> ``(B, 1, 16, 16)`` logits."""
    name = "ConvDecoder"
    g = torch.Generator().manual_seed(0)
    for d in (16, 3):
        torch.manual_seed(0)
        model = _build(name, cls, d)
        z = torch.randn(6, d, generator=g)
        with torch.no_grad():
            out = call(name, model, z)
        _expect_shape(name, out, (6, 1, IMAGE_SIZE, IMAGE_SIZE), "one 1x16x16 image of logits per code",
                      "Linear -> (B, 64*4*4), nn.Unflatten(1, (64, 4, 4)), then two "
                      "ConvTranspose2d(k=4, s=2, p=1): 4 -> 8 -> 16")
    if _count_convs(model) == 0:
        fail(name, "a convolutional decoder (nn.ConvTranspose2d or Upsample + Conv2d)", "no conv layer",
             "use nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1) to double the size")
    with torch.no_grad():
        big = call(name, model, 10 * torch.randn(32, 3, generator=g))
    if float(big.min()) >= 0.0 and float(big.max()) <= 1.0:
        fail(name, "logits (any real number; the loss applies the sigmoid)",
             f"every output in [{float(big.min()):.3g}, {float(big.max()):.3g}], even for large codes",
             "remove the final sigmoid: the training loss is binary_cross_entropy_with_logits")
    _expect_batch_independent(name, model, z)
    with torch.no_grad():
        out2 = call(name, model, torch.randn(6, 3, generator=g))
    if torch.allclose(out, out2):
        fail(name, "images that depend on the code", "the same output for different codes",
             "forward must use its input z")
    _expect_gradients(name, model, z)
    return report(name)


def _normal_cdf(t: float) -> float:
    return 0.5 * (1 + math.erf(t / math.sqrt(2)))


def check_add_noise(fn) -> bool:
    """``add_noise(x, sigma) = clamp(x + sigma * eps, 0, 1)`` with fresh ``eps ~ N(0, I)``."""
    name = "add_noise"
    torch.manual_seed(0)
    shape = (64, 1, 16, 16)  # 16,384 pixels: sample statistics within about 1 %
    n = math.prod(shape)
    x = torch.full(shape, 0.5)
    sigma = 0.1  # 5 sigma away from 0 and 1: clamping changes (almost) nothing here
    y = call(name, fn, x, sigma)
    _expect_shape(name, y, shape, "shaped like x", "add noise of x's shape: torch.randn_like(x)")
    if not torch.equal(x, torch.full(shape, 0.5)):
        fail(name, "x left unchanged", "x was modified in place", "return a new tensor: x + ..., not x.add_(...)")
    per_image = (y - x)[:, 0].flatten(1)
    if torch.allclose(per_image[0], per_image[1]):
        fail(name, "independent noise for every image", "the same noise pattern on every image",
             "draw noise of the full shape of x, not of one image")
    noise = (y - x).double().flatten()
    mean, std = float(noise.mean()), float(noise.std())
    if abs(mean) > 6 * sigma / math.sqrt(n):
        fail(name, "zero-mean noise", f"mean of (noisy - x) = {mean:.4f}",
             "use torch.randn_like (mean 0), not torch.rand_like (uniform on [0, 1), mean 0.5)")
    if abs(std / sigma - 1) > 0.05:
        fail(name, f"noise with standard deviation sigma = {sigma}", f"standard deviation {std:.4f}",
             "multiply standard-normal noise by sigma itself (not sigma**2, not sqrt(sigma)); "
             "uniform noise also has the wrong spread")
    inside = float((noise.abs() < sigma).double().mean())  # Gaussian: P(|eps| < 1) = 0.683
    if abs(inside - (2 * _normal_cdf(1) - 1)) > 0.03:
        fail(name, "Gaussian noise: 68% of pixels within one sigma", f"{100 * inside:.1f}% within one sigma",
             "draw eps with torch.randn_like(x) (Gaussian), not torch.rand_like (uniform)")
    y_again = call(name, fn, x, sigma)
    if torch.equal(y_again, y):
        fail(name, "fresh noise on every call", "two calls gave identical noise",
             "do not reseed inside add_noise")
    # Clamping: on black and white images half of the noise leaves [0, 1].
    sigma = 0.3
    for level in (0.0, 1.0):
        y = call(name, fn, torch.full(shape, level), sigma)
        lo, hi = float(y.min()), float(y.max())
        if lo < 0.0 or hi > 1.0:
            fail(name, "values clamped to [0, 1] (they are images)", f"values in [{lo:.3g}, {hi:.3g}]",
                 "end with .clamp(0, 1)")
    # E[clamp(sigma * eps, 0, 1)] = sigma / sqrt(2 pi) (the clamp at 1 is > 3 sigma away).
    y = call(name, fn, torch.zeros(shape), sigma)
    want = sigma / math.sqrt(2 * math.pi)
    if abs(float(y.double().mean()) - want) > 0.05 * want:
        fail(name, f"mean of clamp(0 + {sigma} * eps, 0, 1) = {want:.4f}",
             f"{float(y.double().mean()):.4f}", "add the noise first, then clamp to [0, 1]")
    x = torch.rand(shape)
    y0 = call(name, fn, x, 0.0)
    if not isinstance(y0, torch.Tensor) or y0.shape != x.shape or not torch.allclose(y0, x, atol=1e-6):
        fail(name, "the images back unchanged for sigma = 0", "something else",
             "noise = sigma * eps adds nothing when sigma = 0; do not rescale or shift x")
    return report(name)
