"""Exercise entries of lab 04: the contract, cases, probes and mistakes of each graded item.

Grading spec of lab 04 (GANs on images): Generator, Discriminator, gan_training_step, by behaviour.

The DCGAN blocks are graded on what they do (shapes, output range, use of the
code, convolutions, trainable), not on their exact layers. The training step
runs on tiny seeded networks with SGD (see :func:`genlab.exercises.scenarios.gan_step`)
and must move both networks exactly as the reference step does: D with real
-> 1 and detached fakes -> 0, then G through the updated D with the
non-saturating loss.

The student check's probes:

Checks for lab 04 (GANs on images): the DCGAN ``Generator`` / ``Discriminator`` and ``gan_training_step``.

Contracts (the lab's exercise cells and the autograder use the same):

* ``Generator(z_dim=32)``: ``G(z)`` with ``z (B, z_dim)`` -> images ``(B, 1, 16, 16)`` in ``[0, 1]``.
* ``Discriminator()``: ``D(x)`` with ``x (B, 1, 16, 16)`` -> logits ``(B,)`` (no sigmoid).
* ``gan_training_step(G, D, opt_g, opt_d, real, z) -> {"loss_d": float, "loss_g": float}``: one D
  update on ``real`` (labelled 1) and ``G(z).detach()`` (labelled 0), then one G update through
  the *updated* D with the non-saturating loss; each loss is the value before its update.
"""

from __future__ import annotations

import dataclasses
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from .. import losses
from .. import losses as _lib_losses
from .. import losses as _mc_losses
from ._core import Call, Case, Item, Mistakes, build_lab, layout_cases, randn
from ._student import CheckFailed, call, fail
from .challenges import Challenge
from .scenarios import (
    GANStepSpy,
    TinyD,
    TinyG,
    ref_gan_training_step,
    scenario_case,
    scenario_check,
)

# --------------------------------------------------------------------------- the two networks


def _build(name: str, cls, **kwargs) -> nn.Module:
    model = call(name, cls, **kwargs)
    if not isinstance(model, nn.Module):
        fail(name, "a network module instance", type(model).__name__, f"{name} must subclass the network-module base class.")
    if not any(True for _ in model.parameters()):
        fail(name, "a module with trainable parameters", "no parameters",
             "create the layers in the constructor and keep them as attributes of the module.")
    return model


def _diagnose_Generator(cls) -> str | None:  # noqa: N802 (named after the graded class)
    """``Generator(z_dim)``: (B, z_dim) -> (B, 1, 16, 16) in [0, 1], built from transposed convolutions."""
    name = "Generator"
    torch.manual_seed(0)
    for z_dim in (8, 32):
        G = _build(name, cls, z_dim=z_dim)
        z = torch.randn(6, z_dim)
        out = call(name, G, z)
        if not isinstance(out, torch.Tensor):
            fail(name, "a tensor of images", type(out).__name__)
        value = out.detach()
        if tuple(out.shape) != (6, 1, 16, 16):
            hint = ("reshape the flat output to images: .view(-1, 1, 16, 16)." if out.dim() == 2 else
                    "four stages: (B, z_dim, 1, 1) -> 4x4 -> 8x8 -> 16x16 with one output channel.")
            fail(name, f"G(z) of shape (6, 1, 16, 16) for z of shape (6, {z_dim})", f"shape {tuple(out.shape)}", hint)
        if not torch.isfinite(value).all():
            fail(name, "finite values", "NaN or inf")
        if float(value.min()) < 0 or float(value.max()) > 1:
            fail(name, "images in [0, 1] (the data's range)",
                 f"range [{float(value.min()):.3g}, {float(value.max()):.3g}]",
                 "the last squashing function must map to [0, 1] (a sigmoid), not [-1, 1] (a tanh); genlab.hint(\"Generator\", 2).")
        if float(value.std(dim=0).max()) < 1e-6:
            fail(name, "different images for different z", "the same image for every z",
                 "the output must depend on z: feed z through the network.")
        out.mean().backward()
        if not any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters()):
            fail(name, "gradients reaching G's parameters", "no gradient", "do not detach inside forward.")
    if not any(isinstance(m, (nn.ConvTranspose2d, nn.Upsample)) for m in G.modules()):
        fail(name, "a DCGAN generator that upsamples with transposed convolutions", "no transposed convolution",
             "use transposed convolutions (kernel 4, stride 2, padding 1 doubles the size).")
    G = _build(name, cls)  # the default must work too
    out = call(name, G, torch.randn(2, getattr(G, "z_dim", 32)))
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, 1, 16, 16):
        fail(name, "the generator built with its defaults (z_dim 32) to give (2, 1, 16, 16)",
             f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}",
             "give z_dim a default of 32 and store it as self.z_dim.")
    return None


def _diagnose_Discriminator(cls) -> str | None:  # noqa: N802 (named after the graded class)
    """``Discriminator()``: (B, 1, 16, 16) -> logits (B,), strided convolutions, no final sigmoid."""
    name = "Discriminator"
    torch.manual_seed(0)
    D = _build(name, cls)
    x = torch.rand(6, 1, 16, 16, requires_grad=True)
    out = call(name, D, x)
    if not isinstance(out, torch.Tensor):
        fail(name, "a tensor of logits", type(out).__name__)
    if tuple(out.shape) != (6,):
        hint = ("one logit per image: flatten the last (B, 1) or (B, 1, 1, 1) output to (B,); genlab.hint(\"Discriminator\", 2)."
                if out.numel() == 6 else "the last layer must give one logit per image.")
        fail(name, "logits of shape (6,) for 6 images", f"shape {tuple(out.shape)}", hint)
    if not torch.isfinite(out).all():
        fail(name, "finite values", "NaN or inf")
    last = [m for m in D.modules() if not list(m.children())][-1]
    if isinstance(last, nn.Sigmoid) or (float(out.detach().min()) > 0 and float(out.detach().max()) < 1
                                        and any(isinstance(m, nn.Sigmoid) for m in D.modules())):
        fail(name, "raw logits (no sigmoid at the end)", "values squashed into (0, 1) by a sigmoid",
             "the losses use BCE-with-logits, which applies the sigmoid itself: remove the final sigmoid.")
    out.sum().backward()
    if x.grad is None or x.grad.abs().sum() == 0:
        fail(name, "logits that depend on the input image", "no gradient to the input",
             "do not detach the input; feed x through the convolutions.")
    if not any(isinstance(m, nn.Conv2d) for m in D.modules()):
        fail(name, "a DCGAN discriminator built from 2-D convolutions", "no convolution",
             "use strided convolutions (kernel 4, stride 2, padding 1 halves the size).")
    return None


# --------------------------------------------------------------------------- the training step


class _TinyG(TinyG):
    """A deterministic stand-in generator: (B, 3) -> (B, 1, 4, 4) in [0, 1] (no BatchNorm, no dropout)."""

    z_dim = 3

    def __init__(self) -> None:
        super().__init__(hidden=16, act=nn.Tanh)


#: A deterministic stand-in discriminator: (B, 1, 4, 4) -> logits (B,).
_TinyD = TinyD


def _setup(seed: int = 0):
    torch.manual_seed(seed)
    G, D = _TinyG(), _TinyD()
    opt_g = torch.optim.SGD(G.parameters(), lr=0.5)   # SGD, not Adam: Adam's first step hides sums vs means
    opt_d = torch.optim.SGD(D.parameters(), lr=0.5)
    return G, D, opt_g, opt_d


def _batches():
    g = torch.Generator().manual_seed(7)
    return [(torch.rand(8, 1, 4, 4, generator=g), torch.randn(8, 3, generator=g)) for _ in range(2)]


def _variant_step(G, D, opt_g, opt_d, real, z, *, swap=False, saturating=False):
    """The reference step (all flags False) and the classic mistakes, for diagnosis."""
    fake = G(z)
    d_real, d_fake = D(real), D(fake.detach())
    loss_d = losses.discriminator_loss(d_fake, d_real) if swap else losses.discriminator_loss(d_real, d_fake)
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = losses.generator_loss(D(fake), non_saturating=not saturating)   # through the updated D
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}


def _params(m: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in m.parameters()])


def _run(step, **flags):
    G, D, opt_g, opt_d = _setup()
    outs = [step(G, D, opt_g, opt_d, real, z, **flags) for real, z in _batches()]
    return G, D, outs


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, rtol=1e-4, atol=1e-6)


def _diagnose_gan_training_step(fn) -> str | None:
    """One D step (real -> 1, detached fakes -> 0), then one G step through the updated D (non-saturating)."""
    name = "gan_training_step"
    G, D, opt_g, opt_d = _setup()
    g_start = _params(G)
    spy = GANStepSpy(G, opt_g, opt_d)
    events = spy.events
    outs = []
    for real, z in _batches():
        spy.begin()
        try:
            outs.append(call(name, fn, G, D, opt_g, opt_d, real.clone(), z.clone()))
        except CheckFailed:
            if not spy.leak:
                raise
        if spy.leak:
            fail(name, "the D update to leave G's gradients alone", "D's loss put gradients into G's parameters",
                 "detach the fakes for the D step, otherwise D's loss backpropagates into G; genlab.hint(\"gan_training_step\", 2).")
        if spy.moved:
            fail(name, "G unchanged by the D update", "G's parameters changed before/while D stepped",
                 "update D first, then G, each optimiser holding only its own network's parameters; genlab.hint(\"gan_training_step\", 3).")
        if events.count("d") != 1 or events.count("g") != 1:
            fail(name, "one discriminator optimiser step and one generator optimiser step per call, D first",
                 f"steps in this order: {events}", "step D's optimiser once, then G's once; genlab.hint(\"gan_training_step\", 3).")
    out = outs[0]
    if not isinstance(out, dict) or not {"loss_d", "loss_g"} <= set(out):
        fail(name, 'a dict with keys "loss_d" and "loss_g"',
             f"{type(out).__name__}{' with keys ' + str(sorted(out)) if isinstance(out, dict) else ''}",
             'return a dictionary of the two loss values; genlab.hint("gan_training_step", 3).')
    for key in ("loss_d", "loss_g"):
        if not isinstance(out[key], numbers.Real):
            fail(name, f"{key} as a Python float", type(out[key]).__name__,
                 "return plain numbers, so the caller keeps no graph alive; genlab.hint(\"gan_training_step\", 2).")

    G_ref, D_ref, ref_outs = _run(_variant_step)
    if torch.equal(_params(G), g_start):
        fail(name, "G's parameters to change", "G unchanged after two steps",
             "G must be updated through D: its loss must stay attached to G's graph; "
             "genlab.hint(\"gan_training_step\", 3).")
    d_ok, g_ok = _same(_params(D), _params(D_ref)), _same(_params(G), _params(G_ref))
    if not (d_ok and g_ok):
        # name the classic mistakes first: each also moves the other network on the second step
        G_swap, D_swap, _ = _run(_variant_step, swap=True)
        if _same(_params(D), _params(D_swap)):
            fail(name, "D trained with real -> 1 and fake -> 0", "D trained with the labels swapped",
                 "real images are labelled 1, fakes 0; genlab.hint(\"gan_training_step\", 2).")
        G_sat, D_sat, _ = _run(_variant_step, saturating=True)
        if _same(_params(G), _params(G_sat)) and _same(_params(D), _params(D_sat)):
            fail(name, "G trained with the non-saturating loss", "the saturating loss log(1 - D(G(z)))",
                 "G maximises log D(G(z)) rather than minimising log(1 - D(G(z))); genlab.hint(\"gan_training_step\", 2).")
    if not d_ok:
        fail(name, "D's parameters after one SGD step on D's mean BCE loss (real -> 1, detached fakes -> 0)",
             "different parameters", "zero D's gradients before its backward, average the losses over "
             'the batch and step D once; genlab.hint("gan_training_step", 3).')
    if not g_ok:
        fail(name, "G's parameters after one SGD step on the non-saturating loss through the updated D",
             "different parameters", "zero G's gradients before its backward, score the fakes with D "
             'after its update, and step G once; genlab.hint("gan_training_step", 3).')
    for key in ("loss_d", "loss_g"):
        got, want = float(out[key]), ref_outs[0][key]
        if abs(got - want) > 1e-4 * max(1.0, abs(want)):
            fail(name, f"{key} = {want:.5f} (the loss before its update)", f"{got:.5f}",
                 "return the losses you backpropagated, as floats.")
    return None


# --------------------------------------------------------------------------- named mistakes
# Wrong implementations students write. Each maps to the pattern (a regular expression
# searched in the message) its student check must fail with; the grader must give it less
# than full marks (tests/unit/test_mistakes.py). Helpers are prefixed _m*_ by origin.

class _mc_Gen(nn.Module):

    def __init__(self, z_dim=32, width=8, out='sigmoid', flat=False):
        super().__init__()
        self.z_dim, self.out, self.flat = (z_dim, out, flat)
        self.net = nn.Sequential(nn.ConvTranspose2d(z_dim, 2 * width, 4, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(), nn.ConvTranspose2d(width, 1, 4, 2, 1))

    def forward(self, z):
        x = self.net(z[:, :, None, None])
        x = torch.sigmoid(x) if self.out == 'sigmoid' else torch.tanh(x)
        return x.flatten(1) if self.flat else x


class _mc_Disc(nn.Module):

    def __init__(self, width=8, keep_dim=False, sigmoid=False):
        super().__init__()
        layers = [nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(2 * width, 1, 4)]
        if sigmoid:
            layers.append(nn.Sigmoid())
        self.net = nn.Sequential(*layers)
        self.keep_dim = keep_dim

    def forward(self, x):
        out = self.net(x).flatten(1)
        return out if self.keep_dim else out.squeeze(1)


def _mc_good_step(G, D, opt_g, opt_d, real, z, *, swap=False, detach=True, saturating=False, g_detached=False, no_zero=False):
    fake = G(z)
    d_in = fake.detach() if detach else fake
    loss_d = _mc_losses.discriminator_loss(D(d_in), D(real)) if swap else _mc_losses.discriminator_loss(D(real), D(d_in))
    if not no_zero:
        opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = _mc_losses.generator_loss(D(fake.detach() if g_detached else fake), non_saturating=not saturating)
    opt_g.zero_grad()
    if loss_g.requires_grad:
        loss_g.backward()
    opt_g.step()
    return {'loss_d': loss_d.item(), 'loss_g': loss_g.item()}


def _mc_with(**flags):
    return lambda *a: _mc_good_step(*a, **flags)


def _mc_float_free(*a):
    out = _mc_good_step(*a)
    return {'loss_d': torch.tensor(out['loss_d']), 'loss_g': torch.tensor(out['loss_g'])}


class _ms_Generator(nn.Module):

    def __init__(self, z_dim: int=32, width: int=32):
        super().__init__()
        self.z_dim = z_dim
        self.fc = nn.Linear(z_dim, width * 4 * 4)
        self.up = nn.Sequential(nn.ReLU(), nn.Upsample(scale_factor=2), nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.ConvTranspose2d(width, 1, 4, 2, 1))
        self.width = width

    def forward(self, z):
        return torch.sigmoid(self.up(self.fc(z).reshape(len(z), self.width, 4, 4)))


class _ms_TanhGenerator(_ms_Generator):

    def forward(self, z):
        return torch.tanh(self.up(self.fc(z).reshape(len(z), self.width, 4, 4)))


class _ms_IgnoresZDim(_ms_Generator):

    def __init__(self, z_dim: int=32, width: int=32):
        super().__init__(32, width)


class _ms_MLPGenerator(nn.Module):

    def __init__(self, z_dim: int=32, width: int=32):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z_dim, 256), nn.Sigmoid())

    def forward(self, z):
        return self.net(z).view(-1, 1, 16, 16)


class _ms_Discriminator(nn.Module):

    def __init__(self, width: int=32):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(width, width, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(width * 16, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1)


class _ms_SigmoidDiscriminator(_ms_Discriminator):

    def forward(self, x):
        return torch.sigmoid(super().forward(x))


class _ms_KeepdimDiscriminator(_ms_Discriminator):

    def forward(self, x):
        return self.net(x)


_ms_discriminator_loss = _lib_losses.discriminator_loss  # the library reference


_ms_generator_loss = _lib_losses.generator_loss  # the library reference


def _ms_step(G, D, opt_g, opt_d, real, z, *, swap=False, detach=True, saturating=False, old_d=False, g_update=True, d_sum=False):
    fake = G(z)
    d_fake_for_g = D(fake) if old_d else None
    r, f = (D(real), D(fake.detach() if detach else fake))
    loss_d = _ms_discriminator_loss(f, r) if swap else _ms_discriminator_loss(r, f)
    if d_sum:
        loss_d = F.softplus(-r).sum() + F.softplus(f).sum()
    opt_d.zero_grad()
    loss_d.backward(retain_graph=not detach)
    opt_d.step()
    out = D(fake) if d_fake_for_g is None else d_fake_for_g
    loss_g = _ms_generator_loss(out, non_saturating=not saturating)
    if g_update:
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    return {'loss_d': loss_d.item(), 'loss_g': loss_g.item()}


class _mp_GreyGenerator(_ms_Generator):
    """A sigmoid squeezed into [0.5, 1]: "images in [0, 1]" on paper, but never black."""

    def forward(self, z):
        return 0.5 + 0.5 * torch.sigmoid(self.up(self.fc(z).reshape(len(z), self.width, 4, 4)))


class _mp_ClampedGenerator(_ms_Generator):

    def forward(self, z):
        return super().forward(z).clamp(0.2, 1.0)


class _mp_TanhDiscriminator(_ms_Discriminator):
    """Bounded "logits": a tanh at the end keeps them in [-1, 1]."""

    def forward(self, x):
        return torch.tanh(super().forward(x))


def _mp_tensor_losses(*a):
    out = _ms_step(*a)
    return {"loss_d": torch.tensor(out["loss_d"]), "loss_g": torch.tensor(out["loss_g"])}


_MISTAKES: dict[str, Mistakes] = {
    'Generator': {
        "check: never black (shifted sigmoid)": (_mp_GreyGenerator, "black|\\[0, 1\\]|range"),
        "clamped output": (_mp_ClampedGenerator, None),
        "check: sigmoid": (lambda z_dim=32: _mc_Gen(z_dim, out='tanh'), "sigmoid"),
        "check: reshape": (lambda z_dim=32: _mc_Gen(z_dim, flat=True), "reshape"),
        "check: shape": (lambda z_dim=32: nn.Linear(z_dim, 256), "shape"),
        "tanh output": (_ms_TanhGenerator, None),
        "ignores z_dim": (_ms_IgnoresZDim, None),
        "no convolution": (_ms_MLPGenerator, None),
    },
    'Discriminator': {
        "check: \\(6, 1\\)": (lambda: _mc_Disc(keep_dim=True), "\\(6, 1\\)"),
        "check: remove the final sigmoid": (lambda: _mc_Disc(sigmoid=True), "remove the final sigmoid"),
        "check: nn.Conv2d": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(256, 1), nn.Flatten(0)), "2-D convolutions"),
        "sigmoid output": (_ms_SigmoidDiscriminator, None),
        "(B, 1) logits": (_ms_KeepdimDiscriminator, None),
        "check: tanh-bounded logits": (_mp_TanhDiscriminator, "-1, 1|unbounded"),
    },
    'gan_training_step': {
        "check: labels swapped": (_mc_with(swap=True), "labels swapped"),
        "check: detach the fakes": (_mc_with(detach=False), "detach the fakes"),
        "check: non-saturating": (_mc_with(saturating=True), "non-saturating"),
        "check: G unchanged": (_mc_with(g_detached=True), "G unchanged"),
        "check: zero D's gradients": (_mc_with(no_zero=True), "zero D's gradients"),
        "check: Python float": (_mc_float_free, "Python float"),
        "check: dict": (lambda *a: (_mc_good_step(*a), None)[1], "dict"),
        "labels swapped": (lambda *a: _ms_step(*a, swap=True), None),
        "fakes not detached for D": (lambda *a: _ms_step(*a, detach=False), None),
        "saturating G loss": (lambda *a: _ms_step(*a, saturating=True), None),
        "G through the old D": (lambda *a: _ms_step(*a, old_d=True), None),
        "G not updated": (lambda *a: _ms_step(*a, g_update=False), None),
        "sum instead of mean": (lambda *a: _ms_step(*a, d_sum=True), None),
        "returns tensors, not floats": (_mp_tensor_losses, "Python float"),
    },
}


# --------------------------------------------------------------------------- the stretch: hinge losses


def hinge_discriminator_loss(d_real_logits: torch.Tensor, d_fake_logits: torch.Tensor) -> torch.Tensor:
    """The reference: mean(relu(1 - D(real))) + mean(relu(1 + D(fake))), a 0-d tensor."""
    return F.relu(1 - d_real_logits).mean() + F.relu(1 + d_fake_logits).mean()


def hinge_generator_loss(d_fake_logits: torch.Tensor) -> torch.Tensor:
    """The reference: -mean(D(G(z))), a 0-d tensor."""
    return -d_fake_logits.mean()


def _logits(g: torch.Generator, b: int, kind: str, dtype=torch.float32) -> torch.Tensor:
    """Logits of one batch: ``kind`` is "mixed" (around the margins) or an extreme like "+30"."""
    if kind == "mixed":
        return randn(g, b, scale=2.0).to(dtype)
    size = float(kind)
    return (size + randn(g, b, scale=0.5)).to(dtype)


def _hinge_d_call(b: int, real: str, fake: str, dtype=torch.float32, b_fake: int | None = None):
    return lambda g: Call([_logits(g, b, real, dtype), _logits(g, b_fake or b, fake, dtype)])


def _hinge_g_call(b: int, fake: str, dtype=torch.float32):
    return lambda g: Call([_logits(g, b, fake, dtype)])


def _scalar_same_dtype(call: Call, out: dict, ref) -> str | None:  # noqa: ARG001
    got, want = out.get("out"), call.args[0].dtype
    if got is not None and got.dim() != 0:
        return f"a loss of shape {tuple(got.shape)}, expected one number (a 0-d tensor)"
    if got is not None and got.dtype != want:
        return f"{want} logits gave a {got.dtype} loss: the dtype must follow the input"
    return None


def _hinge_d_cases() -> list[Case]:
    c = [Case("public-1", _hinge_d_call(8, "mixed", "mixed")),
         *layout_cases(_hinge_d_call(8, "mixed", "mixed"), noncontig=False),
         Case("public-confident-right", _hinge_d_call(4, "30", "-30"), tags=("extreme",)),
         Case("public-grad", _hinge_d_call(6, "mixed", "mixed"), options={"grad": [0, 1]}, tags=("gradients",)),
         Case("public-unequal-batches", _hinge_d_call(4, "mixed", "mixed", b_fake=6), tags=("shape",)),
         Case("public-float64", _hinge_d_call(3, "mixed", "mixed", torch.float64), tags=("device-dtype",))]
    for i, (r, f) in enumerate((("-30", "30"), ("120", "-120"), ("-120", "120"), ("0.5", "-0.5"))):
        c.append(Case(f"held-extreme-{i}", _hinge_d_call(5, r, f), public=False, tags=("extreme",)))
    c += [Case("held-1", _hinge_d_call(16, "mixed", "mixed"), public=False),
          Case("held-unequal-batches", _hinge_d_call(3, "mixed", "mixed", b_fake=7), public=False, tags=("shape",)),
          Case("held-b1", _hinge_d_call(1, "mixed", "mixed"), public=False, tags=("shape",)),
          Case("held-float64", _hinge_d_call(6, "mixed", "mixed", torch.float64), public=False,
               tags=("device-dtype",)),
          Case("held-grad", _hinge_d_call(5, "mixed", "mixed"), public=False, options={"grad": [0, 1]},
               tags=("gradients",))]
    return c


def _hinge_g_cases() -> list[Case]:
    return [Case("public-1", _hinge_g_call(8, "mixed")),
            *layout_cases(_hinge_g_call(8, "mixed"), noncontig=False),
            Case("public-confident-fooled", _hinge_g_call(4, "30"), tags=("extreme",)),
            Case("public-grad", _hinge_g_call(6, "mixed"), options={"grad": [0]}, tags=("gradients",)),
            Case("public-float64", _hinge_g_call(3, "mixed", torch.float64), tags=("device-dtype",)),
            Case("held-extreme-wrong", _hinge_g_call(5, "-120"), public=False, tags=("extreme",)),
            Case("held-extreme-right", _hinge_g_call(5, "120"), public=False, tags=("extreme",)),
            Case("held-1", _hinge_g_call(16, "mixed"), public=False),
            Case("held-b1", _hinge_g_call(1, "mixed"), public=False, tags=("shape",)),
            Case("held-float64", _hinge_g_call(6, "mixed", torch.float64), public=False, tags=("device-dtype",)),
            Case("held-grad", _hinge_g_call(5, "mixed"), public=False, options={"grad": [0]}, tags=("gradients",))]


def _probe(name: str, *args: torch.Tensor):
    """A first call through the student-check wrapper: an unimplemented stub reads as such."""
    def diagnose(fn) -> None:
        call(name, fn, *(a.clone() for a in args))
    return diagnose


def _mp_hinge_linear(r, f):
    return (1 - r).mean() + (1 + f).mean()


_MISTAKES["hinge_discriminator_loss"] = {
    "meta: a zero made on the CPU (device)": (lambda r, f: torch.maximum(1 - r, torch.zeros(r.shape, dtype=r.dtype)).mean() + torch.maximum(1 + f, torch.zeros(f.shape, dtype=f.dtype)).mean(), "device"),
    "no hinge (linear)": (_mp_hinge_linear, "extreme|values differ"),
    "margins swapped": (lambda r, f: F.relu(1 + r).mean() + F.relu(1 - f).mean(), "values differ"),
    "hinge of the mean": (lambda r, f: F.relu(1 - r.mean()) + F.relu(1 + f.mean()), "values differ"),
    "sum instead of mean": (lambda r, f: F.relu(1 - r).sum() + F.relu(1 + f).sum(), "values differ"),
    "one mean over both batches": (lambda r, f: torch.cat([F.relu(1 - r), F.relu(1 + f)]).mean() * 2, "values differ"),
    "graph cut with .item()": (lambda r, f: torch.tensor(hinge_discriminator_loss(r, f).item()), "graph|gradient"),
    "computed in float32": (lambda r, f: hinge_discriminator_loss(r.float(), f.float()), "dtype"),
    "squeezed to a Python number": (lambda r, f: hinge_discriminator_loss(r, f).reshape(1), "shape"),
}
_MISTAKES["hinge_generator_loss"] = {
    "hinged generator loss": (lambda f: F.relu(1 - f).mean(), "values differ"),
    "wrong sign": (lambda f: f.mean(), "values differ"),
    "sum instead of mean": (lambda f: -f.sum(), "values differ"),
    "graph cut with .item()": (lambda f: torch.tensor(-f.mean().item()), "graph|gradient"),
    "computed in float32": (lambda f: -f.float().mean(), "dtype"),
}


# --------------------------------------------------------------------------- the entry (grading contract)

_FORBID_G = ("genlab.models.gan.DCGANGenerator", "genlab.models.gan._GeneratorBase")
_FORBID_D = ("genlab.models.gan.DCGANDiscriminator",)


def _common(out: dict, kind: str) -> str | None:
    if int(out.get("is_reference", torch.tensor(0))):
        return f"the {kind} is (or contains) genlab's DCGAN module: write your own layers"
    return None


def _check_generator(call: Call, out: dict, ref) -> str | None:  # noqa: ARG001
    _, batch, z_dim = call.args
    why = _common(out, "generator")
    if why:
        return why
    shape = tuple(out["shape"].tolist()) if "shape" in out else None
    if shape != (batch, 1, 16, 16):
        return f"Generator(z_dim={z_dim}) on z of shape ({batch}, {z_dim}) gave {shape}, expected ({batch}, 1, 16, 16)"
    lo, hi = out["range"].tolist()
    if lo < 0 or hi > 1:
        return f"images in [{lo:.3g}, {hi:.3g}], expected [0, 1]: end with a squashing function onto [0, 1]"
    if not int(out.get("depends_on_z", torch.tensor(0))):
        return "the images do not depend on z"
    if int(out.get("n_conv_transpose", torch.tensor(0))) < 1:
        return "no ConvTranspose2d layer: a DCGAN generator upsamples with transposed convolutions"
    losses = out.get("losses")
    if losses is None or not bool(torch.isfinite(losses).all()) or not bool(losses[-1] < losses[0]):
        return "a few Adam steps did not reduce a loss: the generator does not train"
    dark = out.get("darkest_after_black")
    if dark is not None and float(dark.min()) > 0.1:
        return (f"trained towards black images, the darkest pixel stays at {float(dark.min()):.3g}: the output "
                "must be able to reach 0 (the data's black background); no shift or clamp after the sigmoid")
    return None


def _check_discriminator(call: Call, out: dict, ref) -> str | None:  # noqa: ARG001
    _, batch = call.args
    why = _common(out, "discriminator")
    if why:
        return why
    shape = tuple(out["shape"].tolist()) if "shape" in out else None
    if shape != (batch,):
        return f"images ({batch}, 1, 16, 16) gave logits of shape {shape}, expected ({batch},): flatten to one logit per image"
    if int(out.get("n_conv", torch.tensor(0))) < 1:
        return "no Conv2d layer: a DCGAN discriminator downsamples with strided convolutions"
    losses = out.get("losses")
    if losses is None or not bool(torch.isfinite(losses).all()) or not bool(losses[-1] < 0.9 * losses[0]):
        return "a few Adam steps did not reduce a loss: the discriminator does not train"
    lo, hi = out["range"].tolist()
    if lo >= 0 and hi <= 1:
        return "the outputs stay in [0, 1] even when trained towards large logits: return logits, no sigmoid"
    if max(abs(lo), abs(hi)) <= 1.05:
        return ("the outputs stay in [-1, 1] even when trained towards logits of about +-3: logits are "
                "unbounded, so nothing (no tanh, no clamp) may squash the last layer")
    return None


_STEP_MESSAGES = {
    "d_step_leaks_into_G": "D's loss put gradients into G: detach the fakes for the D step",
    "G_moved_by_D_step": "G's weights changed before or during the D step: update D first, with opt_d only",
    "one_D_step_then_one_G_step": "expected exactly one step of D's optimiser, then one of G's, per call",
    "D_weights": "D's weights after the step differ from one SGD step on BCE(D(real), 1) + BCE(D(fake), 0) "
                 "(labels swapped? sum instead of mean?)",
    "G_weights": "G's weights after the step differ from one step on the non-saturating loss "
                 "-log D(G(z)) through the updated D (saturating loss? not updated? old D?)",
    "loss_d": "the returned loss_d is not D's loss before its step",
    "loss_g": "the returned loss_g is not G's non-saturating loss",
    "losses_are_floats": "loss_d and loss_g must be plain Python floats (a tensor keeps its graph alive)",
}

def _tagged(cases: list[Case], tags: tuple[str, ...]) -> list[Case]:
    """Scenario cases tagged with the properties their observations cover."""
    return [dataclasses.replace(c, tags=tags) for c in cases]


# --------------------------------------------------------------------------- challenge
# The lab's challenge (gradebook column c_...): genlab.exercises.challenges measures the saved model.
CHALLENGE = Challenge(
    lab="04", cid="c_fd", title="a generator whose samples are close to the test digits for the shipped classifier",
    models=("dcgan", "gan"), metric="gen_fd", unit="classifier Frechet distance", thresholds=(1500.0, 800.0, 500.0),
    max_params=2_000_000, options={"samples": 512})


# --------------------------------------------------------------------------- the entries
LAB = build_lab("04_gans_on_images", "GANs on images", mistakes=_MISTAKES, namespace=globals(), items=[
        Item(
            name="Generator", points=3, also_forbidden=_FORBID_G,
            compare="custom", check=_check_generator,
            cases=_tagged([scenario_case("public-1", "dcgan_generator", [0, 6, 8]),
                           scenario_case("held-1", "dcgan_generator", [3, 5, 12], public=False)],
                          ("behaviour", "shape", "activations", "gradients")),
            expected="a network module built with z_dim and width: z (B, z_dim) -> images (B, 1, 16, 16) in [0, 1], "
                     "with transposed convolutions, trainable.",
            hint='the codes are a 1 x 1 image with z_dim channels; genlab.hint("Generator", 2).',
            ),
        Item(
            name="Discriminator", points=3, also_forbidden=_FORBID_D,
            compare="custom", check=_check_discriminator,
            cases=_tagged([scenario_case("public-1", "dcgan_discriminator", [0, 6]),
                           scenario_case("held-1", "dcgan_discriminator", [4, 5], public=False)],
                          ("behaviour", "shape", "activations", "gradients")),
            expected="a network module built with width: images (B, 1, 16, 16) -> logits (B,), with strided "
                     "convolutions, no sigmoid, trainable.",
            hint='one unbounded number per image; genlab.hint("Discriminator", 2).',
            ),
        Item(
            name="gan_training_step", points=4,
            also_forbidden=("genlab.exercises.lab04._variant_step",),
            compare="custom",
            protected=("genlab.exercises.scenarios.ref_gan_training_step",),
            check=scenario_check("gan_step", ref_gan_training_step, _STEP_MESSAGES, rtol=1e-4, atol=1e-5),
            cases=_tagged([scenario_case("public-1", "gan_step", [0, 8]),
                           scenario_case("held-1", "gan_step", [5, 6], public=False)],
                          ("behaviour", "gradients", "side-effects", "value")),
            expected="one D step (real -> 1, detached fakes -> 0), then one G step through the updated D with "
                     "the non-saturating loss; returns {'loss_d': float, 'loss_g': float}.",
            hint='which update may reach which network, and in what order? genlab.hint("gan_training_step", 2).',
            ),
        Item(
            name="hinge_discriminator_loss",
            diagnose=_probe("hinge_discriminator_loss", torch.tensor([2.0, -0.5]), torch.tensor([-3.0, 0.5])),
            points=2,
            reference="genlab.exercises.lab04.hinge_discriminator_loss", check=_scalar_same_dtype,
            cases=_hinge_d_cases(),
            expected="mean(relu(1 - D(real))) + mean(relu(1 + D(fake))): each batch averaged on its own, a 0-d "
                     "tensor in the logits' dtype, differentiable in both.",
            hint='what does a real image with a logit far above the margin cost? genlab.hint("hinge_discriminator_loss", 2).',
        ),
        Item(
            name="hinge_generator_loss", diagnose=_probe("hinge_generator_loss", torch.tensor([2.0, -0.5])),
            points=1,
            reference="genlab.exercises.lab04.hinge_generator_loss", check=_scalar_same_dtype,
            cases=_hinge_g_cases(),
            expected="-mean(D(G(z))): a 0-d tensor in the logits' dtype, no margin, differentiable.",
            hint='does the generator stop at the margin? genlab.hint("hinge_generator_loss", 2).',
        ),
    ],
)
