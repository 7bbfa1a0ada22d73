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
# # Lab 02 · The three pieces of a VAE
#
# > Write `reparameterize`, `kl_divergence`, `elbo_loss`; train a conv VAE and sample.
#
# **Objectives**: after this lab you can
#
# * write the reparameterisation trick and say why it makes sampling differentiable;
# * compute the Gaussian KL to the prior in closed form, per example;
# * assemble the negative ELBO in nats per image and train a convolutional VAE.
#
# **Prerequisites**: lecture 02 (VAEs) and lab 01.
#
# **Time**: full mode (`GENLAB_FAST` unset) took 66.1<!--r:time.full.solutions.02_vae@kernel_cpu_s--> s of kernel CPU time on a 2-core CPU for the solution notebook, challenge cell included (43.7<!--r:time.full.solutions.02_vae--> s of wall time on a machine shared with other jobs; `genlab.results run`); not measured on a GPU. Add your own time for the exercises.
#
# A variational autoencoder needs three small functions on top of an encoder and a
# decoder. You write them, each followed by a check, then train a convolutional VAE with
# them and draw new digits from it:
#
# 1. `reparameterize(mu, logvar) -> z`: a differentiable sample from $q(z \mid x)$;
# 2. `kl_divergence(mu, logvar) -> (B,)`: the KL to the prior $\mathcal N(0, I)$, per example;
# 3. `elbo_loss(x, x_logits, mu, logvar) -> scalar`: the negative ELBO, nats per image.
#
# Lecture 02 (`course/02_vae.ipynb`) derives all three.

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

import torch
import torch.nn.functional as F

import genlab
from genlab import checks, datasets, models, plot, train
from genlab.widgets import TrainingDashboard

session = genlab.start(seed=0)
device = session.device

LATENT_DIM = 8

# %% [markdown]
# ## Exercise 1: the reparameterisation trick
#
# The encoder gives, for each image, a mean `mu` and a log-variance `logvar` (both
# `(B, d)`), so $\sigma = \exp(\tfrac12 \log\sigma^2)$. Write `reparameterize(mu, logvar)`
# returning
#
# $$z = \mu + \sigma \odot \varepsilon, \qquad \varepsilon \sim \mathcal N(0, I),$$
#
# with `eps` of the full shape of `mu` (one independent draw per coordinate of every
# example) and drawn fresh. `z` must be differentiable with respect to `mu` and `logvar`:
# a sample drawn by a distribution object is not. The check looks at the mean
# and standard deviation of many samples and at the gradients
# $\partial z / \partial \mu = 1$, $\partial z / \partial \log\sigma^2 = (z - \mu)/2$.

# %% tags=["exercise"]
def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Differentiable sample ``z ~ N(mu, diag(exp(logvar)))``; ``(B, d), (B, d) -> (B, d)``."""
    ### BEGIN SOLUTION
    # HINT: Implement reparameterize; genlab.hint("reparameterize") gives a hint in three steps.
    std = torch.exp(0.5 * logvar)
    eps = torch.randn_like(mu)
    return mu + std * eps
    ### END SOLUTION


# %%
checks.check_reparameterize(reparameterize)

# %% [markdown]
# ## Exercise 2: the KL term
#
# Write `kl_divergence(mu, logvar)` returning, **for each example**, the KL divergence of
# $q = \mathcal N(\mu, \operatorname{diag}\sigma^2)$ from the prior $\mathcal N(0, I)$:
#
# $$\mathrm{KL}(q \,\|\, p) = \frac12 \sum_{j=1}^{d} \big(\sigma_j^2 + \mu_j^2 - 1 - \log\sigma_j^2\big),
# \qquad \sigma_j^2 = e^{\text{logvar}_j}.$$
#
# Input `(B, d)`, output `(B,)`: sum over the latent dimension only, not over the batch.
# In nats; never negative.

# %% tags=["exercise"]
def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per example: ``(B, d), (B, d) -> (B,)``."""
    ### BEGIN SOLUTION
    # HINT: Implement kl_divergence; genlab.hint("kl_divergence") gives a hint in three steps.
    return 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar).sum(dim=1)
    ### END SOLUTION


# %%
checks.check_kl_divergence(kl_divergence)

# %% [markdown]
# ## Exercise 3: the loss
#
# Write `elbo_loss(x, x_logits, mu, logvar)`: the **negative** ELBO with a Bernoulli
# likelihood, in nats per image, averaged over the batch, returned as a 0-D tensor:
#
# $$\mathcal L = \frac1B \sum_{b=1}^{B} \Big[\underbrace{\sum_{i} \operatorname{BCE}(\ell_{bi}, x_{bi})}_{-\log p(x_b \mid z_b)}
#   + \mathrm{KL}\big(q(z \mid x_b)\,\|\,\mathcal N(0, I)\big)\Big].$$
#
# * `x` are images `(B, C, H, W)` in `[0, 1]`; `x_logits` the decoder's **logits**, same shape;
#   the per-pixel term is computed from the raw logits (no sigmoid first),
#   $\operatorname{BCE}(\ell, x) = \log(1 + e^{\ell}) - x\,\ell$, finite for any logit, and summed
#   over every pixel (and channel) of each image;
# * the KL is your `kl_divergence`, one value per image;
# * the mean over the batch (not the sum), so the number does not depend on the batch size.
#
# It equals `genlab.losses.elbo_loss(x, x_logits, mu, logvar)` (but write your own: the
# autograder gives no points for calling genlab's).

# %% tags=["exercise"]
def elbo_loss(x: torch.Tensor, x_logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Mean negative ELBO per image in nats (Bernoulli likelihood); a 0-D tensor."""
    ### BEGIN SOLUTION
    # HINT: Implement elbo_loss; genlab.hint("elbo_loss") gives a hint in three steps.
    recon = F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").flatten(1).sum(1)  # (B,)
    return (recon + kl_divergence(mu, logvar)).mean()
    ### END SOLUTION


# %%
checks.check_elbo_loss(elbo_loss)

# %% [markdown]
# ## Stretch: a tighter bound with K samples
#
# The ELBO is the expected log of **one** importance weight. Draw $K$ codes
# $z_1, \dots, z_K \sim q(z \mid x)$ for the same image and average the weights *inside* the
# log (Burda et al. 2016):
#
# $$\mathcal L_K(x) = \log \frac1K \sum_{k=1}^{K} w_k \;\le\; \log p(x), \qquad
#   \log w_k = \log p(x, z_k) - \log q(z_k \mid x)$$
#
# (the inequality holds in expectation over the draws).
#
# Write `iwae_bound(log_w)`. Contract:
#
# * input: the log-weights `log_w` of shape `(B, K)`, one row per image, any real numbers
#   (for images they are in the hundreds of nats below zero, and far from each other);
# * output: `(B,)`, the bound of each image, in the dtype of `log_w`, differentiable with
#   respect to `log_w`;
# * with $K = 1$ it is the log-weight itself (the ELBO of that sample); on average it grows
#   with $K$;
# * finite for log-weights of $-1000$ or $+100$, where the weights themselves underflow to
#   0 or overflow to infinity.
#
# No recipe this time: decide how to compute it so that every property holds.

# %% tags=["exercise"]
def iwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """The importance-weighted bound of each row of log-weights: ``(B, K) -> (B,)``."""
    ### BEGIN SOLUTION
    # HINT: Implement iwae_bound; genlab.hint("iwae_bound") gives a hint in three steps.
    return torch.logsumexp(log_w, dim=1) - math.log(log_w.shape[1])
    ### END SOLUTION


# %%
checks.check_iwae_bound(iwae_bound)

# %% [markdown]
# ## Train a convolutional VAE with your pieces
#
# `genlab.models.ConvVAE` supplies the encoder (`encode(x) -> (mu, logvar)`) and the decoder
# (`decode(z) -> logits`). The task below is genlab's `VAETask` with its loss replaced by
# your three functions, so whatever you wrote is what trains.

# %% [markdown]
# *Dataset switch:* `GENLAB_DATASET=mnist` (or `fashion_mnist`, `cifar10`), or
# `datasets.select("mnist", ...)` in the cell below, trains the models on 28x28 MNIST or 32x32
# colour CIFAR-10 with the image size, width, batch size and epochs of `genlab.datasets.PRESETS`.
# The figures quoted in this notebook were measured on the digits only; on the other datasets
# they are not measured.

# %%
class MyVAETask(train.VAETask):
    """genlab's VAE task, with the step built from this lab's functions."""

    def losses(self, batch, ctx=None):
        x, _ = batch
        vae = self.net("model")
        mu, logvar = vae.encode(x)
        z = reparameterize(mu, logvar)
        loss = elbo_loss(x, vae.decode(z), mu, logvar)
        kl = kl_divergence(mu, logvar).mean().detach()
        return {"loss": loss, "kl": kl, "recon": loss.detach() - kl}


course = datasets.select(device=device, lesson="vae")  # GENLAB_DATASET, or select("mnist", ...)
x_train, _ = course.train()
x_test, _ = course.test()
vae = models.ConvVAE(course.config(models.VAEConfig, latent_dim=LATENT_DIM))
task = MyVAETask(vae, lr=2e-3)
history = train.fit(task, x_train, epochs=course.epochs(), batch_size=course.batch_size, val_data=x_test,
                    device=device, callbacks=[TrainingDashboard()])  # live curves and samples while it trains
plot.plot_history(history, keys=["loss", "val_loss", "val_kl"], title="negative ELBO and KL (nats per image)");

# %% [markdown]
# ## Sample
#
# Draw $z \sim \mathcal N(0, I)$, decode, apply the sigmoid: new digits that are in neither
# the training nor the test set. Below, reconstructions of test digits for comparison.

# %%
vae.eval()
plot.show_grid(vae.sample(64, generator=torch.Generator().manual_seed(0)).cpu(), nrow=16,
               title="64 samples from your VAE");
with torch.no_grad():
    mu_test, _ = vae.encode(x_test[:12].to(device))
    recon = torch.sigmoid(vae.decode(mu_test)).cpu()
plot.show_rows({"test digit": x_test[:12], "reconstruction": recon}, n=12);
print(f"test negative ELBO: {history.last('val_loss'):.1f} nats per image (KL {history.last('val_kl'):.1f})")

# %% [markdown]
# ## Challenge: the lowest negative ELBO
#
# **Target**: negative ELBO (Bernoulli decoder on the gray levels, one reparameterised sample, KL in closed form) on 256 held-back 16 x 16 test digits, at most 120, 110, 105 nats per image, one point per threshold reached (gradebook column `c_elbo`).
# **Hand in** `challenge_02.pt` next to this notebook, written by `genlab.save_challenge(model, "02")`;
# `model` comes from `genlab.models.build("conv_vae", "vae" or "mlp_vae", image_size=16, channels=1, ...)` (any other sizes you
# like, within the parameter budget). Train it as you wish on the training split, never on the test split.
# **How it is measured**: the grader loads the file with `torch.load(weights_only=True)` into that model and
# measures it on held-back data drawn from its own seed; `genlab.check_challenge("02")` measures it here on
# public data. Without a handed-in file, the grader runs the cell below in fast mode (at most 30 s of CPU
# time) and measures the file it saves.

# %% tags=["challenge"]
### BEGIN SOLUTION
# HINT: Train and save your challenge model here (the text above gives the target); genlab.hint("challenge_02") gives a hint in three steps.
from genlab import data, models, train


class ChallengeVAETask(train.VAETask):
    """The VAE task trained with your reparameterize and elbo_loss."""

    def losses(self, batch, ctx=None):
        x, _ = batch
        vae = self.net("model")
        mu, logvar = vae.encode(x)
        return {"loss": elbo_loss(x, vae.decode(reparameterize(mu, logvar)), mu, logvar)}


torch.manual_seed(0)
vae_c = models.build("conv_vae", image_size=16, channels=1, latent_dim=8)
x_c, _ = data.load("digits", "train", 16)
train.fit(ChallengeVAETask(vae_c, lr=2e-3), x_c, genlab.fast_or(20, 60), batch_size=64, progress=False)
genlab.save_challenge(vae_c, "02")
### END SOLUTION

# %%
genlab.check_challenge("02");  # your points on public data; the grader measures on held-back data

# %% [markdown]
# ## Concept questions
#
# Answer in the cell below: replace each `...` with your answer (a number, or the letter of a choice as a string, e.g. `"b"`) and run it. The check says *right* or *not yet*, never the answer. When you hand in, the grader reads the values written in that cell; each question is worth one point.
#
# **q1.** With d = 2, mu = (1, 0) and logvar = (0, ln 4), what is KL(q || N(0, I)) in nats? Two decimals.
#
# **q2.** mu = 2, logvar = ln 9 and the noise draw is eps = -0.5. What is the reparameterised z? Two decimals.
#
# **q3.** At that same point, what is dz / dlogvar? Two decimals.
#
# **q4.** The decoder outputs the logit 0 for every pixel of a binary 16 x 16 image. What is the reconstruction term -log p(x | z), in nats? One decimal.
#
# **q5.** Multiplying the KL term by beta > 1 tends to: (a) sharpen the reconstructions; (b) make the loss a tighter bound on -log p(x); (c) pull the posteriors towards the prior, with blurrier reconstructions; (d) leave the optimum unchanged.

# %% tags=["question"]
answer = genlab.questions("02")
### BEGIN SOLUTION
answer("q1", 1.31)
answer("q2", 0.5)
answer("q3", -0.75)
answer("q4", 177.4)
answer("q5", "c")
### END SOLUTION

# %% [markdown]
# ## What to try next
#
# * Weight the KL by `beta = 4` inside `MyVAETask.losses`: blurrier reconstructions, and samples?
# * `LATENT_DIM = 2`: decode a grid of `z` values with `plot.show_grid` and compare with
#   lecture 01's autoencoder map.
# * Compare your `elbo_loss` with `genlab.metrics.iwae_bound(vae, x_test, k=64)`: which is
#   tighter?


# %% [markdown]
# ## References
#
# * Kingma, D. P. & Welling, M. (2014). Auto-encoding variational Bayes. *ICLR 2014*. (The VAE, the reparameterisation trick and the Gaussian KL.)
# * Rezende, D. J., Mohamed, S. & Wierstra, D. (2014). Stochastic backpropagation and approximate inference in deep generative models. *ICML 2014*. (The same model and estimator, found independently.)
# * Burda, Y., Grosse, R. & Salakhutdinov, R. (2016). Importance weighted autoencoders. *ICLR 2016*. (The tighter bound of `genlab.metrics.iwae_bound`.)
# * Higgins, I. et al. (2017). beta-VAE: learning basic visual concepts with a constrained variational framework. *ICLR 2017*. (The KL weight of q5 and of "What to try next".)
# * Loaiza-Ganem, G. & Cunningham, J. P. (2019). The continuous Bernoulli: fixing a pervasive error in variational autoencoders. *NeurIPS 2019*. (Why a Bernoulli likelihood on gray levels is not a normalised density.)
