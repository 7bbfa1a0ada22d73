"""Exercise entries of lab 03: the contract, cases, probes and mistakes of each graded item.

Grading spec of lab 03 (GAN theory): discriminator_loss, generator_loss, optimal_discriminator.

The student check's probes:

Checks for lab 03 (GAN theory): discriminator_loss, generator_loss, optimal_discriminator.

Each check compares with ``genlab.losses`` on small seeded logits and, when the
answer is off, recognises the classic mistakes (labels swapped, sigmoid applied
before a with-logits loss, sum instead of mean, the saturating loss returned
for the non-saturating one) to name them in the hint.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import losses
from .. import losses as _lib_losses
from ._core import Call, Case, Item, Mistakes, build_lab, layout_cases, on_meta, rand, randn
from ._core import preview as _preview
from ._student import call, expect_close, expect_tensor, fail
from .challenges import Challenge


def _logits(seed: int, n: int, scale: float = 2.0, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(n, generator=g, dtype=torch.float64) + shift).float()


def _bce(logits: torch.Tensor, target: float, reduction: str = "mean") -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target), reduction=reduction)


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5)


def _scalar(name: str, value: object) -> torch.Tensor:
    """The loss must be a 0-d tensor that still carries the graph."""
    if isinstance(value, float):
        fail(name, "a 0-d tensor (so back-propagation can start from it)", "a Python float",
             "do not turn the loss into a Python number: the optimiser needs the graph.")
    out = expect_tensor(name, value)
    if out.dim() != 0:
        fail(name, "a scalar (0-d tensor): the mean over the batch", f"shape {tuple(out.shape)}",
             "reduce with the mean over the batch (not per-example losses).")
    return out


def _diagnose(name: str, got: torch.Tensor, want: torch.Tensor, mistakes: dict[str, torch.Tensor],
              default_hint: str) -> None:
    """Fail with the hint of the first known mistake that ``got`` matches, else the default hint."""
    if _close(got, want):
        return
    for hint, wrong in mistakes.items():
        if _close(got, wrong):
            expect_close(name, got, want, hint)
    expect_close(name, got, want, default_hint)


def _diagnose_discriminator_loss(fn) -> str | None:
    """``discriminator_loss(d_real_logits, d_fake_logits)``: BCE(real -> 1) + BCE(fake -> 0), batch means."""
    name = "discriminator_loss"
    for seed, (n_real, n_fake) in enumerate([(8, 8), (6, 10)]):
        real, fake = _logits(10 + seed, n_real, shift=1.0), _logits(20 + seed, n_fake, shift=-1.0)
        real_in = real.clone().requires_grad_(True)
        fake_in = fake.clone().requires_grad_(True)
        out = _scalar(name, call(name, fn, real_in, fake_in))
        want = losses.discriminator_loss(real, fake)
        mistakes = {
            "real and fake labels are swapped: real logits must be compared with 1 (ones_like), "
            "fake logits with 0 (zeros_like).": _bce(real, 0.0) + _bce(fake, 1.0),
            "the logits went through a sigmoid before binary_cross_entropy_with_logits, which applies "
            "its own sigmoid; pass the raw logits.": _bce(torch.sigmoid(real), 1.0) + _bce(torch.sigmoid(fake), 0.0),
            "you summed over the batch; each expectation is a batch mean (reduction='mean').":
                _bce(real, 1.0, "sum") + _bce(fake, 0.0, "sum"),
            "you averaged the two terms (or took one mean over real and fake together); the loss is "
            "the sum of the two batch means.": 0.5 * want,
            "you took one mean over the concatenated real and fake logits; use the mean of each term "
            "and add them.": F.binary_cross_entropy_with_logits(
                torch.cat([real, fake]), torch.cat([torch.ones_like(real), torch.zeros_like(fake)])),
            "this is V(D, G), which D maximises; the loss D minimises is -V.": -want,
        }
        _diagnose(name, out, want, mistakes,
                  "BCE-with-logits of real logits against 1 plus BCE-with-logits of fake logits against 0.")
        if not out.requires_grad:
            fail(name, "a loss connected to the logits (one that requires a gradient)", "a tensor without a graph",
                 "compute the loss with tensor operations on the logits, without detaching or turning values into Python numbers.")
        out.backward()
        if real_in.grad is None or fake_in.grad is None:
            fail(name, "gradients for both the real and the fake logits", "no gradient for one of them",
                 "both terms must depend on their logits.")
    return None


def _diagnose_generator_loss(fn) -> str | None:
    """``generator_loss(d_fake_logits, non_saturating=True)``: NS = BCE(fake -> 1); minimax = -BCE(fake -> 0)."""
    name = "generator_loss"
    fake = _logits(30, 12, scale=3.0, shift=-1.0)
    ns_want = losses.generator_loss(fake, non_saturating=True)
    sat_want = losses.generator_loss(fake, non_saturating=False)
    default = _scalar(name, call(name, fn, fake.clone()))
    _diagnose(name + " (default, non_saturating=True)", default, ns_want, {
        "called with the default you returned the saturating (minimax) loss log(1 - D(G(z))); the default "
        "must be the non-saturating -log D(G(z)) = BCE(fake logits, 1).": sat_want,
        "wrong sign: G wants D(G(z)) -> 1, so it minimises -log D(G(z)), a positive number.": -ns_want,
        "the logits went through a sigmoid before the with-logits loss; pass the raw logits.":
            _bce(torch.sigmoid(fake), 1.0),
        "you summed over the batch; use the batch mean.": _bce(fake, 1.0, "sum"),
        "fake logits compared with 0: that is D's target for fakes, G's target is 1.": _bce(fake, 0.0),
    }, "non-saturating loss: -mean(log sigmoid(logits)) = BCE-with-logits against 1.")
    explicit = _scalar(name, call(name, fn, fake.clone(), non_saturating=True))
    _diagnose(name + " (non_saturating=True)", explicit, ns_want, {
        "with non_saturating=True you returned the saturating loss log(1 - D(G(z))); swap the two branches.":
            sat_want,
    }, "non-saturating loss: -mean(log sigmoid(logits)).")
    sat = _scalar(name, call(name, fn, fake.clone(), non_saturating=False))
    _diagnose(name + " (non_saturating=False)", sat, sat_want, {
        "with non_saturating=False you returned the non-saturating loss; the saturating (minimax) loss "
        "is mean(log(1 - D(G(z)))) = -BCE(fake logits, 0).": ns_want,
        "wrong sign: the minimax G minimises log(1 - D(G(z))), which is negative; it is -BCE(logits, 0).":
            -sat_want,
        "the logits went through a sigmoid before the with-logits loss; pass the raw logits.":
            -_bce(torch.sigmoid(fake), 0.0),
        "you summed over the batch; use the batch mean.": -_bce(fake, 0.0, "sum"),
    }, "saturating loss: mean(log(1 - sigmoid(logits))) = -softplus(logits).mean().")
    # Where D is sure the samples are fake (logit -120: sigmoid underflows to 0 in float32), the
    # non-saturating loss must stay finite and still pull with gradient -1/B per logit.
    confident = torch.full((4,), -120.0, requires_grad=True)
    ns = call(name, fn, confident)
    if isinstance(ns, torch.Tensor) and not torch.isfinite(ns).all():
        fail(name, "a finite loss where D is sure the samples are fake (logits -120)", f"{ns.detach()}",
             "compute log sigmoid stably (a log-sigmoid or BCE-with-logits function), never the log of a sigmoid.")
    ns = _scalar(name, ns)
    if not ns.requires_grad:
        fail(name, "a loss connected to the logits (one that requires a gradient)", "a tensor without a graph",
             "compute the loss with tensor operations, without detaching or turning values into Python numbers.")
    (grad,) = torch.autograd.grad(ns, confident)
    if not torch.isfinite(grad).all() or grad.abs().max() < 0.2:
        fail(name, "a gradient of about -1/B per logit where D rejects the fakes (logit -120)",
             f"{grad.tolist()}", "compute log sigmoid stably (a log-sigmoid or BCE-with-logits "
             "function), never the log of a sigmoid.")
    return None


def _diagnose_optimal_discriminator(fn) -> str | None:
    """``optimal_discriminator(p_data, p_g)``: ``p_data / (p_data + p_g)`` elementwise."""
    name = "optimal_discriminator"
    g = torch.Generator().manual_seed(3)
    p_data = 0.05 + 2 * torch.rand(4, 5, generator=g, dtype=torch.float64)
    p_g = 0.05 + 2 * torch.rand(4, 5, generator=g, dtype=torch.float64)
    out = expect_tensor(name, call(name, fn, p_data.clone(), p_g.clone()), (4, 5))
    want = losses.optimal_discriminator(p_data, p_g)
    _diagnose(name, out, want, {
        "you returned the probability that x is fake, p_g / (p_data + p_g); D*(x) is the probability "
        "that x is real.": p_g / (p_data + p_g),
        "that is the density ratio p_data / p_g; D* divides by the total p_data + p_g.": p_data / p_g,
        "you normalised over all points; D* is computed pointwise, p_data(x) / (p_data(x) + p_g(x)).":
            p_data / (p_data + p_g).sum(),
    }, "D*(x) = p_data(x) / (p_data(x) + p_g(x)), elementwise.")
    if float(out.min()) < 0 or float(out.max()) > 1:
        fail(name, "probabilities in [0, 1]", f"range [{float(out.min()):.3g}, {float(out.max()):.3g}]")
    # Equal densities: D* cannot tell, so it says 1/2 everywhere.
    same = expect_tensor(name, call(name, fn, p_data.clone(), p_data.clone()), (4, 5))
    expect_close(name, same, torch.full((4, 5), 0.5, dtype=torch.float64),
                 "when p_g = p_data the best discriminator outputs 1/2 everywhere.")
    return None


def _ref_js_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The lab-only reference: JS(p || q) in nats over the last axis, with 0 log 0 = 0."""
    m = 0.5 * (p + q)
    return 0.5 * (torch.xlogy(p, p) - torch.xlogy(p, m)).sum(-1) + 0.5 * (torch.xlogy(q, q) - torch.xlogy(q, m)).sum(-1)


def _diagnose_js_divergence(fn) -> str | None:
    """``js_divergence(p, q)``: ``(..., K) -> (...)``; symmetric, 0 for p = q, log 2 for disjoint supports."""
    name = "js_divergence"
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(4, 6, generator=g, dtype=torch.float64), -1)
    q = torch.softmax(torch.randn(4, 6, generator=g, dtype=torch.float64), -1)
    pq = expect_tensor(name, call(name, fn, p.clone(), q.clone()), (4,))
    qp = expect_tensor(name, call(name, fn, q.clone(), p.clone()), (4,))
    if not _close(pq, qp):
        fail(name, "a symmetric divergence: JS(p, q) = JS(q, p)", f"{_preview(pq)} and {_preview(qp)}",
             "both distributions are compared with their mixture, not with each other", level=2)
    same = expect_tensor(name, call(name, fn, p.clone(), p.clone()), (4,))
    expect_close(name, same, torch.zeros(4, dtype=torch.float64), "JS(p, p) = 0: each term compares p with itself")
    a = torch.tensor([[0.5, 0.5, 0.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[0.0, 0.0, 0.25, 0.75]], dtype=torch.float64)
    disjoint = expect_tensor(name, call(name, fn, a, b), (1,))
    if not torch.isfinite(disjoint).all():
        fail(name, "a finite value where probabilities are 0 (0 log 0 = 0)", _preview(disjoint),
             "a zero probability contributes nothing; do not take the log of 0 times 0", level=2)
    expect_close(name, disjoint, torch.full((1,), math.log(2), dtype=torch.float64),
                 "disjoint supports give the largest value, log 2 in nats (the mixture has half of each mass)")
    return None


def _js_call(b: int, k: int, zeros: bool = False):
    def make(g: torch.Generator) -> Call:
        p = torch.softmax(randn(g, b, k, scale=2.0), -1)
        q = torch.softmax(randn(g, b, k, scale=2.0), -1)
        if zeros:  # some exact zeros, renormalised
            p = p * (rand(g, b, k) > 0.4)
            q = q * (rand(g, b, k) > 0.4)
            p[:, 0] = p[:, 0] + 1e-3
            q[:, 1] = q[:, 1] + 1e-3
            p, q = p / p.sum(-1, keepdim=True), q / q.sum(-1, keepdim=True)
        return Call([p, q])
    return make


def _js_disjoint(g: torch.Generator) -> Call:
    k = 6
    p = torch.zeros(2, k)
    q = torch.zeros(2, k)
    p[:, :3] = torch.softmax(randn(g, 2, 3), -1)
    q[:, 3:] = torch.softmax(randn(g, 2, 3), -1)
    return Call([p, q])


def _same_dtype(call: Call, out: dict) -> str | None:
    """The output in the dtype of the first input (float64 in, float64 out)."""
    y, x = out.get("out"), call.args[0]
    if y is not None and isinstance(x, torch.Tensor) and y.dtype != x.dtype:
        return f"dtype {y.dtype}, expected the input's dtype {x.dtype}"
    return None


def _as(make, dtype: torch.dtype):
    def wrapped(g: torch.Generator) -> Call:
        c = make(g)
        return Call([a.to(dtype) if isinstance(a, torch.Tensor) else a for a in c.args], dict(c.kwargs))
    return wrapped


# --------------------------------------------------------------------------- named mistakes
# Wrong implementations students write. Each maps to the pattern (a regular expression
# searched in the message) its student check must fail with; the grader must give it less
# than full marks (tests/unit/test_mistakes.py). Helpers are prefixed _m*_ by origin.

def _mc_bce(logits, target, reduction='mean'):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target), reduction=reduction)


def _mc_solution_g(fake, non_saturating=True):
    return _mc_bce(fake, 1.0) if non_saturating else -_mc_bce(fake, 0.0)


def _mc_flipped_default(fake, non_saturating=False):
    return _mc_solution_g(fake, non_saturating)


_ms_discriminator_loss = _lib_losses.discriminator_loss  # the library reference


_ms_generator_loss = _lib_losses.generator_loss  # the library reference


def _mc_naive_log_d(r, f):
    return -(torch.log(torch.sigmoid(r)).mean() + torch.log(1 - torch.sigmoid(f)).mean())


def _mc_prob_bce_d(r, f):
    return (F.binary_cross_entropy(torch.sigmoid(r), torch.ones_like(r))
            + F.binary_cross_entropy(torch.sigmoid(f), torch.zeros_like(f)))


def _mc_eps_log_d(r, f):
    return -(torch.log(torch.sigmoid(r) + 1e-8).mean() + torch.log(1 - torch.sigmoid(f) + 1e-8).mean())


def _mc_naive_sat_g(f, non_saturating=True):
    return _mc_bce(f, 1.0) if non_saturating else torch.log(1 - torch.sigmoid(f)).mean()


def _mc_js_kl(p, q):
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum(-1)


_MISTAKES: dict[str, Mistakes] = {
    'js_divergence': {
        "check: symmetric (one side only)": (lambda p, q: (torch.xlogy(p, p) - torch.xlogy(p, 0.5 * (p + q))).sum(-1), "symmetric"),
        "check: no mixture (KL of p and q)": (lambda p, q: 0.5 * (_mc_js_kl(p, q) + _mc_js_kl(q, p)), "finite|log 2|expected"),
        "check: 0 log 0 (naive log)": (lambda p, q: 0.5 * (p * (2 * p / (p + q)).log()).sum(-1) + 0.5 * (q * (2 * q / (p + q)).log()).sum(-1), "finite|0 log 0"),
        "check: no 1/2 (twice the JS)": (lambda p, q: 2 * _ref_js_divergence(p, q), "log 2"),
        "check: bits (log base 2)": (lambda p, q: _ref_js_divergence(p, q) / math.log(2), "log 2"),
        "check: graph cut": (lambda p, q: torch.tensor(_ref_js_divergence(p, q).tolist(), dtype=p.dtype), "not connected"),
        "check: float32 (dtype)": (lambda p, q: _ref_js_divergence(p, q).float(), "dtype"),
    },
    'discriminator_loss': {
        "meta: targets made on the CPU (device)": (lambda r, f: F.binary_cross_entropy_with_logits(r, torch.ones(r.shape, dtype=r.dtype)) + F.binary_cross_entropy_with_logits(f, torch.zeros(f.shape, dtype=f.dtype)), "device"),
        "check: log of a sigmoid (extreme)": (_mc_naive_log_d, "extreme"),
        "check: BCE on probabilities (extreme)": (_mc_prob_bce_d, "extreme"),
        "check: epsilon in the log (extreme)": (_mc_eps_log_d, "extreme"),
        "check: one mean over the concatenated": (lambda r, f: F.binary_cross_entropy_with_logits(torch.cat([r, f]), torch.cat([torch.ones_like(r), torch.zeros_like(f)])), "averaged|concatenated"),
        "check: fakes detached (gradients)": (lambda r, f: _mc_bce(r, 1.0) + _mc_bce(f.detach(), 0.0), "gradients for both"),
        "check: float32 (dtype)": (lambda r, f: (_mc_bce(r, 1.0) + _mc_bce(f, 0.0)).float(), "dtype"),
        "check: real logits negated in place (side effects)": (lambda r, f: F.softplus(r.neg_()).mean() + F.softplus(f).mean(), "in.place"),
        "check: labels are swapped": (lambda r, f: _mc_bce(r, 0.0) + _mc_bce(f, 1.0), "labels are swapped"),
        "check: sigmoid": (lambda r, f: _mc_bce(torch.sigmoid(r), 1.0) + _mc_bce(torch.sigmoid(f), 0.0), "sigmoid"),
        "check: summed over the batch": (lambda r, f: _mc_bce(r, 1.0, 'sum') + _mc_bce(f, 0.0, 'sum'), "summed over the batch"),
        "check: averaged the two terms": (lambda r, f: 0.5 * (_mc_bce(r, 1.0) + _mc_bce(f, 0.0)), "averaged the two terms"),
        "check: D maximises": (lambda r, f: -(_mc_bce(r, 1.0) + _mc_bce(f, 0.0)), "D maximises"),
        "check: scalar": (lambda r, f: torch.stack([_mc_bce(r, 1.0), _mc_bce(f, 0.0)]), "scalar"),
        "check: Python float": (lambda r, f: (_mc_bce(r, 1.0) + _mc_bce(f, 0.0)).item(), "Python float"),
        "check: graph": (lambda r, f: (_mc_bce(r, 1.0) + _mc_bce(f, 0.0)).detach(), "graph"),
        "labels swapped": (lambda r, f: _ms_discriminator_loss(f, r), None),
        "fakes labelled real": (lambda r, f: _ms_discriminator_loss(r, -f), None),
        "only the real term": (lambda r, f: F.softplus(-r).mean(), None),
    },
    'generator_loss': {
        "check: the default must be the non-saturating": (_mc_flipped_default, "the default must be the non-saturating"),
        "check: saturating": (lambda f, non_saturating=True: _mc_solution_g(f, not non_saturating), "saturating"),
        "check: wrong sign": (lambda f, non_saturating=True: -_mc_solution_g(f, non_saturating), "wrong sign"),
        "check: sigmoid": (lambda f, non_saturating=True: _mc_solution_g(torch.sigmoid(f), non_saturating), "sigmoid"),
        "check: summed": (lambda f, non_saturating=True: _mc_bce(f, 1.0, 'sum') if non_saturating else -_mc_bce(f, 0.0, 'sum'), "summed"),
        "check: G's target is 1": (lambda f, non_saturating=True: _mc_bce(f, 0.0), "G's target is 1"),
        "check: stabl": (lambda f, non_saturating=True: -torch.log(torch.sigmoid(f)).mean() if non_saturating else torch.log(1 - torch.sigmoid(f)).mean(), "stabl"),
        "check: log of one minus a sigmoid (extreme)": (_mc_naive_sat_g, "extreme"),
        "check: BCE on probabilities (extreme)": (lambda f, non_saturating=True: F.binary_cross_entropy(torch.sigmoid(f), torch.ones_like(f)) if non_saturating else -F.binary_cross_entropy(torch.sigmoid(f), torch.zeros_like(f)), "extreme|gradient"),
        "check: float32 (dtype)": (lambda f, non_saturating=True: _mc_solution_g(f, non_saturating).float(), "dtype"),
        "saturating by default": (lambda f, non_saturating=True: _ms_generator_loss(f, not non_saturating), None),
        "ignores the flag": (lambda f, non_saturating=True: _ms_generator_loss(f, True), None),
        "sign error": (lambda f, non_saturating=True: -_ms_generator_loss(f, non_saturating), None),
    },
    'optimal_discriminator': {
        "check: probability that x is real": (lambda p, q: q / (p + q), "probability that x is real"),
        "check: density ratio": (lambda p, q: p / q, "density ratio"),
        "check: pointwise": (lambda p, q: p / (p + q).sum(), "pointwise"),
        "check: shape": (lambda p, q: (p / (p + q)).mean(0), "shape"),
        "check: epsilon in the denominator (extreme)": (lambda p, q: p / (p + q + 1e-8), "extreme"),
        "check: float32 (dtype)": (lambda p, q: (p / (p + q)).float(), "dtype"),
        "inverted": (lambda pd, pg: pg / (pd + pg), None),
        "ratio": (lambda pd, pg: pd / pg, None),
    },
}


# --------------------------------------------------------------------------- the entry (grading contract)


def _pair(b: int, scale: float, shift: float = 0.0):
    return lambda g: Call([randn(g, b, scale=scale) + shift, randn(g, b, scale=scale) - shift])


def _fake(b: int, scale: float, **kw):
    return lambda g: Call([randn(g, b, scale=scale)], dict(kw))


def _densities(shape: tuple[int, ...]):
    return lambda g: Call([rand(g, *shape, low=0.05, high=2.0), rand(g, *shape, low=0.05, high=2.0)])


def _tiny_densities(g: torch.Generator) -> Call:
    """Densities of 1e-30 .. 1e-12 (the tails of a distribution) and an exact 0: D* is still their ratio."""
    p = torch.exp(rand(g, 8, low=-69.0, high=-27.0)).double()
    q = torch.exp(rand(g, 8, low=-69.0, high=-27.0)).double()
    p[0] = 0.0
    return Call([p, q])


def _extreme_pair(g: torch.Generator) -> Call:
    """Logits of +-30 and +-120 for both players: confident right and confident wrong."""
    vals = torch.tensor([30.0, 120.0, -30.0, -120.0])
    real = vals[torch.randperm(4, generator=g)].repeat(2)
    fake = vals[torch.randperm(4, generator=g)].repeat(2)
    return Call([real, fake])


def _extreme_fake(non_saturating: bool):
    def make(g: torch.Generator) -> Call:
        vals = torch.tensor([30.0, 120.0, -30.0, -120.0, 0.5])
        return Call([vals[torch.randperm(5, generator=g)]], {"non_saturating": non_saturating})
    return make


def _pair_sizes(n_real: int, n_fake: int, scale: float):
    return lambda g: Call([randn(g, n_real, scale=scale) + 0.5, randn(g, n_fake, scale=scale) - 0.5])


# --------------------------------------------------------------------------- challenge
# The lab's challenge (gradebook column c_...): genlab.exercises.challenges measures the saved model.
CHALLENGE = Challenge(
    lab="03", cid="c_modes", title="a toy GAN generator that covers the 8 modes of the ring",
    models=("toy_gan",), metric="toy_modes", unit="modes covered (of 8)", thresholds=(4.0, 6.0, 8.0),
    higher_is_better=True, fixed={}, max_params=200_000, n=2000)


# --------------------------------------------------------------------------- the entries
LAB = build_lab("03_gan_theory", "GAN theory", mistakes=_MISTAKES, namespace=globals(), items=[
        Item(
            name="discriminator_loss", points=3,
            reference="genlab.losses.discriminator_loss",
            cases=[
                Case("public-1", _pair(8, 1.0, 0.5), tags=("value", "side-effects")),
                *layout_cases(_pair(8, 1.0, 0.5), noncontig=False),
                Case("public-extreme", _extreme_pair, tags=("extreme",)),
                Case("public-float64", _as(_pair(6, 2.0), torch.float64), tags=("device-dtype",)),
                Case("held-1", _pair(32, 3.0, 1.0), public=False),
                Case("held-2", _pair(5, 0.5, -0.5), public=False),
                Case("held-unequal", _pair_sizes(6, 10, 2.0), public=False, tags=("shape",)),
                Case("held-batch1", _pair_sizes(1, 1, 2.0), public=False, tags=("shape",)),
                Case("held-grad", _pair(8, 1.0, 0.5), public=False, options={"grad": [0, 1]}, tags=("gradients",)),
                Case("held-extreme", _pair(8, 60.0), public=False, tags=("extreme",)),
                Case("held-extreme-2", _extreme_pair, public=False, options={"grad": [0, 1]},
                     tags=("extreme", "gradients")),
                Case("held-float64", _as(_pair(9, 3.0), torch.float64), public=False, tags=("device-dtype",)),
            ],
            check=lambda call, out, ref: _same_dtype(call, out),
            expected="BCE-with-logits of real logits against 1 plus BCE-with-logits of fake logits "
                     "against 0, each averaged over the batch (a scalar).",
            hint="real samples are labelled 1 and fakes 0; the binary cross-entropy computed from the logits "
                 "for each, averaged, then the two means added.",
        ),
        Item(
            name="generator_loss", points=3,
            reference="genlab.losses.generator_loss",
            cases=[
                Case("public-default", _fake(8, 2.0)),
                Case("public-meta", on_meta(_fake(8, 2.0)), tags=("device-dtype",)),
                Case("held-meta", on_meta(_fake(5, 1.0)), public=False, tags=("device-dtype",)),
                Case("public-saturating", _fake(8, 2.0, non_saturating=False)),
                Case("held-ns", _fake(16, 3.0, non_saturating=True), public=False),
                Case("held-sat", _fake(16, 3.0, non_saturating=False), public=False),
                Case("held-extreme-ns", _fake(8, 60.0, non_saturating=True), public=False, tags=("extreme",)),
                Case("held-extreme-sat", _fake(8, 60.0, non_saturating=False), public=False, tags=("extreme",)),
                Case("public-extreme-ns", _extreme_fake(True), tags=("extreme",)),
                Case("public-extreme-sat", _extreme_fake(False), tags=("extreme",)),
                Case("public-float64", _as(_fake(6, 2.0), torch.float64), tags=("device-dtype",)),
                Case("held-grad-ns", _extreme_fake(True), public=False, options={"grad": [0]},
                     tags=("extreme", "gradients")),
                Case("held-batch1", _fake(1, 2.0), public=False, tags=("shape",)),
                Case("held-grad-sat", _fake(8, 2.0, non_saturating=False), public=False, options={"grad": [0]},
                     tags=("gradients",)),
                Case("held-float64", _as(_fake(7, 3.0, non_saturating=False), torch.float64), public=False,
                     tags=("device-dtype",)),
            ],
            check=lambda call, out, ref: _same_dtype(call, out),
            expected="non-saturating (the default): -mean(log D(G(z))) = BCE(fake logits, 1); "
                     "saturating: mean(log(1 - D(G(z)))) = -BCE(fake logits, 0).",
            hint="the saturating loss is the minimax one, log(1 - D); it is negative. The default "
                 "must be the non-saturating loss.",
        ),
        Item(
            name="optimal_discriminator", points=2,
            reference="genlab.losses.optimal_discriminator",
            cases=[
                Case("public-1", _densities((6,))),
                *layout_cases(_densities((6,)), noncontig=False),
                Case("public-tiny", _tiny_densities, tags=("extreme", "device-dtype")),
                Case("held-1", _densities((4, 5)), public=False),
                Case("held-tiny", _tiny_densities, public=False, tags=("extreme", "device-dtype")),
                Case("held-shape", _densities((2, 3, 4)), public=False, tags=("shape",)),
            ],
            check=lambda call, out, ref: _same_dtype(call, out),
            expected="D*(x) = p_data(x) / (p_data(x) + p_g(x)), elementwise.",
            hint="D* is the probability that x came from the data: the data density over the total.",
            rtol=1e-5, atol=1e-6,
        ),
        Item(
            name="js_divergence", points=2,
            reference="genlab.exercises.lab03._ref_js_divergence",
            check=lambda call, out, ref: _same_dtype(call, out),
            cases=[
                Case("public-1", _js_call(4, 5)),
                *layout_cases(_js_call(4, 5), noncontig=False),
                Case("public-zeros", _js_call(3, 6, zeros=True), tags=("extreme",)),
                Case("public-grad", _js_call(2, 4), options={"grad": [0, 1]}, tags=("gradients",)),
                Case("public-float64", _as(_js_call(3, 4), torch.float64), tags=("device-dtype",)),
                Case("held-1", _js_call(8, 10), public=False),
                Case("held-disjoint", _js_disjoint, public=False, tags=("extreme",)),
                Case("held-zeros", _js_call(5, 7, zeros=True), public=False, tags=("extreme",)),
                Case("held-batch1", _js_call(1, 3), public=False, tags=("shape",)),
                Case("held-float64", _as(_js_call(4, 6), torch.float64), public=False, options={"grad": [0, 1]},
                     tags=("device-dtype", "gradients")),
            ],
            expected="JS(p || q) = KL(p || m) / 2 + KL(q || m) / 2 with m = (p + q) / 2, in nats, over the last "
                     "axis; 0 log 0 = 0; in the inputs' dtype, differentiable.",
            hint="compare each distribution with the mixture m, weight each comparison by one half, and let "
                 "zero probabilities contribute nothing.",
            rtol=1e-5, atol=1e-6,
        ),
    ],
)
