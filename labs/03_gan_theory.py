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
# # Lab 03 · GAN theory
#
# > Write `discriminator_loss`, `generator_loss`, `optimal_discriminator`; check V(D*, G) with them and train a 2-D toy GAN with your losses.
#
# **Objectives**: after this lab you can
#
# * write the discriminator's and both generator losses on logits, stable at any logit;
# * derive and use the optimal discriminator D* and the value V(D*, G);
# * see the saturating loss's vanishing gradient on a 2-D toy GAN.
#
# **Prerequisites**: lecture 03 (GAN theory).
#
# **Time**: full mode (`GENLAB_FAST` unset) took 11.8<!--r:time.full.solutions.03_gan_theory@kernel_cpu_s--> s of kernel CPU time on a 2-core CPU for the solution notebook, challenge cell included (12.0<!--r:time.full.solutions.03_gan_theory--> s of wall time on a machine shared with other jobs; `genlab.results run`); not measured on a GPU. Add your own time for the exercises.
#
# You write the three functions every GAN is built from: the discriminator's loss, the
# generator's loss (both forms) and the optimal discriminator. Then you check the theory
# with them and train a 2-D toy GAN with your own losses.
#
# All discriminator outputs are **logits** $\ell$ of shape `(B,)`, with $D(x) = \sigma(\ell)$.
# Work with logits: $-\log\sigma(\ell) = \operatorname{softplus}(-\ell)$ and
# $-\log(1 - \sigma(\ell)) = \operatorname{softplus}(\ell)$ stay finite where $\sigma(\ell)$ rounds to 0 or 1.

# %% tags=["setup"]
# Setup: on Colab this installs genlab and copies the notebooks to your workspace; locally it changes nothing.
try:
    import genlab
except ImportError:
    # %pip install -q "genlab @ git+https://github.com/genlab-course/genlab@main"
    import genlab
    genlab.colab.workspace()  # on Colab: your own copies (on Drive when mounted); elsewhere nothing

# %% tags=["support"]
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

import genlab
from genlab import checks, toy

session = genlab.start(seed=0)

# %% [markdown]
# ## Exercise 1: the discriminator's loss
#
# $D$ maximises $V(D, G) = \mathbb E_x[\log D(x)] + \mathbb E_z[\log(1 - D(G(z)))]$, i.e. it
# minimises the binary cross-entropy with **real labelled 1 and fakes labelled 0**:
#
# $$\mathcal L_D = -\frac1N \sum_i \log \sigma(\ell^\text{real}_i) - \frac1M \sum_j \log\big(1 - \sigma(\ell^\text{fake}_j)\big).$$
#
# Return a scalar tensor: the sum of the two batch means.

# %% tags=["exercise"]
def discriminator_loss(d_real_logits: torch.Tensor, d_fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE of D: real logits (N,) against 1 plus fake logits (M,) against 0; each a batch mean -> scalar."""
    # YOUR CODE HERE
    raise NotImplementedError('Implement discriminator_loss; genlab.hint("discriminator_loss") gives a hint in three steps.')


# %%
checks.check_discriminator_loss(discriminator_loss)

# %% [markdown]
# ## Exercise 2: the generator's loss, two ways
#
# * saturating (the minimax form): $G$ minimises $\frac1M\sum_j \log(1 - \sigma(\ell_j))$ (a negative number);
# * non-saturating (what everyone uses): $G$ minimises $-\frac1M\sum_j \log \sigma(\ell_j)$, the BCE of the
#   fake logits against the label **1**.
#
# `non_saturating=True` is the default. Lecture 03 shows why: where $D$ confidently rejects the fakes, the
# saturating loss has almost no gradient.

# %% tags=["exercise"]
def generator_loss(d_fake_logits: torch.Tensor, non_saturating: bool = True) -> torch.Tensor:
    """G's loss from D's logits on fakes (M,): -mean log D(G(z)) (default) or mean log(1 - D(G(z))) -> scalar."""
    # YOUR CODE HERE
    raise NotImplementedError('Implement generator_loss; genlab.hint("generator_loss") gives a hint in three steps.')


# %%
checks.check_generator_loss(generator_loss)

# %% [markdown]
# ## Exercise 3: the optimal discriminator
#
# For a fixed generator, $V$ is maximised pointwise by
# $D^*(x) = \dfrac{p_\text{data}(x)}{p_\text{data}(x) + p_g(x)}$. Given both densities evaluated at the same
# points (any shape), return $D^*$ at those points, in their dtype. It must stay exact in the
# tails, where both densities are as small as $10^{-30}$ (no epsilon), and be 0 where
# $p_\text{data} = 0$.

# %% tags=["exercise"]
def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), elementwise; same shape as the inputs."""
    # YOUR CODE HERE
    raise NotImplementedError('Implement optimal_discriminator; genlab.hint("optimal_discriminator") gives a hint in three steps.')


# %%
checks.check_optimal_discriminator(optimal_discriminator)

# %% [markdown]
# ## Stretch: the Jensen-Shannon divergence
#
# At the optimal discriminator the game's value is $-\log 4 + 2\,\mathrm{JS}(p_\text{data} \| p_g)$.
# Write the divergence itself for discrete distributions, `js_divergence(p, q)`:
#
# $$\mathrm{JS}(p \| q) = \tfrac12 \mathrm{KL}(p \| m) + \tfrac12 \mathrm{KL}(q \| m),
#   \qquad m = \tfrac12 (p + q).$$
#
# Contract:
#
# * inputs: `p` and `q` of the same shape `(..., K)`, each a probability vector along the last
#   axis (non-negative, summing to 1); entries may be exactly 0, in one of them or in both;
# * output: shape `(...)`, in nats, in the inputs' dtype, differentiable with respect to both;
# * symmetric, 0 when `p == q`, $\log 2$ when the supports are disjoint, finite everywhere
#   ($0 \log 0 = 0$).
#
# No recipe: choose how to compute it so that every property holds.

# %% tags=["exercise"]
def js_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """JS(p || q) in nats over the last axis: ``(..., K), (..., K) -> (...)``."""
    # YOUR CODE HERE
    raise NotImplementedError('Implement js_divergence; genlab.hint("js_divergence") gives a hint in three steps.')


# %%
checks.check_js_divergence(js_divergence)

# %% [markdown]
# ## Check the theory with your functions
#
# With your $D^*$, the value of the game should equal $-\log 4 + 2\,\mathrm{JS}(p_\text{data} \| p_g)$.
# Below, the data is two bumps, the generator one Gaussian; change `p_g` and rerun.

# %%
x = torch.linspace(-14, 14, 2801, dtype=torch.float64)
p_data = toy.mixture_pdf(x, mus=[-2.0, 1.5], sigmas=[0.5, 0.8])
p_g = toy.normal_pdf(x, 0.0, 1.5)
d_star = optimal_discriminator(p_data, p_g)
print(f"V(D*, G) = {toy.value_on_grid(d_star, p_data, p_g, x):.5f}; "
      f"-log 4 + 2 JS = {-math.log(4) + 2 * toy.js_on_grid(p_data, p_g, x):.5f}")
plt.figure(figsize=(7, 2.5))
plt.plot(x, p_data, label="$p_{data}$")
plt.plot(x, p_g, label="$p_g$")
plt.plot(x, d_star, "k", label="your $D^*$")
plt.xlim(-6, 6)
plt.legend(fontsize=8);

# %% [markdown]
# ## Train a toy GAN with your losses
#
# `toy.train_toy_gan` runs the alternating updates on 8 Gaussians on a ring and calls your
# `discriminator_loss` and `generator_loss`. The red crosses are the modes.

# %%
ring = toy.GaussianMixture2D.ring(n_modes=8, radius=2.0, std=0.05)
run = toy.train_toy_gan(ring, steps=genlab.fast_or(200, 1000), batch_size=128, hidden=64, depth=2, lr=1e-3,
                        snapshots=5, d_loss_fn=discriminator_loss, g_loss_fn=generator_loss)
toy.show_snapshots(run, ring, title="your GAN")
print("modes covered over time:", run.history["covered"])

# %% [markdown]
# ## Challenge: cover every mode
#
# **Target**: modes of the 8-Gaussian ring (radius 2, std 0.05) covered by 2,000 samples of `model.generator` from N(0, I) noise, a mode counting when at least 4 % of the samples lie within 3 std of it: at least 4, 6, 8 modes, one point per threshold reached (gradebook column `c_modes`).
# **Hand in** `challenge_03.pt` next to this notebook, written by `genlab.save_challenge(model, "03")`;
# `model` comes from `genlab.models.build("toy_gan", ...)` (any other sizes you
# like, within the parameter budget). Train it as you wish on the training split, never on the test split.
# **How it is measured**: the grader loads the file with `torch.load(weights_only=True)` into that model and
# measures it on held-back data drawn from its own seed; `genlab.check_challenge("03")` measures it here on
# public data. Without a handed-in file, the grader runs the cell below in fast mode (at most 30 s of CPU
# time) and measures the file it saves.

# %% tags=["challenge"]
# YOUR CODE HERE
raise NotImplementedError('Train and save your challenge model here (the text above gives the target); genlab.hint("challenge_03") gives a hint in three steps.')

# %%
genlab.check_challenge("03");  # your points on public data; the grader measures on held-back data

# %% [markdown]
# ## Concept questions
#
# Answer in the cell below: replace each `...` with your answer (a number, or the letter of a choice as a string, e.g. `"b"`) and run it. The check says *right* or *not yet*, never the answer. When you hand in, the grader reads the values written in that cell; each question is worth one point.
#
# **q1.** At a point where p_data(x) = 3 p_g(x), what is D*(x)? Two decimals.
#
# **q2.** What is V(D*, G) when p_g = p_data (natural logarithms)? Two decimals.
#
# **q3.** D gives one fake the logit -5. What is the magnitude of the derivative of the saturating loss log(1 - sigma(l)) with respect to that logit? Four decimals.
#
# **q4.** D outputs the logit 0 for every real and every fake sample. What does `discriminator_loss` return? Two decimals.
#
# **q5.** Early in training D rejects every fake confidently. Which generator loss gives G a gradient it can learn from? (a) the non-saturating one; (b) the saturating one; (c) both equally; (d) neither.

# %% tags=["question"]
answer = genlab.questions("03")
answer("q1", ...)
answer("q2", ...)
answer("q3", ...)
answer("q4", ...)
answer("q5", ...)

# %% [markdown]
# ## What to try next
#
# * Pass `non_saturating=False` to `train_toy_gan` (the saturating loss): is it slower to start?
# * Make the discriminator lag (`lr_d=1e-4`) and watch the samples collapse into a wandering blob.
# * Try the 25-mode grid `toy.GaussianMixture2D.grid(5, spacing=1.0)`: how many modes does your GAN find?


# %% [markdown]
# ## References
#
# * Goodfellow, I. et al. (2014). Generative adversarial nets. *NeurIPS 2014*. (The minimax game, D*, V(D*, G) = -log 4 and the non-saturating loss.)
