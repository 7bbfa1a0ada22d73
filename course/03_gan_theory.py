# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · GAN theory
#
# > The minimax value, the optimal discriminator (sympy + brute force), V(D*, G) = -log 4 + 2 JS by numerical integration, saturating vs non-saturating gradients, a 2-D toy GAN with mode collapse made visible.
#
# ## Objectives
#
# After this notebook you can:
#
# * state the GAN game and derive the optimal discriminator;
# * show numerically that the generator then minimises a Jensen-Shannon divergence;
# * compare saturating and non-saturating generator gradients;
# * make mode collapse visible on a 2-D toy problem.
#
# ## Prerequisites
#
# Lecture 02 (KL divergence); logistic regression and the cross-entropy loss.
#
# ## Time
#
# Full mode (the default) took 151.8<!--r:time.full.course.03_gan_theory@kernel_cpu_s--> s of kernel CPU time on a 2-core CPU
# (229.3<!--r:time.full.course.03_gan_theory--> s of wall time on a machine shared with other jobs; `make results`); fast mode
# (`GENLAB_FAST=1`) about 4.9<!--r:time.fast.course.03_gan_theory--> s.
#
# ---
#
# A VAE (lecture 02) writes down a likelihood and maximises a bound on it. A **generative
# adversarial network** never writes a likelihood: a generator $G$ turns noise $z$ into
# samples, a discriminator $D$ tries to tell them from real data, and the two are trained
# against each other. This lecture works out what that game optimises, checks each step
# numerically on densities we know exactly, and then watches a small GAN play it in 2-D,
# where its most famous failure, **mode collapse**, can be seen.

# %% tags=["setup"]
# Setup: on Colab this installs genlab and copies the notebooks to your workspace; locally it changes nothing.
try:
    import genlab
except ImportError:
    # %pip install -q "genlab @ git+https://github.com/genlab-course/genlab@main"
    import genlab
    genlab.colab.workspace()  # on Colab: your own copies (on Drive when mounted); elsewhere nothing

# %%
import math

import matplotlib.pyplot as plt
import sympy as sp
import torch

import genlab
from genlab import losses, toy

session = genlab.start(seed=0)
device = session.device

# %% [markdown]
# ## 1. The game: the minimax value $V(D, G)$
#
# $D(x) = \sigma(\ell(x)) \in (0, 1)$ is the discriminator's probability that $x$ is real
# ($\ell$ is its logit). Goodfellow et al. (2014) define the value
#
# $$V(D, G) = \mathbb E_{x \sim p_\text{data}}\big[\log D(x)\big]
#            + \mathbb E_{z \sim p(z)}\big[\log\big(1 - D(G(z))\big)\big]
#            = \int p_\text{data}(x) \log D(x) + p_g(x) \log(1 - D(x))\,dx,$$
#
# where $p_g$ is the density of $G(z)$. $D$ **maximises** $V$ (it is the log-likelihood of
# a classifier that labels real 1 and fake 0), $G$ **minimises** it: $\min_G \max_D V(D, G)$.
# In code $D$ minimises $-V$, the binary cross-entropy `genlab.losses.discriminator_loss`,
# and `genlab.losses.gan_value` estimates $V$ from a batch of logits:

# %%
d_real = torch.tensor([3.0, 2.0, 4.0])      # D is fairly sure these are real...
d_fake = torch.tensor([-3.0, -1.0, -2.0])   # ...and that these are fake
print(f"V = {losses.gan_value(d_real, d_fake):.3f}, D's loss = {losses.discriminator_loss(d_real, d_fake):.3f}")
print(f"a coin-flipping D (all logits 0): V = {losses.gan_value(torch.zeros(3), torch.zeros(3)):.3f} = -log 4")

# %% [markdown]
# ## 2. The optimal discriminator
#
# Fix $G$. $V$ is an integral over $x$ of $a \log y + b \log(1 - y)$ with $a = p_\text{data}(x)$,
# $b = p_g(x)$ and $y = D(x)$, and $D$ may choose $y$ separately at every $x$. So maximise
# pointwise: for $a, b > 0$,
#
# $$\frac{d}{dy}\big[a \log y + b \log(1-y)\big] = \frac{a}{y} - \frac{b}{1-y} = 0
# \iff y = \frac{a}{a+b}, \qquad \frac{d^2}{dy^2} = -\frac{a}{y^2} - \frac{b}{(1-y)^2} < 0,$$
#
# a maximum. Hence
#
# $$D^*_G(x) = \frac{p_\text{data}(x)}{p_\text{data}(x) + p_g(x)}.$$
#
# First sympy agrees with the calculus:

# %%
a, b, y = sp.symbols("a b y", positive=True)
f = a * sp.log(y) + b * sp.log(1 - y)
critical = sp.solve(sp.diff(f, y), y)
print("stationary point:", critical, "| second derivative there:",
      sp.simplify(sp.diff(f, y, 2).subs(y, critical[0])))

# %% [markdown]
# Now numerically, on two densities we know: $p_\text{data}$ a two-bump mixture and $p_g$ a
# single wide Gaussian (a generator that has not learned the two bumps yet). At every grid
# point we search $y \in (0, 1)$ by brute force for the largest $a \log y + b \log(1-y)$ and
# compare with the formula (`genlab.losses.optimal_discriminator`).

# %%
x = torch.linspace(-14, 14, 2801, dtype=torch.float64)  # wide: both densities integrate to 1 here
p_data = toy.mixture_pdf(x, mus=[-2.0, 1.5], sigmas=[0.5, 0.8], weights=[0.4, 0.6])
p_g = toy.normal_pdf(x, 0.0, 1.5)

ys = torch.linspace(1e-4, 1 - 1e-4, 4001, dtype=torch.float64)         # candidate values of D(x)
objective = p_data[:, None] * ys.log() + p_g[:, None] * (1 - ys).log()  # (grid, candidates)
d_brute = ys[objective.argmax(dim=1)]
d_star = losses.optimal_discriminator(p_data, p_g)
seen = (p_data + p_g) > 1e-3   # in the far tails both terms vanish and the argmax is flat noise
print(f"max |D*_formula - D*_brute force| where a density exceeds 1e-3: {(d_star - d_brute)[seen].abs().max():.1e} "
      "(candidate spacing 2.5e-4)")

fig, ax = plt.subplots(figsize=(8, 3))
ax.plot(x, p_data, label="$p_{data}$")
ax.plot(x, p_g, label="$p_g$")
ax.plot(x, d_star, "k", label="$D^*$ (formula)")
ax.plot(x[::40], d_brute[::40], "o", ms=3, color="tab:red", label="$D^*$ (brute force)")
ax.axhline(0.5, color="gray", lw=0.5)
ax.set(xlim=(-6, 6), xlabel="x", title="the optimal discriminator is the share of the data density")
ax.legend(fontsize=8);

# %% [markdown]
# $D^*$ is above 1/2 where the data is denser than the generator and below where the
# generator puts mass the data does not have (the gap between the bumps, the far tails).
# Those are the directions in which $D^*$ will push $G$.
#
# ## 3. What G minimises: $V(D^*, G) = -\log 4 + 2\,\mathrm{JS}(p_\text{data} \,\|\, p_g)$
#
# Put $D^*$ into $V$ and write $m = \tfrac12(p_\text{data} + p_g)$, so that
# $D^* = p_\text{data} / 2m$ and $1 - D^* = p_g / 2m$:
#
# $$V(D^*, G) = \int p_\text{data} \log\frac{p_\text{data}}{2m} + p_g \log\frac{p_g}{2m}\,dx
# = -2\log 2 + \mathrm{KL}(p_\text{data} \,\|\, m) + \mathrm{KL}(p_g \,\|\, m)
# = -\log 4 + 2\,\mathrm{JS}(p_\text{data} \,\|\, p_g).$$
#
# $\mathrm{JS} \ge 0$ with equality only when $p_g = p_\text{data}$, so against a perfect
# discriminator the generator's best move is to match the data, and the value of the game
# is then $-\log 4$. The check below computes $V$ by numerical integration and the
# Jensen-Shannon divergence separately, from its definition with KL (`genlab.toy.js_on_grid`):

# %%
v_star = toy.value_on_grid(d_star, p_data, p_g, x)
js = toy.js_on_grid(p_data, p_g, x)
print(f"V(D*, G)         = {v_star:.6f}")
print(f"-log 4 + 2 JS    = {-math.log(4) + 2 * js:.6f}   (JS = {js:.4f} nats, log 2 = {math.log(2):.4f})")
print(f"V(1/2, G)        = {toy.value_on_grid(torch.full_like(x, 0.5), p_data, p_g, x):.6f}   (a worse D)")

# %% [markdown]
# Now move a Gaussian generator $p_g = \mathcal N(\mu, 1)$ across a data density
# $\mathcal N(0, 1)$. $V(D^*, G)$ bottoms out at $-\log 4$ when $\mu = 0$, but look at the
# far right: once the two densities barely overlap, JS is stuck near $\log 2$ and the curve
# is **flat**. A generator far from the data gets almost no signal from the JS divergence;
# the next section shows the same problem at the level of gradients, and a fix.

# %%
mus = torch.linspace(-7, 7, 57)
p0 = toy.normal_pdf(x, 0.0, 1.0)
v_curve, js_curve = [], []
for mu in mus.tolist():
    q = toy.normal_pdf(x, mu, 1.0)
    v_curve.append(toy.value_on_grid(losses.optimal_discriminator(p0, q), p0, q, x))
    js_curve.append(-math.log(4) + 2 * toy.js_on_grid(p0, q, x))
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(mus, v_curve, lw=3, alpha=0.5, label="$V(D^*, G)$ by integration")
ax.plot(mus, js_curve, "k--", label=r"$-\log 4 + 2\,\mathrm{JS}$")
ax.axhline(-math.log(4), color="gray", lw=0.5)
ax.set(xlabel=r"generator mean $\mu$ (data: $\mathcal{N}(0, 1)$)", ylabel="value")
ax.legend(fontsize=8);
print(f"largest gap between the two curves: {max(abs(v - j) for v, j in zip(v_curve, js_curve, strict=True)):.1e}")

# %% [markdown]
# ## 4. Saturating vs non-saturating generator loss
#
# The minimax generator minimises $\log(1 - D(G(z)))$. Early in training fakes are bad, $D$
# rejects them confidently, $D(G(z)) = \sigma(\ell) \to 0$. The gradient with respect to the
# logit is
#
# $$\frac{\partial}{\partial \ell} \log\big(1 - \sigma(\ell)\big) = -\sigma(\ell) \to 0:$$
#
# the loss **saturates** exactly when the generator most needs to learn. The
# **non-saturating** loss $-\log D(G(z))$ has the same fixed point (both push $D(G(z))$ up)
# but
#
# $$\frac{\partial}{\partial \ell}\big[-\log \sigma(\ell)\big] = -(1 - \sigma(\ell)) \to -1.$$
#
# The gradient reaching the generator's output is this number times $\partial \ell / \partial x$
# (the same for both losses), so the ratio of the two curves below is what $G$ feels. We
# compute them with autograd through `genlab.losses.generator_loss`, not from the formulas:

# %%
logits = torch.linspace(-10, 6, 400, requires_grad=True)
grads = {}
for ns in (False, True):
    (g,) = torch.autograd.grad(losses.generator_loss(logits, non_saturating=ns) * len(logits), logits)
    grads["non-saturating $-\\log D(G(z))$" if ns else "saturating $\\log(1 - D(G(z)))$"] = g.abs()
d_prob = torch.sigmoid(logits).detach()
fig, ax = plt.subplots(figsize=(7, 3))
for label, g in grads.items():
    ax.loglog(d_prob, g, label=label)
ax.axvspan(d_prob.min(), 0.05, color="tab:red", alpha=0.1, label="D confident: the sample is fake")
ax.set(xlabel="D(G(z)): how real D finds the fake", ylabel="|dL/d logit|",
       title="where D rejects fakes, only the non-saturating loss still pulls")
ax.legend(fontsize=8);

# %% [markdown]
# Check the claim at one point, $D(G(z)) = 10^{-4}$ (a confident discriminator): by
# finite differences of the two losses at one logit.

# %%
l0, h = math.log(1e-4 / (1 - 1e-4)), 1e-4
for ns in (False, True):
    def loss(t: float, ns: bool = ns) -> float:
        return float(losses.generator_loss(torch.tensor([t], dtype=torch.float64), non_saturating=ns))
    fd = (loss(l0 + h) - loss(l0 - h)) / (2 * h)
    print(f"{'non-saturating' if ns else 'saturating    '}: dL/dl = {fd:+.5f}")

# %% [markdown]
# ## 5. A toy GAN in 2-D, and mode collapse
#
# The data: 8 Gaussians on a ring (`genlab.toy.GaussianMixture2D.ring`). Generator and
# discriminator are small MLPs; `genlab.toy.train_toy_gan` alternates one $D$ update
# (fakes detached) and one $G$ update (non-saturating loss), and keeps the samples of a fixed
# noise batch at a few steps. A mode counts as covered when at least 1% of the samples lie
# within 3 standard deviations of it (`genlab.toy.mode_coverage`).
#
# The theory above assumed $D$ is optimal at every step. Two settings test that assumption:
#
# * **balanced**: both players learn at the same rate (Adam, lr $10^{-3}$);
# * **lagging D**: the discriminator learns 10x slower than the generator. Then $G$ can
#   run to wherever the current $D$ is most fooled and pile all its samples there; by the
#   time $D$ catches up, $G$ jumps to the next spot. That is mode collapse (and "mode
#   hopping").

# %%
ring = toy.GaussianMixture2D.ring(n_modes=8, radius=2.0, std=0.05)
steps = genlab.fast_or(200, 1000)
common = dict(steps=steps, batch_size=128, hidden=64, depth=2, snapshots=5, seed=0)
runs = {
    "balanced": toy.train_toy_gan(ring, lr=1e-3, **common),
    "lagging D": toy.train_toy_gan(ring, lr=1e-3, lr_d=1e-4, **common),
}
fig, axes = plt.subplots(len(runs), 6, figsize=(13, 4.8))
for row, (name, run) in zip(axes, runs.items(), strict=True):
    toy.show_snapshots(run, ring, title=name, axes=row)
fig.suptitle("generator samples over training (red crosses: the 8 modes)");

# %%
for name, run in runs.items():
    cov = toy.mode_coverage(run.snapshots[steps], ring.centers, ring.std)
    print(f"{name:10s}: {cov['covered']}/8 modes covered, {cov['near_fraction']:.0%} of samples near a mode, "
          f"coverage over time {run.history['covered']}")

# %% [markdown]
# In full mode the balanced run spreads over the ring and covers most or all of the 8 modes,
# while the lagging-D run keeps its samples in a blob that wanders and covers at most one
# mode at a time. (In fast mode both runs are too short to say much.) Nothing in the loss
# curves would tell you this; the picture and the mode count do. On images the same
# failure appears as a GAN that draws only a few digits, which lecture 04 measures with
# class coverage.
#
# ## What next
#
# * Lab 03: write `discriminator_loss`, `generator_loss` and `optimal_discriminator`, then
#   train this toy GAN with your own losses.
# * Try `non_saturating=False` in `train_toy_gan`, `d_steps=3`, or the 25-mode grid
#   `toy.GaussianMixture2D.grid(5)`; count the modes each covers.
# * Lecture 04 moves to images: a fully connected GAN and a DCGAN on digits.

# %% [markdown]
# ## References
#
# * Goodfellow, I. et al. (2014). Generative adversarial nets. *NeurIPS*.
# * Arjovsky, M. & Bottou, L. (2017). Towards principled methods for training generative adversarial networks. *ICLR*.
# * Metz, L., Poole, B., Pfau, D. & Sohl-Dickstein, J. (2017). Unrolled generative adversarial networks. *ICLR* (the ring of Gaussians as a mode-collapse test).
