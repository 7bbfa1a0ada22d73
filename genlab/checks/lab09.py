"""Checks for lab 09 (debugging): each one tests behaviour and explains the SYMPTOM of its bug.

The messages say what goes wrong when the bug is present (what a person would see in a
training run), not how to fix it: finding the fix is the exercise. :func:`show_symptom`
runs a check on the broken version and prints the failure instead of raising, so the lab
can show every symptom and still run top to bottom.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ._core import CheckFailed, call, expect_close, expect_tensor, fail, report

__all__ = ["check_fixed_bce_loss", "check_fixed_discriminator_loss", "check_fixed_discriminator_update",
           "check_fixed_ema_copy", "check_fixed_generator_output", "check_fixed_kl_divergence",
           "check_fixed_predict", "check_fixed_row_rnn", "show_symptom"]


def show_symptom(check, fn) -> bool:
    """Run ``check(fn)``; print its failure message instead of raising. Returns True if the check passed."""
    try:
        check(fn)
    except CheckFailed as exc:
        print(str(exc))
        return False
    return True


# ------------------------------------------------------------------ 1. flat output -> image

def check_fixed_generator_output(fn) -> bool:
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
    return report(name)


# ------------------------------------------------------------------ 2. D labels

def _ref_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def check_fixed_discriminator_loss(fn) -> bool:
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
    return report(name)


# ------------------------------------------------------------------ 3. KL sign

def check_fixed_kl_divergence(fn) -> bool:
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
    return report(name)


# ------------------------------------------------------------------ 4. RNN over a feature map

def check_fixed_row_rnn(fn) -> bool:
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
        fail(name, "a (B, 2*hidden, H, W) map", str(exc).splitlines()[0].replace("\u274c ", ""),
             "symptom: the GRU refuses the input: it reads a batch of sequences (N, L, F), one 3-D tensor, "
             "and a feature map has 4 dimensions.")
    out = expect_tensor(name, out, (2, 8, 4, 5))
    seq = feat.permute(0, 2, 3, 1).reshape(8, 5, 3)
    ref, _ = rnn(seq)
    want = ref.reshape(2, 4, 5, 8).permute(0, 3, 1, 2)
    expect_close(name, out.detach(), want.detach(),
                 "symptom: a GRU reads (N, L, F) sequences; a 4-D map, or one flattened the wrong way, "
                 "either crashes or is read as sequences that mix channels, rows and images.")
    return report(name)


# ------------------------------------------------------------------ 5. sigmoid before BCE-with-logits

def check_fixed_bce_loss(fn) -> bool:
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
    return report(name)


# ------------------------------------------------------------------ 6. detach the fakes

class _TinyG(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class _TinyD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def check_fixed_discriminator_update(fn) -> bool:
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
    return report(name)


# ------------------------------------------------------------------ 7. eval mode

class _Noisy(nn.Module):
    """Dropout and batch norm: the two layers whose behaviour differs between train and eval."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5),
                                 nn.Linear(16, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def check_fixed_predict(fn) -> bool:
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
    return report(name)


# ------------------------------------------------------------------ 8. weights shared by accident

def check_fixed_ema_copy(fn) -> bool:
    """``fn(model) -> nn.Module``: an independent copy with equal weights (an EMA/teacher network)."""
    name = "fixed_ema_copy"
    torch.manual_seed(0)
    model = _TinyG()
    ema = call(name, fn, model)
    if not isinstance(ema, nn.Module):
        fail(name, "an nn.Module", type(ema).__name__)
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
    return report(name)
