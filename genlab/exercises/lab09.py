"""Exercise entries of lab 09: the contract, cases, probes and mistakes of each graded item.

Grading spec of lab 09 (debugging): the thirteen fixed functions and the stretch detector
dead_units (per-layer share of dead ReLU units, no side effects), graded on behaviour.

Pure tensor functions are compared with closed forms on fresh inputs; the ones
that take modules or optimisers run a seeded scenario
(:mod:`genlab.exercises.scenarios`) and must behave like the reference fix: the
same weights after the step, the generator untouched, the model's mode
restored, no shared parameters.

The student check's probes:

Checks for lab 09 (debugging): each one tests behaviour and explains the SYMPTOM of its bug.

The messages say what goes wrong when the bug is present (what a person would see in a
training run), not how to fix it: finding the fix is the exercise. :func:`genlab.checks.lab09.show_symptom`
runs a check on the broken version and prints the failure instead of raising, so the lab
can show every symptom and still run top to bottom.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from ._core import Call, Case, Item, Mistakes, build_lab, layout_cases, randn
from ._student import FAIL_MARK, CheckFailed, call, expect_close, expect_tensor, fail
from .challenges import Challenge
from .scenarios import (
    DeadMLP,
    Noisy,
    Tiny9D,
    Tiny9G,
    dead_unit_names,
    ref_discriminator_update,
    ref_ema_copy,
    ref_predict,
    ref_row_rnn,
    scenario_case,
    scenario_check,
    scenario_item,
)

# ------------------------------------------------------------------ 1. flat output -> image

def _diagnose_fixed_generator_output(fn) -> str | None:
    """``fn(flat, channels, size)``: ``(B, C*size*size) -> (B, C, size, size)``, image b from row b."""
    name = "fixed_generator_output"
    b, c, s = 4, 3, 5
    images = torch.rand(b, c, s, s, generator=torch.Generator().manual_seed(0))
    flat = images.flatten(1)
    out = call(name, fn, flat, c, s)
    if isinstance(out, torch.Tensor) and out.shape[0] != b:
        fail(name, f"a batch of {b} images", f"a batch of {out.shape[0]} images of shape {tuple(out.shape[1:])}",
             "symptom: the batch grew; each colour plane became its own gray image, so every loss averages "
             "over the wrong number of samples and labels no longer line up with images.")
    out = expect_tensor(name, out, (b, c, s, s))
    expect_close(name, out, images,
                 "symptom: the right shape with scrambled pixels: the samples look like noise or stripes "
                 "even though the generator's numbers are fine.")
    return None


# ------------------------------------------------------------------ 2. D labels

def _ref_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def _diagnose_fixed_discriminator_loss(fn) -> str | None:
    """``fn(d_real_logits, d_fake_logits) -> scalar`` BCE with real labelled 1 and fake labelled 0."""
    name = "fixed_discriminator_loss"
    g = torch.Generator().manual_seed(0)
    d_real = torch.randn(6, generator=g).requires_grad_(True)
    d_fake = torch.randn(5, generator=g).requires_grad_(True)
    loss = expect_tensor(name, call(name, fn, d_real, d_fake), ())
    if not loss.requires_grad:
        fail(name, "a differentiable loss", "no gradient", "symptom: the discriminator never changes.")
    loss.backward()
    if d_fake.grad is None or bool((d_fake.grad <= 0).any()):
        fail(name, "a gradient step that LOWERS the logits of fakes", "it raises them (or leaves them)",
             "symptom: D learns to call everything real; D(G(z)) climbs towards 1, the generator gets no "
             "useful signal and its samples never improve.")
    if d_real.grad is None or bool((d_real.grad >= 0).any()):
        fail(name, "a gradient step that RAISES the logits of real images", "it lowers them",
             "symptom: D learns to call real images fake.")
    expect_close(name, loss.detach(), _ref_d_loss(d_real.detach(), d_fake.detach()),
                 "symptom: the loss value differs from BCE with real = 1 and fake = 0 (mean over each batch).")
    return None


# ------------------------------------------------------------------ 3. KL sign

def _diagnose_fixed_kl_divergence(fn) -> str | None:
    """``fn(mu, logvar) -> (B,)`` KL(N(mu, sigma^2) || N(0, I)), summed over latent dimensions."""
    name = "fixed_kl_divergence"
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    out = expect_tensor(name, call(name, fn, mu, logvar), (5,))
    if bool((out < 0).any()):
        fail(name, "KL >= 0 for every example (a divergence is never negative)",
             f"values such as {out.min().item():.3f}",
             "symptom: minimising the ELBO loss now REWARDS moving the posterior away from the prior: "
             "mu and logvar grow without bound, the loss heads to minus infinity, samples from the prior "
             "are garbage.")
    zero = expect_tensor(name, call(name, fn, torch.zeros(2, 3), torch.zeros(2, 3)), (2,))
    expect_close(name, zero, torch.zeros(2), "symptom: KL of the prior from itself is not 0.")
    want = 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(1)
    expect_close(name, out, want, "symptom: the value differs from the closed form (check it by Monte Carlo).")
    return None


# ------------------------------------------------------------------ 4. RNN over a feature map

def _diagnose_fixed_row_rnn(fn) -> str | None:
    """``fn(rnn, feat) -> (B, D*hidden, H, W)``: a batch_first (Bi)GRU run along every feature-map row."""
    name = "fixed_row_rnn"
    torch.manual_seed(0)
    rnn = nn.GRU(3, 4, batch_first=True, bidirectional=True)
    feat = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(1))
    try:
        out = call(name, fn, rnn, feat)
    except CheckFailed as exc:
        if "not implemented" in str(exc):
            raise
        fail(name, "a (B, 2*hidden, H, W) map", str(exc).splitlines()[0].replace(FAIL_MARK + " ", ""),
             "symptom: the GRU refuses the input: it reads a batch of sequences (N, L, F), one 3-D tensor, "
             "and a feature map has 4 dimensions.")
    out = expect_tensor(name, out, (2, 8, 4, 5))
    seq = feat.permute(0, 2, 3, 1).reshape(8, 5, 3)
    ref, _ = rnn(seq)
    want = ref.reshape(2, 4, 5, 8).permute(0, 3, 1, 2)
    expect_close(name, out.detach(), want.detach(),
                 "symptom: a GRU reads (N, L, F) sequences; a 4-D map, or one flattened the wrong way, "
                 "either crashes or is read as sequences that mix channels, rows and images.")
    return None


# ------------------------------------------------------------------ 5. sigmoid before BCE-with-logits

def _diagnose_fixed_bce_loss(fn) -> str | None:
    """``fn(logits, targets) -> scalar`` mean binary cross-entropy of logits (no sigmoid outside)."""
    name = "fixed_bce_loss"
    confident = torch.tensor([20.0, -20.0, 20.0])
    targets = torch.tensor([1.0, 0.0, 1.0])
    low = expect_tensor(name, call(name, fn, confident, targets), ())
    if float(low) > 1e-3:
        fail(name, "a loss near 0 for confident, correct predictions (logit +20 on target 1)",
             f"{float(low):.3f}",
             "symptom: the loss can never go below about 0.31 and its gradients are squashed: the "
             "model's 'probabilities' never leave (0.5, 0.73), however confident its logits.")
    g = torch.Generator().manual_seed(0)
    logits, t = torch.randn(7, generator=g) * 3, (torch.rand(7, generator=g) < 0.5).float()
    expect_close(name, expect_tensor(name, call(name, fn, logits, t), ()),
                 F.binary_cross_entropy_with_logits(logits, t),
                 "symptom: the value differs from the mean BCE of sigmoid(logits) against the targets.")
    return None


# ------------------------------------------------------------------ 6. detach the fakes

_TinyG, _TinyD = Tiny9G, Tiny9D  # the grader's scenario networks, so the check probes the same ones


def _diagnose_fixed_discriminator_update(fn) -> str | None:
    """``fn(generator, discriminator, opt_d, z, real) -> loss``: one D step on real and fake, G untouched."""
    name = "fixed_discriminator_update"
    torch.manual_seed(0)
    gen, disc = _TinyG(), _TinyD()
    opt_d = torch.optim.SGD(disc.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(0)
    z, real = torch.randn(16, 2, generator=g), torch.randn(16, 3, generator=g) + 2
    g_before = copy.deepcopy(gen.state_dict())
    d_before = copy.deepcopy(disc.state_dict())
    with torch.no_grad():
        want = _ref_d_loss(disc(real), disc(gen(z)))
    loss = call(name, fn, gen, disc, opt_d, z, real)
    loss = torch.as_tensor(loss).detach() if not isinstance(loss, float) else torch.tensor(loss)
    expect_close(name, loss.reshape(()), want, "return the discriminator loss (real = 1, fake = 0) before the step.")
    leaked = [n for n, p in gen.named_parameters() if p.grad is not None and bool(p.grad.abs().sum() > 0)]
    if leaked:
        fail(name, "no gradient in the generator after a discriminator update",
             f"gradients in generator parameters {leaked[:2]}",
             "symptom: the D loss backpropagates through G: wasted compute and memory, and if the G step "
             "does not zero its gradients first, G gets pushed to HELP the discriminator.")
    if any(not torch.equal(v, gen.state_dict()[k]) for k, v in g_before.items()):
        fail(name, "the generator unchanged by a D update", "G's weights changed",
             "symptom: the discriminator step also trains the generator.")
    if all(torch.equal(v, disc.state_dict()[k]) for k, v in d_before.items()):
        fail(name, "the discriminator updated", "D's weights unchanged", "symptom: D never learns.")
    return None


# ------------------------------------------------------------------ 7. eval mode

#: Dropout and batch norm: the two layers whose behaviour differs between train and eval.
_Noisy = Noisy


def _diagnose_fixed_predict(fn) -> str | None:
    """``fn(model, x) -> outputs`` in evaluation behaviour, without gradients, model's mode restored."""
    name = "fixed_predict"
    torch.manual_seed(0)
    model = _Noisy()
    with torch.no_grad():  # give batch norm some running statistics
        model.train()
        for _ in range(3):
            model(torch.randn(32, 4) * 2 + 1)
    model.train()
    stats = copy.deepcopy(model.net[1].state_dict())
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    a = expect_tensor(name, call(name, fn, model, x), (8, 2))
    b = expect_tensor(name, call(name, fn, model, x), (8, 2))
    if not torch.equal(a, b):
        fail(name, "the same outputs for the same input", "different outputs on two calls",
             "symptom: dropout is still active; evaluation numbers jitter from run to run and are worse "
             "than the model really is.")
    left_in_eval = not model.training
    if any(not torch.equal(v, model.net[1].state_dict()[k]) for k, v in stats.items()):
        fail(name, "batch-norm running statistics untouched by predictions", "they changed",
             "symptom: evaluating the test set silently changes the model (batch norm keeps learning).")
    model.eval()
    with torch.no_grad():
        want = model(x)
    model.train()
    expect_close(name, a, want, "symptom: outputs differ from the model's evaluation behaviour.")
    if a.requires_grad:
        fail(name, "outputs without a graph", "outputs that require grad",
             "symptom: memory grows during evaluation: every prediction keeps its autograd graph.")
    if left_in_eval:
        fail(name, "the model back in training mode afterwards", "the model left in eval mode",
             "symptom: training after an evaluation silently runs without dropout / with frozen batch norm.")
    return None


# ------------------------------------------------------------------ 8. weights shared by accident

def _diagnose_fixed_ema_copy(fn) -> str | None:
    """``fn(model) -> nn.Module``: an independent copy with equal weights (an EMA/teacher network)."""
    name = "fixed_ema_copy"
    torch.manual_seed(0)
    model = _TinyG()
    ema = call(name, fn, model)
    if not isinstance(ema, nn.Module):
        fail(name, "a network module", type(ema).__name__)
    shared = {p.data_ptr() for p in model.parameters()} & {p.data_ptr() for p in ema.parameters()}
    if ema is model or shared:
        fail(name, "two networks with separate parameters", "networks that share parameter storage",
             "symptom: the 'average' network is the training network: every optimiser step moves both, the "
             "moving average does nothing, and sampling from it shows the noisy latest weights.")
    for (k, v), (k2, v2) in zip(model.state_dict().items(), ema.state_dict().items(), strict=False):
        if k != k2 or not torch.equal(v, v2):
            fail(name, "the copy starts with the same weights", f"different values in {k2}",
                 "symptom: the copy is a fresh, untrained network.")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    if any(math.isclose(float((p - q).detach().abs().max()), 0.0) for p, q in zip(model.parameters(), ema.parameters(),
                                                                         strict=True)):
        fail(name, "the copy unchanged when the original is updated", "it moved too",
             "symptom: the two networks share weights.")
    return None


# --------------------------------------------------------------------------- named mistakes
# Wrong implementations students write. Each maps to the pattern (a regular expression
# searched in the message) its student check must fail with; the grader must give it less
# than full marks (tests/unit/test_mistakes.py). Helpers are prefixed _m*_ by origin.

def _ms_discriminator_loss(d_real_logits, d_fake_logits):
    return F.binary_cross_entropy_with_logits(d_real_logits, torch.ones_like(d_real_logits)) + F.binary_cross_entropy_with_logits(d_fake_logits, torch.zeros_like(d_fake_logits))


def _ms_kl_divergence(mu, logvar):
    return -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp(), dim=1)


def _ms_rows_to_sequences(feat):
    b, c, h, w = feat.shape
    return feat.permute(0, 2, 3, 1).reshape(b * h, w, c)


def _ms_sequences_to_rows(seq, batch, height):
    return seq.reshape(batch, height, seq.shape[1], seq.shape[2]).permute(0, 3, 1, 2)


def _ms_fixed_row_rnn(rnn, feat):
    b, c, h, w = feat.shape
    out, _ = rnn(_ms_rows_to_sequences(feat))
    return _ms_sequences_to_rows(out, b, h)


def _ms_d_step(discriminator, opt_d, real, fake):
    """One SGD step of D on real (1) and ``fake`` (0); whether G gets gradients is the caller's fakes'."""
    loss = _ms_discriminator_loss(discriminator(real), discriminator(fake))
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss.detach()


def _ms_update_no_detach(generator, discriminator, opt_d, z, real):
    return _ms_d_step(discriminator, opt_d, real, generator(z))


def _ms_fixed_discriminator_update(generator, discriminator, opt_d, z, real):
    with torch.no_grad():
        fake = generator(z)
    return _ms_d_step(discriminator, opt_d, real, fake)


def _ms_update_loss_after(generator, discriminator, opt_d, z, real):
    _ms_fixed_discriminator_update(generator, discriminator, opt_d, z, real)
    with torch.no_grad():
        return _ms_discriminator_loss(discriminator(real), discriminator(generator(z)))


def _ms_predict_no_eval(model, x):
    with torch.no_grad():
        return model(x)


def _ms_predict_stays_eval(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)


def _ms_fixed_predict(model, x):
    mode = model.training
    model.eval()
    with torch.inference_mode():
        out = model(x)
    model.train(mode)
    return out.clone()


def _ms_predict_forces_train(model, x):
    out = _ms_fixed_predict(model, x)
    model.train()
    return out


def _ms_predict_with_graph(model, x):
    was = model.training
    model.eval()
    out = model(x)
    model.train(was)
    return out


def _ms_ema_same_object(model):
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _ms_ema_fresh(model):
    ema = type(model)()
    return ema.requires_grad_(False)


def _ms_ema_not_frozen(model):
    import copy
    return copy.deepcopy(model)


def _ms_ema_shares(model):
    import copy
    ema = copy.deepcopy(model)
    for (_, p), (_, q) in zip(ema.named_parameters(), model.named_parameters(), strict=True):
        p.data = q.data
    return ema.requires_grad_(False)


def _mo_grad_leak_update(gen, disc, opt_d, z, real):
    fake = gen(z)
    loss = F.softplus(-disc(real)).mean() + F.softplus(disc(fake)).mean()
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss.detach()


# ================================================================== bugs of code found online (issue 15, section 7)
# Five bug classes of a widely copied TF1 tutorial, rewritten as the course's own PyTorch
# functions. Each check reports what a person would see in the training run.

# ------------------------------------------------------------------ 9. fakes fed in as the "real" images

def _ref_discriminator_batch(real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.cat([real, fake.to(real.dtype)], dim=0)
    labels = torch.cat([real.new_ones(real.shape[0]), real.new_zeros(fake.shape[0])])
    return x, labels


def _diagnose_fixed_discriminator_batch(fn) -> str | None:
    """``fn(real, fake) -> (images, labels)``: the data first (label 1), then the fakes (label 0)."""
    name = "fixed_discriminator_batch"
    g = torch.Generator().manual_seed(0)
    real = torch.rand(4, 3, 5, 6, generator=g)
    fake = torch.rand(3, 3, 5, 6, generator=g) * 0.1 - 0.5  # fakes look nothing like the data
    out = call(name, fn, real, fake)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(name, "a pair (images, labels)", type(out).__name__)
    x, labels = expect_tensor(name, out[0], (7, 3, 5, 6)), expect_tensor(name, out[1], (7,))
    if not torch.equal(x[:4], real):
        fail(name, "the first rows of the batch to be the training images, unchanged",
             "rows that are not the data (generated images, or noise)",
             "symptom: the discriminator is asked to tell fakes from fakes: its loss sits near 2 ln 2 = 1.39 "
             "from the first step, D(x) and D(G(z)) stay at 0.5, and the generator never learns what the "
             "data looks like.")
    if not torch.equal(x[4:], fake):
        fail(name, "the generated images after the real ones", "other rows",
             "symptom: the discriminator never sees what it should reject.")
    if not torch.equal(labels, torch.tensor([1.0] * 4 + [0.0] * 3)):
        fail(name, "label 1 for every real image, 0 for every fake", f"labels {labels.tolist()}",
             "symptom: D is rewarded for the wrong answer on part of the batch.")
    return None


# ------------------------------------------------------------------ 10. training on uniform noise

def _diagnose_fixed_training_batch(fn) -> str | None:
    """``fn(images, batch_size) -> (batch_size, C, H, W)``: a batch of rows of ``images`` drawn at random."""
    name = "fixed_training_batch"
    g = torch.Generator().manual_seed(0)
    images = torch.rand(40, 1, 4, 5, generator=g) * 0.5 + 0.25
    torch.manual_seed(1)
    a = expect_tensor(name, call(name, fn, images, 8), (8, 1, 4, 5))
    flat = images.flatten(1)
    member = (a.flatten(1)[:, None, :] == flat[None]).all(-1).any(-1)
    if not bool(member.all()):
        fail(name, "every image of the batch taken from the training set",
             f"{int((~member).sum())} of 8 images found nowhere in the data",
             "symptom: the model is trained on static: the reconstructions converge to a flat gray (the "
             "noise's mean), the loss plateaus at the noise's variance (1/3 for values uniform in [-1, 1]), "
             "and nothing of the data is ever learnt, however long it runs.")
    b = call(name, fn, images, 8)
    if torch.equal(a, b):
        fail(name, "a different batch on each call", "the same images twice",
             "symptom: the model sees the same few images every step and memorises them.")
    if a.dtype != images.dtype:
        fail(name, f"the data's dtype {images.dtype}", f"{a.dtype}")
    return None


def _check_training_batch(call_: Call, outputs: dict[str, torch.Tensor], ref) -> str | None:  # noqa: ARG001
    images, batch = call_.args[0], int(call_.args[1])
    out = outputs.get("out")
    if out is None or tuple(out.shape) != (batch, *images.shape[1:]):
        return f"expected a batch of shape {(batch, *images.shape[1:])}, got {None if out is None else tuple(out.shape)}"
    if out.dtype != images.dtype:
        return f"expected the data's dtype {images.dtype}, got {out.dtype}"
    member = (out.flatten(1)[:, None, :] == images.flatten(1)[None]).all(-1).any(-1)
    if not bool(member.all()):
        return f"{int((~member).sum())} of {batch} images are not training images"
    if batch > 1 and images.shape[0] >= 4 * batch and torch.equal(out, images[:batch]):
        return "the batch is always the first images of the set: draw it at random"
    return None


# ------------------------------------------------------------------ 11. one loss for both players

def _ref_gan_losses(d_real: torch.Tensor, d_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    d_loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    g_loss = F.softplus(-d_fake).mean()
    return d_loss, g_loss


def _diagnose_fixed_gan_losses(fn) -> str | None:
    """``fn(d_real, d_fake) -> (d_loss, g_loss)``: each player its own objective, in logits."""
    name = "fixed_gan_losses"
    g = torch.Generator().manual_seed(0)
    d_real = torch.randn(6, generator=g).requires_grad_(True)
    d_fake = torch.randn(5, generator=g).requires_grad_(True)
    out = call(name, fn, d_real, d_fake)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(name, "a pair (d_loss, g_loss)", type(out).__name__)
    d_loss, g_loss = expect_tensor(name, out[0], ()), expect_tensor(name, out[1], ())
    if not g_loss.requires_grad:
        fail(name, "a generator loss with a gradient", "no gradient", "symptom: the generator never changes.")
    gr, gf = torch.autograd.grad(g_loss, [d_real, d_fake], allow_unused=True)
    if gf is None or bool((gf >= 0).any()):
        fail(name, "a generator loss that falls when D finds the fakes MORE real",
             "it falls when D rejects them",
             "symptom: both players minimise the same number, so the generator helps the discriminator: "
             "D wins within a few hundred steps, D(G(z)) goes to 0 and the samples get worse as training "
             "goes on.")
    if gr is not None and bool((gr != 0).any()):
        fail(name, "a generator loss that does not depend on D's scores of real images",
             "it changes with them",
             "symptom: the generator's updates are pushed around by a term it cannot influence.")
    expect_close(name, g_loss.detach(), F.softplus(-d_fake.detach()).mean(),
                 "symptom: early in training, when D rejects the fakes confidently, this generator loss "
                 "gives almost no gradient (the saturating form) and the samples stop improving.")
    expect_close(name, d_loss.detach(), _ref_d_loss(d_real.detach(), d_fake.detach()),
                 "symptom: the discriminator's loss differs from BCE with real = 1 and fake = 0.")
    ext = torch.tensor([-120.0, -30.0, 30.0, 120.0])
    out = call(name, fn, ext, ext.flip(0))
    for i, v in enumerate(out):
        if not bool(torch.isfinite(torch.as_tensor(v)).all()):
            fail(name, "finite losses for logits of +-30 and +-120", f"{['d_loss', 'g_loss'][i]} = {v}",
                 "symptom: one very confident discriminator output turns the loss into inf and the weights "
                 "into NaN.")
    return None


# ------------------------------------------------------------------ 12. a 784-unit head reshaped to another image

def _ref_image_decoder(z: torch.Tensor, channels: int, height: int, width: int) -> torch.Tensor:
    head = nn.Linear(z.shape[1], channels * height * width).to(device=z.device, dtype=z.dtype)
    return head(z).reshape(z.shape[0], channels, height, width)


def _diagnose_fixed_image_decoder(fn) -> str | None:
    """``fn(z, channels, height, width) -> (B, C, H, W)`` from one linear head of the right width."""
    name = "fixed_image_decoder"
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(0), requires_grad=True)
    try:
        out = fn(z, 1, 14, 28)
    except NotImplementedError:
        raise CheckFailed(f"{FAIL_MARK} {name}: not implemented yet. Replace the `raise NotImplementedError` "
                          "in the exercise cell with your code.") from None
    except RuntimeError as exc:
        fail(name, "a (3, 1, 14, 28) batch of images", f"a crash: {str(exc).splitlines()[0][:100]}",
             "symptom: the script dies at the first reshape with a message about sizes that do not match; "
             "the head produces some other number of values per image than the image holds.")
    if isinstance(out, torch.Tensor) and out.dim() == 4 and out.shape[0] != 3:
        fail(name, "a batch of 3 images of shape (1, 14, 28)", f"a batch of {out.shape[0]} images",
             "symptom: no crash, but the batch size changed: every 784 numbers of the head were spread over "
             "images of another size, so image b no longer comes from code b and the losses compare the "
             "wrong pairs.")
    out = expect_tensor(name, out, (3, 1, 14, 28))
    if not out.requires_grad:
        fail(name, "images connected to the code's graph", "no gradient", "symptom: the decoder never learns.")
    out.sum().backward()
    if z.grad is None or not bool((z.grad != 0).any()):
        fail(name, "a gradient reaching the code z", "none", "symptom: the encoder never learns.")
    for c, h, w in ((3, 6, 10), (3, 9, 4)):
        o = call(name, fn, torch.randn(1, 5), c, h, w)
        expect_tensor(name, o, (1, c, h, w))
    return None


def _check_image_decoder(call_: Call, outputs: dict[str, torch.Tensor], ref) -> str | None:  # noqa: ARG001
    z, c, h, w = call_.args
    want = (z.shape[0], int(c), int(h), int(w))
    out = outputs.get("out")
    if out is None or tuple(out.shape) != want:
        return f"expected images of shape {want}, got {None if out is None else tuple(out.shape)}"
    if out.dtype != z.dtype:
        return f"expected the code's dtype {z.dtype}, got {out.dtype}"
    if "grad.0" in outputs and not bool((outputs["grad.0"] != 0).any()):
        return "no gradient reaches the code"
    return None


# ------------------------------------------------------------------ 13. log of raw logits

def _ref_log_prob_real(logits: torch.Tensor) -> torch.Tensor:
    return F.logsigmoid(logits)


def _diagnose_fixed_log_prob_real(fn) -> str | None:
    """``fn(logits) -> log D(x) = log sigmoid(logits)``, elementwise, finite at +-120."""
    name = "fixed_log_prob_real"
    logits = torch.tensor([-2.0, -0.5, 0.0, 0.5, 3.0], requires_grad=True)
    out = expect_tensor_or_nan(name, call(name, fn, logits), (5,))
    if bool(torch.isnan(out).any()):
        fail(name, "a finite log-probability for every score", "NaN for the negative scores",
             "symptom: NaN losses from the first step: the discriminator's outputs are scores (logits), "
             "any real number, and the log of a negative number is not defined.")
    expect_close(name, out.detach(), F.logsigmoid(logits.detach()),
                 "symptom: the values are not log-probabilities: they must be <= 0, and log(1/2) at a score "
                 "of 0.")
    ext = torch.tensor([-120.0, -30.0, 30.0, 120.0], requires_grad=True)
    got = call(name, fn, ext)
    if not bool(torch.isfinite(got).all()):
        fail(name, "finite values for scores of -120 .. 120", f"{got.detach().tolist()}",
             "symptom: training runs for a while, then one confidently wrong discriminator output gives "
             "-inf, and from that step on every weight is NaN.")
    expect_close(name, got.detach(), F.logsigmoid(ext.detach()),
                 "symptom: a clamp hides the inf but caps the loss: confidently wrong answers stop being "
                 "punished in proportion to how wrong they are.", atol=1e-3)
    got.sum().backward()
    if ext.grad is None or not bool(torch.isfinite(ext.grad).all()) or float(ext.grad[0]) < 0.99:
        fail(name, "a gradient of about 1 at a score of -120", f"{None if ext.grad is None else ext.grad.tolist()}",
             "symptom: the most wrong answers give no gradient, so the discriminator never corrects them.")
    return None


def expect_tensor_or_nan(name: str, value, shape: tuple[int, ...]) -> torch.Tensor:
    """Like expect_tensor, but lets NaN through so the check can name its symptom."""
    if not isinstance(value, torch.Tensor):
        fail(name, f"a tensor of shape {shape}", type(value).__name__)
    if tuple(value.shape) != tuple(shape):
        fail(name, f"shape {tuple(shape)}", f"shape {tuple(value.shape)}")
    return value


_MISTAKES: dict[str, Mistakes] = {
    'fixed_discriminator_batch': {
        "the broken original (fakes as the real images)": (lambda r, f: _ref_discriminator_batch(f[torch.arange(len(r)) % len(f)], f), "training images"),
        "labels swapped": (lambda r, f: (_ref_discriminator_batch(r, f)[0], 1 - _ref_discriminator_batch(r, f)[1]), "label 1"),
        "fakes first": (lambda r, f: (torch.cat([f, r]), _ref_discriminator_batch(r, f)[1]), "training images"),
    },
    'fixed_training_batch': {
        "the broken original (uniform noise)": (lambda im, b: torch.rand(b, *im.shape[1:]) * 2 - 1, "static"),
        "noise in the data's range": (lambda im, b: torch.rand_like(im[:b]) * (im.max() - im.min()) + im.min(), "static"),
        "always the first images": (lambda im, b: im[:b].clone(), "same images twice"),
    },
    'fixed_gan_losses': {
        "the broken original (one loss for both)": (lambda r, f: (_ref_d_loss(r, f), _ref_d_loss(r, f)), "helps the discriminator"),
        "saturating generator loss": (lambda r, f: (_ref_d_loss(r, f), -F.softplus(f).mean()), "saturating"),
        "log of sigmoid": (lambda r, f: (-(torch.log(torch.sigmoid(r)).mean() + torch.log(1 - torch.sigmoid(f)).mean()), -torch.log(torch.sigmoid(f)).mean()), "inf"),
    },
    'fixed_image_decoder': {
        "the broken original (784 units)": (lambda z, c, h, w: nn.Linear(z.shape[1], 784)(z).reshape(-1, c, h, w), "batch size changed|reshape"),
        "height squared": (lambda z, c, h, w: nn.Linear(z.shape[1], c * h * h)(z).reshape(-1, c, h, w), "reshape|batch size"),
        "channels last": (lambda z, c, h, w: nn.Linear(z.shape[1], c * h * w)(z).reshape(z.shape[0], h, w, c), "shape"),
    },
    'fixed_log_prob_real': {
        "the broken original (log of a logit)": (lambda lo: torch.log(lo), "NaN"),
        "log of the sigmoid": (lambda lo: torch.log(torch.sigmoid(lo)), "-120"),
        "clamped probability": (lambda lo: torch.log(torch.sigmoid(lo).clamp_min(1e-7)), "clamp"),
    },
    'fixed_generator_output': {
        "the broken original": (lambda f, c, s: f.view(-1, 1, s, s), None),
        "channels last": (lambda f, c, s: f.view(f.shape[0], s, s, c).permute(0, 3, 1, 2), None),
        "a second wrong version": (lambda flat, ch, s: flat.view(flat.shape[0], s, s, ch).permute(0, 3, 1, 2), None),
    },
    'fixed_discriminator_loss': {
        "meta: targets made on the CPU (device)": (lambda r, f: F.binary_cross_entropy_with_logits(r, torch.ones(r.shape, dtype=r.dtype)) + F.binary_cross_entropy_with_logits(f, torch.zeros(f.shape, dtype=f.dtype)), "device"),
        "the broken original": (lambda r, f: F.binary_cross_entropy_with_logits(r, torch.ones_like(r)) + F.binary_cross_entropy_with_logits(f, torch.ones_like(f)), None),
        "labels swapped": (lambda r, f: _ms_discriminator_loss(f, r), None),
        "a second wrong version": (lambda r, f: F.binary_cross_entropy_with_logits(r, torch.zeros_like(r)) + F.binary_cross_entropy_with_logits(f, torch.ones_like(f)), None),
    },
    'fixed_kl_divergence': {
        "the broken original": (lambda mu, lv: -_ms_kl_divergence(mu, lv), None),
        "mean over latent units": (lambda mu, lv: 0.5 * (lv.exp() + mu ** 2 - 1 - lv).mean(1), None),
        "a second wrong version": (lambda mu, lv: 0.5 * (lv.exp() + mu ** 2 - 1 - lv).mean(1), None),
    },
    'fixed_row_rnn': {
        "view instead of permute": (lambda rnn, f: rnn(f.reshape(f.shape[0] * f.shape[2], f.shape[3], f.shape[1]))[0].reshape(f.shape[0], -1, f.shape[2], f.shape[3]), None),
        "columns instead of rows": (lambda rnn, f: _ms_fixed_row_rnn(rnn, f.transpose(2, 3)).transpose(2, 3), None),
        "a second wrong version": (lambda rnn, f: rnn(f.reshape(f.shape[0] * f.shape[2], f.shape[3], f.shape[1]))[0].reshape(f.shape[0], -1, f.shape[2], f.shape[3]), None),
    },
    'fixed_bce_loss': {
        "the broken original": (lambda lo, t: F.binary_cross_entropy_with_logits(torch.sigmoid(lo), t), None),
        "summed": (lambda lo, t: F.binary_cross_entropy_with_logits(lo, t, reduction='sum'), None),
        "a second wrong version": (lambda lg, t: F.binary_cross_entropy(torch.sigmoid(lg), t) * 2, None),
    },
    'fixed_discriminator_update': {
        "the broken original (no detach)": (_ms_update_no_detach, None),
        "loss after the step": (_ms_update_loss_after, None),
        "gradients leak into G": (_mo_grad_leak_update, None),
    },
    'fixed_predict': {
        "the broken original (no eval)": (_ms_predict_no_eval, None),
        "model left in eval mode": (_ms_predict_stays_eval, None),
        "model forced into training mode": (_ms_predict_forces_train, None),
        "outputs keep their graph": (_ms_predict_with_graph, None),
        "a second wrong version": (lambda m, x: m.eval()(x).detach(), None),
    },
    'fixed_ema_copy': {
        "the broken original (same object)": (_ms_ema_same_object, None),
        "a fresh network": (_ms_ema_fresh, None),
        "not frozen": (_ms_ema_not_frozen, None),
        "shared storage": (_ms_ema_shares, None),
        "a second wrong version": (lambda m: type(m)(), None),
    },
}


# ------------------------------------------------------------------ stretch: a dead-unit detector

def _ref_dead_units(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Per ReLU/LeakyReLU module: the fraction of its units (features, or channels) silent on all of x.

    The student-visible answer (solutions/09_debugging.py, marked ``Same as`` this) is this code.
    """
    acts = {name: m for name, m in model.named_modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU))}
    fired: dict[str, torch.Tensor] = {}

    def watch(name: str):
        def hook(module, inputs, out):
            # unit = dim 1; it is alive if it fired anywhere: any example, any position
            fired[name] = (out > 0).transpose(0, 1).reshape(out.shape[1], -1).any(dim=1)
        return hook

    was_training = model.training
    handles = [m.register_forward_hook(watch(name)) for name, m in acts.items()]
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return {name: float((~fired[name]).double().mean()) for name in acts}


def _diagnose_dead_units(fn) -> str | None:
    """A first call on the MLP of the scenarios: a dict naming every ReLU/LeakyReLU module, nested ones too."""
    name = "dead_units"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = DeadMLP()
        x = torch.randn(8, 4) * 2 + 1
    got = call(name, fn, model, x)
    if not isinstance(got, dict):
        fail(name, "a dict {layer name: fraction of dead units}", type(got).__name__)
    names = dead_unit_names(model)
    missing, extra = [k for k in names if k not in got], [k for k in got if k not in names]
    if missing:
        fail(name, f"one entry per ReLU or LeakyReLU module, named as the model names them: {names}",
             f"no entry for {missing}",
             "symptom: the detector is blind to part of the network; layers inside blocks, and leaky "
             "layers, die too.")
    if extra:
        fail(name, f"entries only for the activation modules {names}", f"also {extra}")
    return None


def _mu_dead_units(model, x, *, kinds=(nn.ReLU, nn.LeakyReLU), modules=None, per_entry=False,
                   remove=True, restore=True, grad=False):
    """The reference with one thing done wrong (the keyword says which)."""
    pairs = modules(model) if modules else [(n, m) for n, m in model.named_modules() if isinstance(m, kinds)]
    stats: dict[str, float] = {}

    def watch(name):
        def hook(module, inputs, out):
            if per_entry:
                stats[name] = float((out <= 0).double().mean())
            else:
                stats[name] = float((~(out > 0).transpose(0, 1).reshape(out.shape[1], -1).any(1)).double().mean())
        return hook

    was = model.training
    handles = [m.register_forward_hook(watch(n)) for n, m in pairs]
    model.eval()
    if grad:
        model(x).sum().backward()
    else:
        with torch.no_grad():
            model(x)
    if remove:
        for h in handles:
            h.remove()
    if restore:
        model.train(was)
    return stats


def _mu_dead_units_freeze(model, x):
    for p in model.parameters():
        p.requires_grad_(False)
    out = _mu_dead_units(model, x)
    for p in model.parameters():
        p.requires_grad_(True)
    return out


def _mu_dead_units_zero_grad(model, x):
    model.zero_grad()
    return _mu_dead_units(model, x)


def _mu_dead_units_clear_hooks(model, x):
    out = _mu_dead_units(model, x, remove=False)
    for m in model.modules():
        m._forward_hooks.clear()
    return out


def _mu_dead_units_in_place(model, x):
    x.sub_(x.mean())  # "centre the batch first", into the caller's tensor
    return _mu_dead_units(model, x)


def _mu_dead_units_train_mode(model, x):
    with torch.no_grad():
        stats = {}
        handles = [m.register_forward_hook(lambda mod, i, o, n=n: stats.__setitem__(
            n, float((~(o > 0).transpose(0, 1).reshape(o.shape[1], -1).any(1)).double().mean())))
            for n, m in model.named_modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU))]
        model(x)
        for h in handles:
            h.remove()
    return stats


def _mu_dead_units_per_position(model, x):
    stats = {}

    def watch(n):
        return lambda mod, i, o: stats.__setitem__(n, float((~(o > 0).any(0)).double().mean()))

    was = model.training
    handles = [m.register_forward_hook(watch(n)) for n, m in model.named_modules()
               if isinstance(m, (nn.ReLU, nn.LeakyReLU))]
    model.eval()
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    model.train(was)
    return stats


_MISTAKES["dead_units"] = {
    "hooks left registered": (lambda m, x: _mu_dead_units(m, x, remove=False), "hooks"),
    "the caller's hooks cleared too": (_mu_dead_units_clear_hooks, "keep theirs"),
    "mode not restored": (lambda m, x: _mu_dead_units(m, x, restore=False), "restore its mode"),
    "measured in training mode": (_mu_dead_units_train_mode, "evaluation behaviour"),
    "counted per batch entry, not per unit": (lambda m, x: _mu_dead_units(m, x, per_entry=True), "share of units"),
    "every position a unit (conv)": (_mu_dead_units_per_position, "channels"),
    "nested modules forgotten": (lambda m, x: _mu_dead_units(m, x, modules=lambda mm: [
        (n, c) for n, c in mm.named_children() if isinstance(c, (nn.ReLU, nn.LeakyReLU))]), "no entry for"),
    "LeakyReLU forgotten": (lambda m, x: _mu_dead_units(m, x, kinds=(nn.ReLU,)), "no entry for"),
    "x modified in place": (_mu_dead_units_in_place, "in place"),
    "gradients left in the parameters": (lambda m, x: _mu_dead_units(m, x, grad=True), "gradients changed"),
    "the caller's gradients cleared": (_mu_dead_units_zero_grad, "gradients changed"),
    "requires_grad not restored": (_mu_dead_units_freeze, "requires_grad"),
}


# --------------------------------------------------------------------------- the entry (grading contract)

def _gen_output(flat, channels, size):
    return flat.reshape(flat.shape[0], channels, size, size)


def _d_loss(d_real, d_fake):
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def _kl(mu, logvar):
    return 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(dim=1)


def _bce(logits, targets):
    return F.binary_cross_entropy_with_logits(logits, targets)


#: Logits of +-30 and +-120 against both targets: confident right and confident wrong, both branches.
_EXTREME_LOGITS = torch.tensor([-120.0, -30.0, 30.0, 120.0, -120.0, -30.0, 30.0, 120.0])
_EXTREME_TARGETS = torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0])


def _flat(b: int, c: int, s: int):
    return lambda g: Call([randn(g, b, c * s * s), c, s])


def _tag(case: Case, *tags: str) -> Case:
    """The case with the contract properties it tests (see genlab.exercises.PROPERTIES)."""
    return dataclasses.replace(case, tags=tags)


def _bce_call(n: int, scale: float, confident: bool = False):
    def make(g: torch.Generator) -> Call:
        t = (torch.rand(n, generator=g) < 0.5).float()
        logits = (2 * t - 1) * 20.0 if confident else randn(g, n, scale=scale)
        return Call([logits, t])
    return make


# --------------------------------------------------------------------------- challenge
# The lab's challenge (gradebook column c_...): genlab.exercises.challenges measures the saved model.
CHALLENGE = Challenge(
    lab="09", cid="c_sanity", title="the fixed VAE pipeline's model passes a sanity target on held-back digits",
    models=("mlp_vae",), metric="neg_elbo", unit="nats per image", thresholds=(130.0, 115.0, 107.0),
    max_params=1_000_000)


# --------------------------------------------------------------------------- the entries
LAB = build_lab("09_debugging", "Debugging", mistakes=_MISTAKES, namespace=globals(), items=[
        Item(
            name="fixed_generator_output", points=1, fallback=_gen_output, compare="exact",
            cases=[Case("public-1", _flat(4, 3, 4)),
                   *layout_cases(_flat(4, 3, 4)),
                   Case("held-1", _flat(2, 1, 5), public=False),
                   Case("held-2", _flat(3, 2, 3), public=False),
                   Case("held-b1", _flat(1, 3, 4), public=False, tags=("shape",))],
            expected="(B, C*size*size) -> (B, C, size, size), image b = row b of flat.",
            hint="keep the batch axis as it is and split each row into the channels and the two image sides.",
        ),
        Item(
            name="fixed_discriminator_loss", points=1, fallback=_d_loss,
            also_forbidden=("genlab.losses.discriminator_loss", "genlab.exercises.lab09._ref_d_loss"),
            cases=[Case("public-1", lambda g: Call([randn(g, 8), randn(g, 8)])),
                   *layout_cases(lambda g: Call([randn(g, 8), randn(g, 8)]), noncontig=False),
                   Case("held-1", lambda g: Call([randn(g, 6, scale=3.0) + 1, randn(g, 10, scale=3.0) - 1]),
                        public=False),
                   Case("held-extreme", lambda g: Call([torch.tensor([-120.0, -30.0, 30.0, 120.0]),
                                                        torch.tensor([120.0, 30.0, -30.0, -120.0])]),
                        public=False, tags=("extreme",)),
                   Case("held-f64", lambda g: Call([randn(g, 5).double(), randn(g, 3).double()]), public=False,
                        tags=("device-dtype",))],
            expected="BCE-with-logits of real logits against 1 plus fake logits against 0, each a batch mean.",
            hint="the fake term's target is 0 for every fake, shaped like its logits.",
        ),
        Item(
            name="fixed_kl_divergence", points=1, fallback=_kl,
            also_forbidden=("genlab.losses.kl_divergence",),
            cases=[Case("public-1", lambda g: Call([randn(g, 4, 3), randn(g, 4, 3)])),
                   *layout_cases(lambda g: Call([randn(g, 4, 3), randn(g, 4, 3)])),
                   Case("held-1", lambda g: Call([randn(g, 9, 6, scale=2.0), randn(g, 9, 6)]), public=False),
                   Case("held-extreme", lambda g: Call([randn(g, 2, 3), torch.tensor([[-20.0, 20.0, 0.0], [20.0, -20.0, 5.0]])]),
                        public=False, tags=("extreme",)),
                   Case("held-f64", lambda g: Call([randn(g, 1, 4).double(), randn(g, 1, 4).double()]), public=False,
                        tags=("device-dtype", "shape"))],
            expected="0.5 * sum_j (exp(logvar) + mu^2 - 1 - logvar) per example, shape (B,), >= 0.",
            hint="the broken version has every sign flipped.",
        ),
        scenario_item("fixed_row_rnn", 2, "row_rnn", ref_row_rnn,
                      public=[[0, 2, 3, 4, 5, 4, 1]], held=[[1, 3, 2, 3, 6, 3, 0], [2, 1, 4, 5, 3, 2, 1]],
                      rtol=1e-4, atol=1e-5,
                      expected="(B, C, H, W) -> sequences (B*H, W, C) -> GRU -> (B, D*hidden, H, W).",
                      hint="one sequence per row with the channels as features (move the channels last before merging batch and height), and back the same way after the recurrent layer.",
                      messages={"out": "not the GRU run along every row of the map "
                                       "(view instead of permute? rows and columns swapped?)"}),
        Item(
            name="fixed_bce_loss", points=1, fallback=_bce,
            cases=[Case("public-confident", _bce_call(6, 1.0, confident=True)),
                   Case("public-1", _bce_call(7, 3.0)),
                   *layout_cases(_bce_call(7, 3.0), noncontig=False),
                   Case("held-1", _bce_call(12, 2.0), public=False),
                   Case("held-extreme", lambda g: Call([_EXTREME_LOGITS.clone(), _EXTREME_TARGETS.clone()]),
                        public=False, tags=("extreme",)),
                   Case("held-f64", lambda g: Call([randn(g, 9, scale=4.0).double(),
                                                    (torch.rand(9, generator=g) < 0.5).double()]),
                        public=False, tags=("device-dtype",))],
            expected="the binary cross-entropy computed from the logits themselves, not from their sigmoid.",
            hint="BCE-with-logits applies the sigmoid itself.",
        ),
        scenario_item("fixed_discriminator_update", 2, "d_update", ref_discriminator_update,
                      public=[[0, 16]], held=[[3, 10]], rtol=1e-4, atol=1e-6,
                      expected="one D step on real (1) and detached fakes (0); the generator keeps its weights and gets "
                               "no gradient; returns the loss.",
                      hint="the fakes must be cut from the generator's graph before the discriminator's loss.",
                      messages={
                          "G_has_no_gradient": "D's loss put gradients into the generator: detach the fakes",
                          "G_unchanged": "the generator's weights changed during a D update",
                          "loss": "the returned loss is not D's loss (real = 1, fake = 0) before the step",
                          "D_weights": "D's weights after the step differ from one SGD step on its loss",
                      }),
        scenario_item("fixed_predict", 2, "predict", ref_predict,
                      public=[[0, 8]], held=[[4, 5]], rtol=1e-5, atol=1e-6,
                      expected="outputs in eval behaviour without a graph; the model left in the mode it was in.",
                      hint="remember the mode, switch to evaluation mode without gradient tracking, and restore the remembered mode afterwards, even after an error.",
                      messages={
                          "repeatable": "two calls gave different outputs: dropout still active (evaluation mode?)",
                          "bn_stats_untouched": "predicting changed batch-norm running statistics: predict in evaluation mode",
                          "out": "the outputs differ from the model's evaluation behaviour",
                          "no_graph": "the outputs require grad: predict without gradient tracking",
                          "train_mode_restored": "a model in training mode was left in eval mode: restore its mode",
                          "eval_mode_kept": "a model in eval mode was put in training mode: restore the mode it was in",
                      }),
        scenario_item("fixed_ema_copy", 2, "ema_copy", ref_ema_copy,
                      public=[[0]], held=[[5]],
                      expected="an independent deep copy of the model whose parameters need no gradient, the original untouched.",
                      hint="assigning the model to a second name gives the same network, not a copy.",
                      messages={
                          "same_weights": "the copy does not start with the model's weights",
                          "no_shared_storage": "the copy shares parameters with the model: use copy.deepcopy",
                          "independent": "the copy moves when the model is updated",
                          "frozen": "the copy's parameters must not require grad",
                          "original_trainable": "the original model was frozen too: freeze only the copy",
                      }),
        Item(
            name="fixed_discriminator_batch", points=1,
            fallback=_ref_discriminator_batch, compare="exact",
            cases=[Case("public-1", lambda g: Call([randn(g, 4, 3, 5, 6), randn(g, 3, 3, 5, 6)]), tags=("value", "shape")),
                   *layout_cases(lambda g: Call([randn(g, 4, 3, 5, 6), randn(g, 3, 3, 5, 6)])),
                   Case("held-1", lambda g: Call([randn(g, 1, 1, 4, 7), randn(g, 5, 1, 4, 7)]), public=False,
                        tags=("value", "shape")),
                   Case("held-2", lambda g: Call([randn(g, 6, 3, 3, 5).double(), randn(g, 2, 3, 3, 5).double()]),
                        public=False, tags=("value", "device-dtype"))],
            expected="(the real images followed by the fakes in one batch, labels 1 for each real image then 0 for each fake), in the data's dtype.",
            hint='the "real" half of the batch must come from the data. genlab.hint("fixed_discriminator_batch", 2).',
        ),
        Item(
            name="fixed_training_batch", points=1,
            compare="custom", check=_check_training_batch,
            cases=[Case("public-1", lambda g: Call([torch.rand(32, 3, 4, 6, generator=g), 5]), tags=("value", "randomness")),
                   *layout_cases(lambda g: Call([torch.rand(32, 3, 4, 6, generator=g), 5]), noncontig=False),
                   Case("held-1", lambda g: Call([torch.rand(40, 1, 5, 3, generator=g).double(), 6]), public=False,
                        tags=("value", "device-dtype", "randomness")),
                   Case("held-2", lambda g: Call([torch.rand(12, 3, 2, 2, generator=g), 1]), public=False,
                        tags=("shape",))],
            expected="batch_size images drawn at random from the training set, shape (batch_size, C, H, W), its dtype.",
            hint='a training batch is made of training images. genlab.hint("fixed_training_batch", 2).',
        ),
        Item(
            name="fixed_gan_losses", points=2,
            fallback=_ref_gan_losses, also_forbidden=("genlab.losses.discriminator_loss", "genlab.losses.generator_loss"),
            cases=[Case("public-1", lambda g: Call([randn(g, 8), randn(g, 6)]), tags=("value",)),
                   *layout_cases(lambda g: Call([randn(g, 8), randn(g, 6)]), noncontig=False),
                   Case("public-extreme", lambda g: Call([torch.tensor([-120.0, -30.0, 30.0, 120.0]),
                                                          torch.tensor([120.0, 30.0, -30.0, -120.0])]),
                        tags=("extreme",)),
                   Case("held-1", lambda g: Call([randn(g, 5, scale=3.0), randn(g, 9, scale=3.0)]), public=False,
                        tags=("value",)),
                   Case("held-extreme", lambda g: Call([randn(g, 4, scale=100.0), randn(g, 4, scale=100.0)]),
                        public=False, tags=("extreme",)),
                   Case("held-f64", lambda g: Call([randn(g, 3).double(), randn(g, 7).double()]), public=False,
                        tags=("device-dtype",))],
            expected="(BCE of real logits vs 1 + fake logits vs 0, non-saturating generator loss on the fake "
                     "logits), finite for any logits.",
            hint='two players, two objectives. genlab.hint("fixed_gan_losses", 2).',
        ),
        Item(
            name="fixed_image_decoder", points=1,
            compare="custom", check=_check_image_decoder,
            cases=[Case("public-1", lambda g: Call([randn(g, 4, 8), 3, 6, 10]), options={"grad": [0]},
                        tags=("shape", "gradients")),
                   *layout_cases(lambda g: Call([randn(g, 4, 8), 3, 6, 10]), noncontig=False),
                   Case("held-1", lambda g: Call([randn(g, 1, 5), 1, 14, 28]), public=False, options={"grad": [0]},
                        tags=("shape",)),
                   Case("held-2", lambda g: Call([randn(g, 3, 6).double(), 3, 9, 4]), public=False,
                        options={"grad": [0]}, tags=("shape", "device-dtype", "gradients"))],
            expected="(B, latent) -> (B, C, H, W) through one linear head of C*H*W units, the batch kept, the "
                     "code's dtype, differentiable.",
            hint='count the numbers an image holds. genlab.hint("fixed_image_decoder", 2).',
        ),
        Item(
            name="fixed_log_prob_real", points=1,
            fallback=_ref_log_prob_real, atol=1e-4,
            cases=[Case("public-1", lambda g: Call([randn(g, 10, scale=3.0)]), options={"grad": [0]},
                        tags=("value", "gradients")),
                   *layout_cases(lambda g: Call([randn(g, 10, scale=3.0)]), noncontig=False),
                   Case("public-extreme", lambda g: Call([torch.tensor([-120.0, -30.0, -5.0, 0.0, 5.0, 30.0, 120.0])]),
                        options={"grad": [0]}, tags=("extreme", "gradients")),
                   Case("held-1", lambda g: Call([randn(g, 4, 6, scale=60.0)]), public=False, options={"grad": [0]},
                        tags=("extreme", "gradients")),
                   Case("held-f64", lambda g: Call([randn(g, 5).double()]), public=False,
                        tags=("device-dtype",))],
            expected="log sigmoid(logits) elementwise: <= 0, finite with gradient ~1 at -120, the input's dtype.",
            hint='a score is not a probability. genlab.hint("fixed_log_prob_real", 2).',
        ),
        Item(
            name="dead_units", points=2, compare="custom",
            reference="genlab.exercises.lab09._ref_dead_units",
            check=scenario_check("dead_units", _ref_dead_units, {
                "names": "the keys are not exactly the names of the model's ReLU and LeakyReLU modules "
                         "(nested ones included)",
                "fractions": "the fractions differ from the share of units (features, or channels of a "
                             "convolution) that never fire on the batch, in evaluation behaviour",
                "fractions_from_eval": "called on a model in eval mode, the fractions differ",
                "hooks_removed": "the hooks on the model are not as the caller left them: remove yours, keep theirs",
                "train_mode_restored": "a model in training mode was left in eval mode: restore its mode",
                "eval_mode_kept": "a model in eval mode was put in training mode: restore the mode it was in",
                "requires_grad_restored": "the parameters' requires_grad flags changed",
                "grads_untouched": "the parameters' gradients changed (added to, or cleared)",
                "bn_stats_untouched": "batch-norm running statistics changed: measure in evaluation behaviour",
                "x_unchanged": "the batch x was modified in place",
            }, rtol=0.0, atol=1e-9),
            cases=[_tag(scenario_case("public-mlp", "dead_units", [0, "mlp", 16]), "value", "behaviour", "side-effects"),
                   _tag(scenario_case("public-conv", "dead_units", [1, "conv3", 4]), "value", "shape", "behaviour"),
                   _tag(scenario_case("held-mlp", "dead_units", [2, "mlp", 12], public=False),
                        "value", "behaviour", "side-effects"),
                   _tag(scenario_case("held-mlp-b1", "dead_units", [3, "mlp", 1], public=False),
                        "shape", "behaviour", "side-effects"),
                   _tag(scenario_case("held-conv1", "dead_units", [4, "conv1", 6], public=False),
                        "value", "shape", "behaviour"),
                   _tag(scenario_case("held-conv3-b1", "dead_units", [5, "conv3", 1], public=False),
                        "value", "shape", "side-effects")],
            expected="{name of every ReLU/LeakyReLU module: share of its units (dim 1) that never fire on x}, "
                     "measured in eval behaviour; mode, flags, gradients, hooks and x as the caller left them.",
            hint='count per unit (a feature, or a channel) in evaluation behaviour, and leave the model as you '
                 'found it. genlab.hint("dead_units", 2).',
        ),
    ],
)
