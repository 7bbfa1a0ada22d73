"""Exercise entries of lab 01: the contract, cases, probes and mistakes of each graded item.

Grading spec of lab 01 (autoencoders): add_noise, ConvEncoder, ConvDecoder (by behaviour).

The modules are graded on what they do, not on their exact layers: the
encoder maps ``(B, 1, 16, 16)`` images to ``(B, d)`` codes with convolutions,
the decoder maps codes back to ``(B, 1, 16, 16)`` logits, gradients reach the
parameters and a few optimiser steps reduce a loss.

The student check's probes:

Checks for lab 01 (autoencoders): ``ConvEncoder``, ``ConvDecoder``, ``add_noise``.

The modules are checked by behaviour, not by their exact layers: shapes for
several latent sizes, convolutions present, logits (not probabilities) out of
the decoder, each image's output depending only on that image, gradients
reaching the parameters. ``add_noise`` is checked by statistics of the noise
it adds (mean, standard deviation, Gaussian shape, clamping, freshness).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import torch
from torch import nn

from ._core import Call, Case, Item, Mistakes, build_lab, layout_cases, rand
from ._student import call, expect_tensor, fail
from .challenges import Challenge
from .scenarios import like_input, output_check

IMAGE_SIZE = 16


def _build(name: str, cls: Callable[..., nn.Module], latent_dim: int) -> nn.Module:
    """Instantiate the student's class as ``cls(latent_dim=...)``; fail clearly otherwise."""
    if not isinstance(cls, type):
        fail(name, "a class (a subclass of the network-module base class)", type(cls).__name__,
             f"define the class {name} as a network module, with its layers made in the constructor and a forward method")
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
        fail(name, "a network module", type(model).__name__, f"write the class {name} as a subclass of the network-module base class")
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
             "a reshape mixes the batch: keep the batch axis and flatten only the others, never infer the "
             "batch size from a guessed size (and no batch norm that couples examples)")


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
             "no detaching, no NumPy round trip and no gradient-free block in forward")


def _each_latent_dim(name: str, cls: Callable[..., nn.Module],
                     draw: Callable[[torch.Generator, int], torch.Tensor], grad: bool):
    """For latent_dim 16 then 3: ``(g, d, model, input, output)``, the model built under seed 0 and
    its input drawn by ``draw(g, d)`` from one generator seeded 0 that the caller keeps drawing from."""
    g = torch.Generator().manual_seed(0)
    for d in (16, 3):
        torch.manual_seed(0)
        model = _build(name, cls, d)
        inp = draw(g, d)
        with contextlib.nullcontext() if grad else torch.no_grad():
            out = call(name, model, inp)
        yield g, d, model, inp, out


def _diagnose_ConvEncoder(cls) -> str | None:  # noqa: N802 - named after the graded class
    """``ConvEncoder(latent_dim)``: ``(B, 1, 16, 16)`` images -> ``(B, latent_dim)`` codes."""
    name = "ConvEncoder"
    images = lambda g, d: torch.rand(5, 1, IMAGE_SIZE, IMAGE_SIZE, generator=g)  # noqa: ARG005, E731
    # the last model, input and generator are probed further after the loop
    for g, d, model, x, z in _each_latent_dim(name, cls, images, grad=True):  # noqa: B007
        _expect_shape(name, z, (5, d), f"one code of latent_dim = {d} per image",
                      "flatten the conv features with .flatten(1) and end with nn.Linear(..., latent_dim); "
                      "use the latent_dim argument, not a fixed number")
        if d == 16:
            with torch.no_grad():
                wide = call(name, model, torch.rand(32, 1, IMAGE_SIZE, IMAGE_SIZE, generator=g))
            if isinstance(wide, torch.Tensor) and wide.numel() and float(wide.min()) >= 0.0:
                fail(name, "signed, unbounded codes (no activation after the last linear layer)",
                     f"every code >= 0 (min {float(wide.min()):.3g})",
                     "the code is the plain output of the last linear layer: an activation there "
                     "throws away half of the latent space", level=2)
            one = call(name, model, torch.rand(1, 1, IMAGE_SIZE, IMAGE_SIZE, generator=g))
            _expect_shape(name, one, (1, d), "a batch of one image still gives a (1, latent_dim) code",
                          "keep the batch dimension: flatten from dim 1, never squeeze the batch away")
    if _count_convs(model) == 0:
        fail(name, "a convolutional encoder (2-D convolution layers)", "no Conv2d layer",
             "start with a convolution of kernel 4, stride 2, padding 1 from 1 to 32 channels: 16x16 -> 8x8")
    _expect_batch_independent(name, model, x)
    with torch.no_grad():
        z2 = call(name, model, torch.rand(5, 1, IMAGE_SIZE, IMAGE_SIZE, generator=g))
    if torch.allclose(z, z2):
        fail(name, "codes that depend on the image", "the same codes for different images",
             "forward must use its input x")
    _expect_gradients(name, model, x)
    return None


def _diagnose_ConvDecoder(cls) -> str | None:  # noqa: N802 - named after the graded class
    """``ConvDecoder(latent_dim)``: ``(B, latent_dim)`` codes -> ``(B, 1, 16, 16)`` logits."""
    name = "ConvDecoder"
    codes = lambda g, d: torch.randn(6, d, generator=g)  # noqa: E731
    for g, _d, model, z, out in _each_latent_dim(name, cls, codes, grad=False):  # noqa: B007 - as above
        _expect_shape(name, out, (6, 1, IMAGE_SIZE, IMAGE_SIZE), "one 1x16x16 image of logits per code",
                      "Linear -> (B, 64*4*4), nn.Unflatten(1, (64, 4, 4)), then two "
                      "ConvTranspose2d(k=4, s=2, p=1): 4 -> 8 -> 16")
    if _count_convs(model) == 0:
        fail(name, "a convolutional decoder (transposed convolutions, or upsampling then convolutions)", "no conv layer",
             "a transposed convolution of kernel 4, stride 2, padding 1 (64 to 32 channels) doubles the size")
    with torch.no_grad():
        big = call(name, model, 10 * torch.randn(32, 3, generator=g))
    if float(big.min()) >= 0.0 and float(big.max()) <= 1.0:
        fail(name, "logits (any real number; the loss applies the sigmoid)",
             f"every output in [{float(big.min()):.3g}, {float(big.max()):.3g}], even for large codes",
             "remove the final sigmoid: the training loss is binary_cross_entropy_with_logits")
    if float(big.min()) >= 0.0:
        fail(name, "logits, negative where a pixel is probably black", f"every output >= 0 (min "
             f"{float(big.min()):.3g}), even for large codes",
             "no activation after the last layer: a ReLU there forbids the negative logits of dark pixels",
             level=2)
    with torch.no_grad():
        one = call(name, model, torch.randn(1, 3, generator=g))
    _expect_shape(name, one, (1, 1, IMAGE_SIZE, IMAGE_SIZE), "a batch of one code still gives (1, 1, 16, 16)",
                  "keep the batch and channel dimensions: never squeeze them away")
    _expect_batch_independent(name, model, z)
    with torch.no_grad():
        out2 = call(name, model, torch.randn(6, 3, generator=g))
    if torch.allclose(out, out2):
        fail(name, "images that depend on the code", "the same output for different codes",
             "forward must use its input z")
    _expect_gradients(name, model, z)
    return None


def _normal_cdf(t: float) -> float:
    return 0.5 * (1 + math.erf(t / math.sqrt(2)))


def _diagnose_add_noise(fn) -> str | None:
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
        fail(name, "x left unchanged", "x was modified in place", "return a new tensor built from x; do not add to x in place")
    per_image = (y - x)[:, 0].flatten(1)
    if torch.allclose(per_image[0], per_image[1]):
        fail(name, "independent noise for every image", "the same noise pattern on every image",
             "draw noise of the full shape of x, not of one image")
    noise = (y - x).double().flatten()
    mean, std = float(noise.mean()), float(noise.std())
    if abs(mean) > 6 * sigma / math.sqrt(n):
        fail(name, "zero-mean noise", f"mean of (noisy - x) = {mean:.4f}",
             "draw standard-normal noise (mean 0), not uniform noise on [0, 1) (mean 0.5)")
    if abs(std / sigma - 1) > 0.05:
        fail(name, f"noise with standard deviation sigma = {sigma}", f"standard deviation {std:.4f}",
             "multiply standard-normal noise by sigma itself (not sigma**2, not sqrt(sigma)); "
             "uniform noise also has the wrong spread")
    inside = float((noise.abs() < sigma).double().mean())  # Gaussian: P(|eps| < 1) = 0.683
    if abs(inside - (2 * _normal_cdf(1) - 1)) > 0.03:
        fail(name, "Gaussian noise: 68% of pixels within one sigma", f"{100 * inside:.1f}% within one sigma",
             "draw eps standard normal (Gaussian) and shaped like x, not uniform")
    y_again = call(name, fn, x, sigma)
    if torch.equal(y_again, y):
        fail(name, "fresh noise on every call", "two calls gave identical noise",
             "do not reseed inside add_noise")
    for dtype in (torch.float16, torch.float64):
        xd = torch.full((4, 1, 8, 8), 0.5, dtype=dtype)
        yd = call(name, fn, xd, 0.1)
        if isinstance(yd, torch.Tensor) and yd.dtype != dtype:
            fail(name, f"noisy images of x's dtype ({dtype})", f"dtype {yd.dtype}",
                 "draw the noise like x (its shape, dtype and device), not with a fixed default dtype",
                 level=3)
    # Clamping: on black and white images half of the noise leaves [0, 1].
    sigma = 0.3
    for level in (0.0, 1.0):
        y = call(name, fn, torch.full(shape, level), sigma)
        lo, hi = float(y.min()), float(y.max())
        if lo < 0.0 or hi > 1.0:
            fail(name, "values clamped to [0, 1] (they are images)", f"values in [{lo:.3g}, {hi:.3g}]",
                 "clip the noisy image to [0, 1] at the end")
    # E[clamp(sigma * eps, 0, 1)] = sigma / sqrt(2 pi) (the clamp at 1 is > 3 sigma away).
    y = call(name, fn, torch.zeros(shape), sigma)
    want = sigma / math.sqrt(2 * math.pi)
    if abs(float(y.double().mean()) - want) > 0.05 * want:
        fail(name, f"mean of 0 + {sigma} * eps clipped to [0, 1] = {want:.4f}",
             f"{float(y.double().mean()):.4f}", "add the noise first, then clamp to [0, 1]")
    x = torch.rand(shape)
    y0 = call(name, fn, x, 0.0)
    if not isinstance(y0, torch.Tensor) or y0.shape != x.shape or not torch.allclose(y0, x, atol=1e-6):
        fail(name, "the images back unchanged for sigma = 0", "something else",
             "noise = sigma * eps adds nothing when sigma = 0; do not rescale or shift x")
    return None


# --------------------------------------------------------------------------- interpolate_codes (stretch)

def _ref_interpolate_codes(z0: torch.Tensor, z1: torch.Tensor, n: int) -> torch.Tensor:
    """The lab-only reference: ``n`` evenly spaced points from ``z0`` to ``z1``, both ends included."""
    t = torch.linspace(0.0, 1.0, n, dtype=z0.dtype, device=z0.device)[:, None]
    return (1 - t) * z0 + t * z1


def _diagnose_interpolate_codes(fn) -> str | None:
    """Ends exact, even steps, ``(n, d)``."""
    name = "interpolate_codes"
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(3, generator=g), torch.randn(3, generator=g)
    out = call(name, fn, z0.clone(), z1.clone(), 5)
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (3, 5):
        fail(name, "shape (n, d) = (5, 3): one row per step", "shape (3, 5)",
             "the steps run along the first axis, the code's coordinates along the second", level=2)
    out = expect_tensor(name, out, (5, 3))
    if not (torch.allclose(out[0], z0, atol=1e-6) and torch.allclose(out[-1], z1, atol=1e-6)):
        fail(name, "first row z0 and last row z1 (both ends included)",
             f"first {_fmt(out[0])}, last {_fmt(out[-1])}",
             "the fractions run from 0 to 1 inclusive: i / (n - 1)", level=2)
    steps = (out[1:] - out[:-1]).double()
    if not torch.allclose(steps, steps[:1].expand_as(steps), atol=1e-5):
        fail(name, "evenly spaced steps", "steps of different lengths", "use equal fractions", level=2)
    return None


def _mc_interp_inplace(z0, z1, n):
    step = z1.sub_(z0)  # overwrites z1 with the difference
    t = torch.linspace(0.0, 1.0, n, dtype=z0.dtype)[:, None]
    return z0 + t * step


def _fmt(t: torch.Tensor) -> str:
    return "[" + ", ".join(f"{v:.3g}" for v in t.detach().double().flatten()[:4].tolist()) + "]"


def _interp_call(d: int, n: int, dtype: torch.dtype = torch.float32):
    return lambda g: Call([torch.randn(d, generator=g).to(dtype), torch.randn(d, generator=g).to(dtype), n])


def _same_dtype(call: Call, out: dict) -> str | None:
    y, x = out.get("out"), call.args[0]
    if y is not None and isinstance(x, torch.Tensor) and y.dtype != x.dtype:
        return f"dtype {y.dtype}, expected the codes' dtype {x.dtype}"
    return None


# --------------------------------------------------------------------------- named mistakes
# Wrong implementations students write. Each maps to the pattern (a regular expression
# searched in the message) its student check must fail with; the grader must give it less
# than full marks (tests/unit/test_mistakes.py). Helpers are prefixed _m*_ by origin.

def _forward_variant(base: type, name: str, forward: Callable) -> type:
    """A subclass of ``base`` whose output is ``forward(self.net, input)``: one mistake, one line."""
    return type(name, (base,), {"forward": lambda self, inp: forward(self.net, inp), "__qualname__": name})


class _mc_Encoder(nn.Module):

    def __init__(self, latent_dim: int=16):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 8, 4, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 4, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 4 * 4, latent_dim))

    def forward(self, x):
        return self.net(x)


class _mc_EncoderNoLinear(_mc_Encoder):

    def forward(self, x):
        return self.net[:4](x)


class _mc_EncoderFixedLatent(_mc_Encoder):

    def __init__(self, latent_dim: int=16):
        super().__init__(16)


class _mc_EncoderMixesBatch(_mc_Encoder):

    def forward(self, x):
        h = self.net[:4](x)
        flat = h.reshape(1, -1).repeat(x.shape[0], 1)[:, :h[0].numel()]
        return self.net[5](flat)


class _mc_EncoderMLP(nn.Module):

    def __init__(self, latent_dim: int=16):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(256, latent_dim))

    def forward(self, x):
        return self.net(x)


_mc_EncoderDetached = _forward_variant(_mc_Encoder, '_mc_EncoderDetached', lambda net, x: net(x).detach())
_mc_EncoderReLUCodes = _forward_variant(_mc_Encoder, '_mc_EncoderReLUCodes', lambda net, x: torch.relu(net(x)))
_mc_EncoderSqueeze = _forward_variant(_mc_Encoder, '_mc_EncoderSqueeze', lambda net, x: net(x).squeeze())


class _mc_EncoderNoArgs(_mc_Encoder):

    def __init__(self):
        super().__init__(16)


class _mc_Decoder(nn.Module):

    def __init__(self, latent_dim: int=16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, 16 * 4 * 4), nn.ReLU(), nn.Unflatten(1, (16, 4, 4)), nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(8, 1, 4, 2, 1))

    def forward(self, z):
        return self.net(z)


_mc_DecoderSigmoid = _forward_variant(_mc_Decoder, '_mc_DecoderSigmoid', lambda net, z: torch.sigmoid(net(z)))
_mc_DecoderFlat = _forward_variant(_mc_Decoder, '_mc_DecoderFlat', lambda net, z: net(z).flatten(1))
_mc_DecoderWrongSize = _forward_variant(_mc_Decoder, '_mc_DecoderWrongSize', lambda net, z: net[:4](z)[:, :1])
_mc_DecoderIgnoresZ = _forward_variant(_mc_Decoder, '_mc_DecoderIgnoresZ', lambda net, z: net(torch.zeros_like(z)))
_mc_DecoderReLU = _forward_variant(_mc_Decoder, '_mc_DecoderReLU', lambda net, z: torch.relu(net(z)))
_mc_DecoderSqueeze = _forward_variant(_mc_Decoder, '_mc_DecoderSqueeze', lambda net, z: net(z).squeeze(0))


class _mc_DecoderMLP(nn.Module):

    def __init__(self, latent_dim: int=16):
        super().__init__()
        self.lin = nn.Linear(latent_dim, 256)

    def forward(self, z):
        return self.lin(z).view(-1, 1, 16, 16)


def _mc_noise_unclamped(x, sigma):
    return x + sigma * torch.randn_like(x)


def _mc_noise_clamp_first(x, sigma):
    return x.clamp(0, 1) + sigma * torch.randn_like(x)


def _mc_noise_variance_as_std(x, sigma):
    return (x + sigma ** 2 * torch.randn_like(x)).clamp(0, 1)


def _mc_noise_sqrt_sigma(x, sigma):
    return (x + sigma ** 0.5 * torch.randn_like(x)).clamp(0, 1)


def _mc_noise_uniform(x, sigma):
    return (x + sigma * torch.rand_like(x)).clamp(0, 1)


def _mc_noise_uniform_centred(x, sigma):
    return (x + sigma * 3 ** 0.5 * (2 * torch.rand_like(x) - 1)).clamp(0, 1)


def _mc_noise_shared(x, sigma):
    return (x + sigma * torch.randn_like(x[:1])).clamp(0, 1)


def _mc_noise_inplace(x, sigma):
    return x.add_(sigma * torch.randn_like(x)).clamp_(0, 1)


def _mc_noise_default_dtype(x, sigma):
    return (x + sigma * torch.randn(x.shape)).clamp(0, 1)


def _mc_noise_reseeded(x, sigma):
    g = torch.Generator().manual_seed(0)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


class _ms_MLPEncoder(nn.Module):

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(256, 8))

    def forward(self, x):
        return self.net(x)


class _ms_ConvDecoder(nn.Module):

    def __init__(self, latent_dim: int=8):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(nn.Linear(latent_dim, 8 * 8 * 8), nn.ReLU(), nn.Unflatten(1, (8, 8, 8)), nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1))

    def forward(self, z):
        return self.net(z)


class _ms_SmallDecoder(_ms_ConvDecoder):

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 8 * 4 * 4), nn.Unflatten(1, (8, 4, 4)), nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1))


_MISTAKES: dict[str, Mistakes] = {
    'interpolate_codes': {
        "check: last code missing (endpoint)": (lambda a, b, n: _ref_interpolate_codes(a, b, n + 1)[:-1], "both ends"),
        "check: reversed": (lambda a, b, n: _ref_interpolate_codes(b, a, n), "both ends"),
        "check: transposed (d, n)": (lambda a, b, n: _ref_interpolate_codes(a, b, n).T, "one row per step"),
        "check: fractions in float32 (dtype)": (lambda a, b, n: (1 - torch.linspace(0, 1, n)[:, None]) * a.float() + torch.linspace(0, 1, n)[:, None] * b.float(), "dtype"),
        "check: graph cut": (lambda a, b, n: torch.tensor(_ref_interpolate_codes(a, b, n).tolist(), dtype=a.dtype), "not connected"),
        "check: in place": (_mc_interp_inplace, "modified in place"),
    },
    'ConvEncoder': {
        "check: expected: shape \\(5, 16\\)[\\s\\S]*got:      shape \\(5, 16, 4, 4\\)": (_mc_EncoderNoLinear, "expected: shape \\(5, 16\\)[\\s\\S]*got:      shape \\(5, 16, 4, 4\\)"),
        "check: shape \\(5, 3\\)[\\s\\S]*latent_dim argument": (_mc_EncoderFixedLatent, "shape \\(5, 3\\)[\\s\\S]*latent_dim argument"),
        "check: mixes the batch": (_mc_EncoderMixesBatch, "mixes the batch"),
        "check: no Conv2d": (_mc_EncoderMLP, "no Conv2d"),
        "check: no parameter got a gradient": (_mc_EncoderDetached, "no parameter got a gradient"),
        "check: signature": (_mc_EncoderNoArgs, "signature"),
        "check: a class": (lambda latent_dim=16: _mc_Encoder(latent_dim), "a class"),
        "check: signed (ReLU on the codes)": (_mc_EncoderReLUCodes, "signed"),
        "check: batch of one (squeeze)": (_mc_EncoderSqueeze, "batch of one"),
        "no convolution": (_ms_MLPEncoder, None),
    },
    'ConvDecoder': {
        "check: remove the final sigmoid": (_mc_DecoderSigmoid, "remove the final sigmoid"),
        "check: expected: shape \\(6, 1, 16, 16\\)[\\s\\S]*got:      shape \\(6, 256\\)": (_mc_DecoderFlat, "expected: shape \\(6, 1, 16, 16\\)[\\s\\S]*got:      shape \\(6, 256\\)"),
        "check: got:      shape \\(6, 1, 8, 8\\)": (_mc_DecoderWrongSize, "got:      shape \\(6, 1, 8, 8\\)"),
        "check: depend on the code": (_mc_DecoderIgnoresZ, "depend on the code"),
        "check: no conv layer": (_mc_DecoderMLP, "no conv layer"),
        "check: negative (ReLU on the logits)": (_mc_DecoderReLU, "negative"),
        "check: batch of one (squeeze)": (_mc_DecoderSqueeze, "batch of one"),
        "wrong output size": (_ms_SmallDecoder, None),
    },
    'add_noise': {
        "meta: noise drawn on the CPU (device)": (lambda x, sigma: (x + sigma * torch.randn(x.shape, dtype=x.dtype)).clamp(0, 1), "device"),
        "check: clamped to": (_mc_noise_unclamped, "clamped to"),
        "check: clamped to (2)": (_mc_noise_clamp_first, "clamped to"),
        "check: standard deviation": (_mc_noise_variance_as_std, "standard deviation"),
        "check: standard deviation (2)": (_mc_noise_sqrt_sigma, "standard deviation"),
        "check: zero-mean": (_mc_noise_uniform, "zero-mean"),
        "check: Gaussian": (_mc_noise_uniform_centred, "Gaussian"),
        "check: independent noise": (_mc_noise_shared, "independent noise"),
        "check: in place": (_mc_noise_inplace, "in place"),
        "check: fresh noise": (_mc_noise_reseeded, "fresh noise"),
        "check: dtype (noise in the default dtype)": (_mc_noise_default_dtype, "dtype"),
        "uniform noise": (lambda x, s: x + s * torch.rand_like(x), None),
        "multiplicative noise": (lambda x, s: x * (1 + s * torch.randn_like(x)), None),
        "same noise every call": (lambda x, s: x + s * torch.randn(x.shape, generator=torch.Generator().manual_seed(0)), None),
        "not clamped": (lambda x, s: x + s * torch.randn_like(x), None),
        "squashed with a sigmoid": (lambda x, s: torch.sigmoid(6 * (x + s * torch.randn_like(x) - 0.5)), None),
    },
}


# --------------------------------------------------------------------------- the entry (grading contract)

IMAGE = (8, 1, 16, 16)
#: add_noise cases with at least this sigma test the clamp to [0, 1] (the others test the statistics).
CLAMP_SIGMA = 0.4


def _noise_case(sigma: float, level: float | None = 0.5, dtype: torch.dtype = torch.float32):
    def make(g: torch.Generator) -> Call:
        x = torch.full((64, 1, 16, 16), level) if level is not None else rand(g, *IMAGE)
        return Call([x.to(dtype), sigma])
    return make


@output_check
def _check_add_noise(call: Call, y: torch.Tensor, out: dict) -> str | None:
    x, sigma = call.args
    if why := like_input(y, x, "x", "draw the noise like x"):
        return why
    if sigma >= CLAMP_SIGMA:  # the clamp case: large noise on images in [0, 1]
        if y.min() < 0 or y.max() > 1:
            return f"values in [{float(y.min()):.3g}, {float(y.max()):.3g}]: clamp the noisy images to [0, 1]"
        if not (bool((y == 0).any()) and bool((y == 1).any())):
            return "no pixel is exactly 0 or 1 with this much noise: clamp (x + noise).clamp(0, 1), do not rescale"
        return None
    noise = (y.double() - x.double()).flatten()
    if sigma == 0:
        return None if noise.abs().max() < 1e-6 else "with sigma = 0 the images must come back unchanged"
    n = noise.numel()
    if abs(float(noise.mean())) > 6 * sigma / math.sqrt(n):
        return f"the noise has mean {float(noise.mean()):.3g}, expected 0 (zero-mean Gaussian noise)"
    if abs(float(noise.std()) / sigma - 1) > 0.1:
        return f"the noise has standard deviation {float(noise.std()):.3g}, expected sigma = {sigma}"
    if n >= 10_000:  # Gaussian, not just the right mean and spread: P(|eps| < 1) = 0.683
        inside = float((noise.abs() < sigma).double().mean())
        if abs(inside - (2 * _normal_cdf(1) - 1)) > 0.03:
            return f"{100 * inside:.1f}% of the noise within one sigma, expected 68.3% (Gaussian noise)"
    again = out.get("out#1")
    if again is not None and torch.equal(again, y):
        return "two calls gave the same noise: draw it fresh (torch.randn_like(x))"
    return None


def _images(g: torch.Generator) -> Call:
    return Call([rand(g, *IMAGE)])


def _images_of(b: int, latent_dim: int | None = None):
    """``b`` images; ``latent_dim`` (not passed to the module) is what the check expects the codes to have."""
    def make(g: torch.Generator) -> Call:
        return Call([rand(g, b, 1, 16, 16)], {} if latent_dim is None else {"latent_dim": latent_dim})
    return make


def _check_module(kind: str):
    def check(call: Call, out: dict, ref) -> str | None:  # noqa: ARG001
        x = call.args[0]
        y = out.get("out")
        if not int(out.get("is_class", torch.tensor(1))):
            return f"the {kind} must be a class (a subclass of nn.Module), not a function that builds one"
        if int(out.get("is_reference", torch.tensor(0))):
            return f"the {kind} is (or contains) genlab's reference module: write your own layers"
        if y is None:
            return "the forward pass returned no tensor"
        if kind == "encoder":
            if y.dim() != 2 or y.shape[0] != x.shape[0]:
                return f"codes of shape {tuple(y.shape)}, expected (B, latent_dim) with B = {x.shape[0]}"
            want_d = call.kwargs.get("latent_dim")
            if want_d is not None and y.shape[1] != want_d:
                return f"codes of size {y.shape[1]} for latent_dim = {want_d}: use the constructor's argument"
        elif tuple(y.shape) != tuple(x.shape):
            return f"output of shape {tuple(y.shape)}, expected the image shape {tuple(x.shape)}"
        if not torch.isfinite(y).all():
            return "NaN or inf in the output"
        # signed, unbounded outputs: codes with no activation, logits below 0 (wide enough to tell)
        if (kind == "decoder" or y.shape[1] >= 8) and y.numel() >= 64 and float(y.min()) >= 0.0:
            return (f"every {'code' if kind == 'encoder' else 'logit'} >= 0: the last layer must have "
                    "no activation (signed, unbounded outputs)")
        if int(out.get("n_conv", torch.tensor(0))) < 1:
            return f"no Conv2d/ConvTranspose2d layer: the {kind} must be convolutional"
        if int(out.get("n_params_grad", torch.tensor(0))) < 1:
            return "no parameter receives a gradient: is the output connected to the layers?"
        losses = out.get("losses")  # only the cases with a "steps" option train
        if losses is not None and not bool(losses[-1] < 0.8 * losses[0]):
            return "a few Adam steps on a fixed batch did not reduce the loss: the module does not train"
        return None
    return check


# --------------------------------------------------------------------------- challenge
# The lab's challenge (gradebook column c_...): genlab.exercises.challenges measures the saved model.
CHALLENGE = Challenge(
    lab="01", cid="c_recon", title="an autoencoder that reconstructs held-back test digits closely",
    models=("ae", "conv_ae"), metric="recon_mse", unit="MSE per pixel", thresholds=(0.03, 0.01, 0.005),
    max_params=1_000_000)


# --------------------------------------------------------------------------- the entries
LAB = build_lab("01_autoencoders", "Autoencoders", mistakes=_MISTAKES, namespace=globals(), items=[
        Item(
            name="ConvEncoder", points=3,
            reference="genlab.models.autoencoder.ConvEncoder",
            compare="custom", check=_check_module("encoder"),
            cases=[
                Case("public-1", _images, driver="module", options={"steps": 30, "seed": 0},
                     tags=("behaviour", "gradients", "activations")),
                Case("public-batch1", _images_of(1), driver="module", options={"seed": 1}, tags=("shape",)),
                Case("held-latent", _images_of(3, 5), public=False, driver="module",
                     options={"steps": 30, "seed": 2, "init": {"latent_dim": 5}}, tags=("shape", "behaviour")),
                Case("held-wide", _images_of(16), public=False, driver="module",
                     options={"seed": 3, "init": {"latent_dim": 32}}, tags=("activations",)),
            ],
            expected="a network module built from convolutions: (B, 1, 16, 16) images -> (B, latent_dim) codes, "
                     "trainable.",
            hint="each convolution of stride 2 halves the size; flatten the last map and end with a fully connected layer to latent_dim units.",
        ),
        Item(
            name="ConvDecoder", points=3,
            reference="genlab.models.autoencoder.ConvDecoder",
            compare="custom", check=_check_module("decoder"),
            cases=[
                Case("public-1", _images, driver="module", options={"steps": 30, "seed": 0, "latent": True},
                     tags=("behaviour", "gradients", "activations")),
                Case("public-batch1", _images_of(1), driver="module", options={"seed": 1, "latent": True},
                     tags=("shape",)),
                Case("held-1", _images_of(5), public=False, driver="module",
                     options={"steps": 30, "seed": 4, "latent": True}, tags=("behaviour", "activations")),
            ],
            expected="a network module: (B, latent_dim) codes -> (B, 1, 16, 16) logits, with transposed "
                     "convolutions (or upsampling then a convolution), trainable.",
            hint="mirror the encoder: a fully connected layer to a small map, then transposed convolutions (kernel 4, stride 2, padding 1) that each double the size.",
        ),
        Item(
            name="add_noise", points=2,
            reference="genlab.masks.gaussian_noise",
            compare="custom", check=_check_add_noise,
            cases=[
                Case("public-1", _noise_case(0.1), options={"seed": 7, "repeat": 2},
                     tags=("value", "randomness", "side-effects")),
                *layout_cases(_noise_case(0.1)),
                Case("public-zero", _noise_case(0.0, None), options={"seed": 3}, tags=("extreme",)),
                Case("public-clamp", _noise_case(0.5, None), options={"seed": 5}, tags=("activations",)),
                Case("public-float16", _noise_case(0.1, dtype=torch.float16), options={"seed": 8},
                     tags=("device-dtype",)),
                Case("held-1", _noise_case(0.05, 0.4), public=False, options={"seed": 11, "repeat": 2},
                     tags=("value", "randomness")),
                Case("held-gauss", _noise_case(0.08, 0.5), public=False, options={"seed": 13},
                     tags=("value", "randomness")),
                Case("held-float64", _noise_case(0.1, 0.6, dtype=torch.float64), public=False,
                     options={"seed": 17}, tags=("device-dtype",)),
                Case("held-float16-clamp", _noise_case(0.5, None, dtype=torch.float16), public=False,
                     options={"seed": 19}, tags=("device-dtype", "activations")),
            ],
            expected="x + sigma * eps clipped to [0, 1], with eps ~ N(0, I) drawn fresh, shaped like x, on its device and in its dtype.",
            hint="add standard-normal noise of the full shape of x, scaled by sigma, then clip to [0, 1]; not uniform noise, not x times the noise.",
        ),
        Item(
            name="interpolate_codes", points=1, reference="genlab.exercises.lab01._ref_interpolate_codes",
            check=lambda call, out, ref: _same_dtype(call, out),
            cases=[
                Case("public-1", _interp_call(4, 6)),
                *layout_cases(_interp_call(4, 6)),
                Case("public-two", _interp_call(3, 2), tags=("value", "shape")),
                Case("public-grad", _interp_call(2, 5), options={"grad": [0, 1]}, tags=("gradients",)),
                Case("public-float64", _interp_call(3, 4, torch.float64), tags=("device-dtype",)),
                Case("held-1", _interp_call(16, 9), public=False),
                Case("held-grad", _interp_call(8, 3), public=False, options={"grad": [0, 1]},
                     tags=("gradients", "side-effects")),
                Case("held-float64", _interp_call(5, 7, torch.float64), public=False, tags=("device-dtype",)),
            ],
            expected="(n, d): row i = (1 - i/(n-1)) z0 + i/(n-1) z1, both ends exact, in the codes' dtype.",
            hint="n evenly spaced fractions from 0 to 1 (both included), one row per fraction.",
            rtol=1e-5, atol=1e-6,
        ),
    ],
)
