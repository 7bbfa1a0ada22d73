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
# # 02 · Variational autoencoders
#
# > The ELBO derived; the closed-form KL checked with sympy and Monte Carlo; reparameterisation vs score-function gradient variance; samples, interpolation, beta-VAE, IWAE vs ELBO.
#
# ## Objectives
#
# After this notebook you can:
#
# * derive the ELBO and check the Gaussian KL in closed form;
# * measure why the reparameterisation trick beats the score-function gradient;
# * train a VAE, sample and interpolate, and trade rate for distortion with beta;
# * say what an ELBO or IWAE number is, and when it is a bound on a log-likelihood.
#
# ## Prerequisites
#
# Lecture 01; probability densities, expectations and Jensen's inequality.
#
# ## Time
#
# Full mode (the default) took 119.2<!--r:time.full.course.02_vae@kernel_cpu_s--> s of kernel CPU time on a 2-core CPU
# (74.2<!--r:time.full.course.02_vae--> s of wall time on a machine shared with other jobs; `make results`); fast mode
# (`GENLAB_FAST=1`) about 7.0<!--r:time.fast.course.02_vae--> s.
#
# ---
#
# The autoencoder of lecture 01 compresses digits well, but its code space has holes:
# decode a point between the clusters and you get a smudge, and there is no rule for
# *drawing* a new code. A **variational autoencoder** (Kingma & Welling, 2014) turns the
# autoencoder into a generative model with a known distribution of codes, so that sampling
# $z \sim \mathcal N(0, I)$ and decoding gives a new digit.
#
# This lecture derives the VAE objective (the ELBO), checks the KL term symbolically and
# by Monte Carlo, measures why the reparameterisation trick matters, trains a
# convolutional VAE, and then samples, interpolates, trades reconstruction for KL
# (beta-VAE) and tightens the bound (IWAE).

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
from torch import distributions as D

import genlab
from genlab import datasets, losses, metrics, models, plot, train

session = genlab.start(seed=0)
device = session.device

course = datasets.select(device=device, lesson="vae")  # GENLAB_DATASET, or select("mnist", ...)
x_train, y_train = course.train()
x_test, y_test = course.test()
EPOCHS = course.epochs()
LATENT = 8

# %% [markdown]
# *Dataset switch:* `GENLAB_DATASET=mnist` (or `fashion_mnist`, `cifar10`, `photos`), or
# `datasets.select("mnist", ...)` in the cell above, trains the same models on 28x28 MNIST or 32x32
# colour CIFAR-10 with the image size, width, batch size and epochs of `genlab.datasets.PRESETS`.
# The figures quoted in this notebook were measured on the digits only; on the other datasets
# they are not measured.

# %% [markdown]
# ## 1. A latent-variable model
#
# Each image $x$ is explained by an unobserved code $z \in \mathbb R^d$:
#
# $$p(z) = \mathcal N(0, I), \qquad p_\theta(x \mid z) = \prod_{i=1}^{D} \operatorname{Bernoulli}\big(x_i;\ \sigma(g_\theta(z))_i\big),$$
#
# with $g_\theta$ a decoder network that returns logits. To *generate*, draw $z$ from the
# prior and decode. To *train* by maximum likelihood we need
#
# $$p_\theta(x) = \int p_\theta(x \mid z)\, p(z)\, dz,$$
#
# an integral over all of $\mathbb R^d$ through a neural network: no closed form, and
# sampling $z$ from the prior almost never hits a code that explains a given $x$.
#
# ## 2. The evidence lower bound, step by step
#
# Bring in an **encoder** $q_\phi(z \mid x) = \mathcal N\big(\mu_\phi(x), \operatorname{diag} \sigma^2_\phi(x)\big)$
# that proposes codes likely to explain $x$. For any such $q$:
#
# 1. multiply and divide by $q$ inside the integral:
#    $\displaystyle \log p_\theta(x) = \log \int q_\phi(z \mid x)\, \frac{p_\theta(x \mid z)\, p(z)}{q_\phi(z \mid x)}\, dz
#    = \log \mathbb E_{q_\phi(z \mid x)}\Big[\frac{p_\theta(x \mid z)\, p(z)}{q_\phi(z \mid x)}\Big];$
# 2. $\log$ is concave, so by Jensen's inequality $\log \mathbb E[W] \ge \mathbb E[\log W]$:
#    $\displaystyle \log p_\theta(x) \ge \mathbb E_{q}\big[\log p_\theta(x \mid z) + \log p(z) - \log q_\phi(z \mid x)\big];$
# 3. group the last two terms into a KL divergence:
#    $$\log p_\theta(x) \ \ge\ \mathrm{ELBO}(x) = \underbrace{\mathbb E_{q_\phi(z \mid x)}\big[\log p_\theta(x \mid z)\big]}_{\text{reconstruction}}
#      - \underbrace{\mathrm{KL}\big(q_\phi(z \mid x)\,\|\,p(z)\big)}_{\text{stay close to the prior}}.$$
#
# The gap is exactly $\mathrm{KL}\big(q_\phi(z \mid x)\,\|\,p_\theta(z \mid x)\big) \ge 0$
# (write $p_\theta(x \mid z) p(z) = p_\theta(z \mid x) p_\theta(x)$ in step 2): the bound is tight
# when the encoder matches the true posterior. Maximising the ELBO over $\theta$ and $\phi$
# together trains the decoder *and* makes the encoder a better posterior.
#
# The reconstruction term with one sample $z \sim q$ is minus the binary cross-entropy of
# lecture 01; the KL term is what makes the code space usable. We minimise
# $-\mathrm{ELBO}$, in nats per image: `genlab.losses.elbo_loss`.
#
# ## 3. The KL term in closed form
#
# For one coordinate, $q = \mathcal N(\mu, \sigma^2)$ and $p = \mathcal N(0, 1)$:
#
# $$\log q(z) - \log p(z) = -\log \sigma - \frac{(z - \mu)^2}{2\sigma^2} + \frac{z^2}{2}.$$
#
# Take the expectation under $q$, using $\mathbb E_q[(z-\mu)^2] = \sigma^2$ and
# $\mathbb E_q[z^2] = \mu^2 + \sigma^2$:
#
# $$\mathrm{KL}(q\,\|\,p) = -\log \sigma - \frac12 + \frac{\mu^2 + \sigma^2}{2}
#   = \frac12\big(\sigma^2 + \mu^2 - 1 - \log \sigma^2\big).$$
#
# A diagonal Gaussian is a product of independent coordinates, and so is the prior, so
# $\log q - \log p$ is a sum over coordinates and the KL is the sum of the 1-D KLs:
#
# $$\mathrm{KL}\big(\mathcal N(\mu, \operatorname{diag}\sigma^2)\,\|\,\mathcal N(0, I)\big)
#   = \frac12 \sum_{j=1}^d \big(\sigma_j^2 + \mu_j^2 - 1 - \log \sigma_j^2\big).$$
#
# **Check it symbolically.** sympy integrates $q(z)\,(\log q(z) - \log p(z))$ over the real
# line and compares with the formula:

# %%
z, mu = sp.symbols("z mu", real=True)
sigma = sp.symbols("sigma", positive=True)


def log_normal(z, mean, std):
    return -(z - mean) ** 2 / (2 * std**2) - sp.log(std) - sp.log(2 * sp.pi) / 2


q = sp.exp(log_normal(z, mu, sigma))
kl_integral = sp.integrate(sp.expand(q * (log_normal(z, mu, sigma) - log_normal(z, 0, 1))), (z, -sp.oo, sp.oo))
kl_formula = (sigma**2 + mu**2 - 1 - sp.log(sigma**2)) / 2
print("integral:", sp.simplify(kl_integral))
print("integral - formula =", sp.simplify(kl_integral - kl_formula))

# %% [markdown]
# Then the sum over dimensions: the log-density of a product is the sum of the
# log-densities (`expand_log`), and each term depends on one coordinate only. In full mode
# sympy also does the 2-D integral outright (a few seconds).

# %%
zs, mus = sp.symbols("z1:3", real=True), sp.symbols("mu1:3", real=True)
sigmas = sp.symbols("sigma1:3", positive=True)
log_q2 = sp.expand_log(sp.log(sp.Mul(*[sp.exp(log_normal(zj, mj, sj)) for zj, mj, sj in zip(zs, mus, sigmas, strict=True)])),
                       force=True)
print("log q(z1, z2) - sum_j log q_j(z_j) =",
      sp.simplify(log_q2 - sum(log_normal(zj, mj, sj) for zj, mj, sj in zip(zs, mus, sigmas, strict=True))))
if not genlab.config.is_fast():
    q2 = sp.exp(log_normal(zs[0], mus[0], sigmas[0]) + log_normal(zs[1], mus[1], sigmas[1]))
    log_ratio = sum(log_normal(zj, mj, sj) - log_normal(zj, 0, 1) for zj, mj, sj in zip(zs, mus, sigmas, strict=True))
    kl_2d = sp.integrate(sp.expand(q2 * log_ratio), (zs[0], -sp.oo, sp.oo), (zs[1], -sp.oo, sp.oo))
    kl_sum = sum(kl_formula.subs({mu: mj, sigma: sj}) for mj, sj in zip(mus, sigmas, strict=True))
    print("2-D integral - sum of 1-D formulas =", sp.simplify(kl_2d - kl_sum))

# %% [markdown]
# **Check it by Monte Carlo.** With `torch.distributions`: draw many $z \sim q$ and average
# $\log q(z) - \log p(z)$, for a random 8-D diagonal Gaussian; compare with the closed form in
# `genlab.losses.kl_divergence` and with torch's own `kl_divergence`.

# %%
g = torch.Generator().manual_seed(0)
mu_q, logvar_q = torch.randn(1, LATENT, generator=g), torch.randn(1, LATENT, generator=g)
q_dist = D.Independent(D.Normal(mu_q, (0.5 * logvar_q).exp()), 1)
p_dist = D.Independent(D.Normal(torch.zeros(1, LATENT), torch.ones(1, LATENT)), 1)
samples = q_dist.sample((genlab.fast_or(20_000, 200_000),))
log_ratio = q_dist.log_prob(samples) - p_dist.log_prob(samples)
mc, mc_err = log_ratio.mean().item(), log_ratio.std().item() / math.sqrt(len(log_ratio))
print(f"Monte Carlo             {mc:.4f} +- {mc_err:.4f}")
print(f"genlab closed form      {losses.kl_divergence(mu_q, logvar_q).item():.4f}")
print(f"torch.distributions     {D.kl_divergence(q_dist, p_dist).item():.4f}")

# %% [markdown]
# ## 4. The reparameterisation trick, measured
#
# The reconstruction term is an expectation over $z \sim q_\phi$, and we need its gradient
# with respect to $\phi$, i.e. to $(\mu, \log\sigma^2)$. Two unbiased single-sample
# estimators of $\nabla_\mu\, \mathbb E_{q}[f(z)]$:
#
# * **score function** (REINFORCE): $\nabla_\mu \mathbb E_q[f] = \mathbb E_q\big[f(z)\, \nabla_\mu \log q(z)\big]$.
#   It only uses the *value* of $f$, so it works for any $f$, but $f(z)$ multiplies a noisy
#   score and the product is very noisy;
# * **reparameterisation**: write $z = \mu + \sigma \odot \varepsilon$ with
#   $\varepsilon \sim \mathcal N(0, I)$, so $\nabla_\mu \mathbb E_\varepsilon[f(\mu + \sigma \varepsilon)]
#   = \mathbb E_\varepsilon[\nabla f(z)]$. It uses the *gradient* of $f$ (through the
#   decoder, by backpropagation), which says in which direction to move.
#
# Measure both on $f(z) = \lVert z - c \rVert^2$ in $d$ dimensions (true gradient
# $2(\mu - c)$): the variance of the gradient's first coordinate over many draws.

# %%
def gradient_samples(d: int, n: int, estimator: str, sigma: float = 1.0) -> torch.Tensor:
    """n single-sample estimates of d/dmu_1 E[||z - c||^2], z ~ N(mu, sigma^2 I), mu = 0, c = 1."""
    c = torch.ones(d)
    mu_ = torch.zeros(n, d, requires_grad=True)  # one copy of mu per draw: per-draw gradients
    eps = torch.randn(n, d)
    if estimator == "reparameterised":
        f = ((mu_ + sigma * eps - c) ** 2).sum(1)
        f.sum().backward()
    else:  # score function: f(z) times the gradient of log q(z), z held fixed
        z_ = (mu_ + sigma * eps).detach()
        log_q = D.Normal(mu_, sigma).log_prob(z_).sum(1)
        f = ((z_ - c) ** 2).sum(1)
        (f * log_q).sum().backward()
    return mu_.grad[:, 0]


torch.manual_seed(0)
dims = [1, 8, 64]
table = {est: [gradient_samples(d, genlab.fast_or(2_000, 20_000), est) for d in dims]
         for est in ("reparameterised", "score function")}
print(f"true gradient -2.0; {'d':>3}  {'estimator':>16}  {'mean':>7}  {'variance':>9}")
for d_i, d in enumerate(dims):
    for est, grads in table.items():
        print(f"{'':>19}{d:>3}  {est:>16}  {grads[d_i].mean().item():7.2f}  {grads[d_i].var().item():9.1f}")
fig, ax = plt.subplots(figsize=(5.5, 3.5))
for est, grads in table.items():
    ax.plot(dims, [gr.var().item() for gr in grads], marker="o", label=est)
ax.set(xscale="log", yscale="log", xlabel="dimension d", ylabel="gradient variance",
       title="same mean gradient, very different noise")
ax.legend()
fig.tight_layout();

# %% [markdown]
# Both estimators average to the true gradient $-2$, but the score-function variance is
# orders of magnitude larger and grows with $d$ (every coordinate's noise enters $f$),
# while the reparameterised variance stays at $4\sigma^2 = 4$. With a 20-D code and a
# decoder in the loop, that is the difference between training and not training.
#
# In code the trick is one line, `z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)`:
# `genlab.models.vae.reparameterize`, which you write in lab 02.
#
# ## 5. Train a convolutional VAE
#
# `genlab.models.ConvVAE`: the convolutional encoder of lecture 01 outputs $2d$ numbers,
# split into $\mu$ and $\log\sigma^2$; the convolutional decoder maps $z$ to logits.
# `train.VAETask` minimises `elbo_loss` and logs the KL and reconstruction terms.

# %%
def train_vae(beta: float = 1.0):
    vae = models.ConvVAE(course.config(models.VAEConfig, latent_dim=LATENT))
    task = train.VAETask(vae, lr=2e-3, beta=beta)
    history = train.fit(task, x_train, EPOCHS, batch_size=course.batch_size, val_data=x_test, device=device)
    return vae.eval(), history


vae, history = train_vae()
plot.plot_history(history, keys=["loss", "val_loss", "val_kl"], title="negative ELBO and KL (nats per image)");
print(f"test: -ELBO {history.last('val_loss'):.1f} nats = {history.last('val_recon'):.1f} reconstruction "
      f"+ {history.last('val_kl'):.1f} KL")

# %% [markdown]
# ## 6. Sampling
#
# The point of the whole construction: draw $z \sim \mathcal N(0, I)$, decode, and read off
# $\sigma(g_\theta(z))$, the pixel probabilities (we show them rather than a Bernoulli draw
# of them, as is usual).

# %%
samples = vae.sample(64, generator=torch.Generator().manual_seed(0)).cpu()
plot.show_grid(samples, nrow=16, title="64 digits drawn from the VAE: z ~ N(0, I), decoded");
with torch.no_grad():
    recon = torch.sigmoid(vae.decode(vae.encode(x_test[:14].to(device))[0])).cpu()
plot.show_rows({"test digit": x_test[:14], "reconstruction (z = mu)": recon}, n=14);

# %% [markdown]
# ## 7. Interpolation
#
# Encode two test digits, walk along the straight line between their means, decode each
# point. Because the KL term packs the codes around the origin with no holes, every point
# on the way decodes to something digit-like.

# %%
pairs = [(0, 1), (2, 3), (4, 5), (6, 7)]
t = torch.linspace(0, 1, 10)[:, None]
rows = {}
with torch.no_grad():
    mu_test, _ = vae.encode(x_test.to(device))
    for a, b in pairs:
        path = (1 - t.to(device)) * mu_test[a] + t.to(device) * mu_test[b]
        rows[f"{y_test[a].item()} -> {y_test[b].item()}"] = torch.sigmoid(vae.decode(path)).cpu()
plot.show_rows(rows, n=10, title="decoding straight lines between the codes of two test digits");

# %% [markdown]
# ### Interactive: the latent explorer
#
# Sliders over the first coordinates of $z$, decoded live (`genlab.widgets.LatentExplorer`).
# In a live notebook, move a slider and watch which stroke it controls; headless runs show
# nothing here.

# %%
from genlab.widgets import LatentExplorer

LatentExplorer(vae, n_sliders=4)

# %% [markdown]
# ## 8. The beta-VAE trade-off
#
# Weight the KL term by $\beta$ (Higgins et al., 2017):
# $\mathcal L_\beta = \mathbb E_q[-\log p_\theta(x \mid z)] + \beta\, \mathrm{KL}(q \,\|\, p)$.
# Small $\beta$ lets the encoder spend many nats on the code: sharp reconstructions, but
# codes far from the prior, so samples from $\mathcal N(0, I)$ are poor. Large $\beta$ pulls
# the codes onto the prior: good coverage, blurry reconstructions. $\beta = 1$ is the true
# ELBO.

# %%
betas = [0.25, 1.0, 4.0]
runs = {1.0: (vae, history)}
for beta in betas:
    if beta not in runs:
        runs[beta] = train_vae(beta)
rows = {"test digit": x_test[:12]}
print(f"{'beta':>5}  {'reconstruction':>14}  {'KL':>6}   (test, nats per image)")
for beta in betas:
    model, hist = runs[beta]
    print(f"{beta:5}  {hist.last('val_recon'):14.1f}  {hist.last('val_kl'):6.1f}")
    with torch.no_grad():
        rows[f"beta={beta} recon"] = torch.sigmoid(model.decode(model.encode(x_test[:12].to(device))[0])).cpu()
        rows[f"beta={beta} samples"] = model.sample(12, generator=torch.Generator().manual_seed(1)).cpu()
plot.show_rows(rows, n=12, title="beta-VAE: reconstructions and samples");
fig, ax = plt.subplots(figsize=(4.5, 3.3))
ax.plot([runs[b][1].last("val_kl") for b in betas], [runs[b][1].last("val_recon") for b in betas], marker="o")
for b in betas:
    ax.annotate(f"beta={b}", (runs[b][1].last("val_kl"), runs[b][1].last("val_recon")), fontsize=8)
ax.set(xlabel="KL (nats)", ylabel="reconstruction (nats)", title="rate vs distortion")
fig.tight_layout();

# %% [markdown]
# ## 9. A tighter bound: IWAE
#
# Step 2 of the derivation used one sample inside the log. With $k$ samples
# (Burda et al., 2016):
#
# $$\mathcal L_k(x) = \mathbb E\Big[\log \frac1k \sum_{i=1}^k \frac{p_\theta(x \mid z_i)\, p(z_i)}{q_\phi(z_i \mid x)}\Big],
#   \qquad z_i \sim q_\phi(z \mid x),$$
#
# and $\mathrm{ELBO} = \mathcal L_1 \le \mathbb E\,\mathcal L_k \le \mathbb E\,\mathcal L_{k+1} \le \log p_\theta(x)$:
# averaging the importance weights before the log makes Jensen's gap shrink
# (`genlab.metrics.iwae_bound`).
#
# **What these numbers are.** The chain ends in $\log p_\theta(x)$ only if
# $p_\theta(x \mid z)$ is a normalised density or probability. Our digits are gray: pixel
# values in $[0, 1]$, and $\sum_i x_i \log \lambda_i + (1 - x_i)\log(1 - \lambda_i)$ with a
# gray $x_i$ is a cross-entropy, not the log of a density on $[0, 1]^{256}$ (the Bernoulli
# probabilities are normalised over $\{0, 1\}$, not over the interval). So on gray digits
# $-\mathcal L_k$ is a training objective: good for comparing models of this course on the
# same data, not a negative log-likelihood, and not comparable with published nats. Two
# ways to get a true likelihood: evaluate on **binarised** digits (pixel $> 0.5$), where the
# Bernoulli is a probability over $\{0, 1\}^{256}$, as the second cell below does; or add
# the **continuous Bernoulli** normaliser $\log C(\lambda) = \log\frac{2\,\operatorname{artanh}(1 - 2\lambda)}{1 - 2\lambda}$
# per pixel (Loaiza-Ganem & Cunningham, 2019), which makes it a density on $[0, 1]$. With a
# normalised likelihood $\mathcal L_k$ is a lower bound on $\log p_\theta(x)$, so
# $-\mathcal L_k$ is an upper bound on the negative log-likelihood $-\log p_\theta(x)$.

# %%
x_eval = x_test[: genlab.fast_or(64, 359)].to(device)
ks = genlab.fast_or([1, 4, 16, 64], [1, 4, 16, 64, 256])
g = torch.Generator().manual_seed(0)
with torch.no_grad():
    elbo = -torch.stack([losses.negative_elbo(x_eval, *vae(x_eval)) for _ in range(16)]).mean().item()
bounds = [metrics.iwae_bound(vae, x_eval, k=k, batch_size=8192, generator=g).mean().item() for k in ks]
for k, b in zip(ks, bounds, strict=True):
    print(f"k = {k:>3}: L_k = {b:8.2f} nats")
print(f"ELBO (mean of 16 single-sample estimates) = {elbo:.2f} nats")
fig, ax = plt.subplots(figsize=(5, 3.3))
ax.plot(ks, bounds, marker="o", label="IWAE bound $\\mathcal{L}_k$")
ax.axhline(elbo, color="grey", linestyle="--", label="ELBO")
ax.set(xscale="log", xlabel="k (importance samples)", ylabel="nats per image", title="tighter bounds with more samples")
ax.legend()
fig.tight_layout();

# %%
# The same bounds on binarised test digits (pixel > 0.5): there the Bernoulli is a normalised
# likelihood (a probability over {0, 1}^256), so -L_k is an upper bound on -log p(x) in nats.
x_bin = (x_eval > 0.5).float()
bin_bounds = [metrics.iwae_bound(vae, x_bin, k=k, batch_size=8192, generator=g).mean().item() for k in ks]
for k, b in zip(ks, bin_bounds, strict=True):
    print(f"binarised, k = {k:>3}: L_k = {b:8.2f} nats  (so -log p(x) <= {-b:.2f})")

# %%
# Headline figures for docs/results.json: a no-op unless `make results` runs this notebook in full mode.
from genlab import results

for k, b, bb in zip(ks, bounds, bin_bounds, strict=True):
    results.record(f"lec02.gray.neg_L{k}", round(-b, 2), unit="nats", seed=0,
                   note="Bernoulli cross-entropy objective on gray digits (not a normalised density)")
    results.record(f"lec02.binary.neg_L{k}", round(-bb, 2), unit="nats", seed=0,
                   note="-L_k on binarised test digits: an upper bound on -log p(x)")
results.record("lec02.gray.neg_elbo", round(-elbo, 2), unit="nats", seed=0)

# %% [markdown]
# ## What to try next
#
# * Set `LATENT = 2`, retrain, and plot the means with `plot.latent_scatter`: compare with
#   the autoencoder's map in lecture 01 (no holes, centred, unit scale).
# * Try `likelihood="gaussian"` in `losses.elbo_loss`: what changes in the samples?
# * In lab 02 you write `reparameterize`, `kl_divergence` and `elbo_loss` yourself.

# %% [markdown]
# ## References
#
# * Kingma, D. P. & Welling, M. (2014). Auto-encoding variational Bayes. *ICLR*.
# * Rezende, D. J., Mohamed, S. & Wierstra, D. (2014). Stochastic backpropagation and approximate inference in deep generative models. *ICML*.
# * Williams, R. J. (1992). Simple statistical gradient-following algorithms for connectionist reinforcement learning. *Machine Learning* 8 (the score-function estimator).
# * Higgins, I. et al. (2017). beta-VAE: learning basic visual concepts with a constrained variational framework. *ICLR*.
# * Burda, Y., Grosse, R. & Salakhutdinov, R. (2016). Importance weighted autoencoders. *ICLR*.
# * Loaiza-Ganem, G. & Cunningham, J. P. (2019). The continuous Bernoulli: fixing a pervasive error in variational autoencoders. *NeurIPS*.
