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
# # 09 · Debugging generative models
#
# > Habits that find bugs in generative models: shape/content tests, loss at init, overfit one batch, gradient routing, eval mode and baselines.
#
# ## Objectives
#
# After this notebook you can:
#
# * test shapes and content separately;
# * predict the loss at initialisation and overfit one batch;
# * trace where gradients go (detach, no_grad);
# * evaluate in eval mode and always beside a baseline.
#
# ## Prerequisites
#
# Lectures 01-05 (the models whose bugs we hunt).
#
# ## Time
#
# Full mode (the default) took 23.4<!--r:time.full.course.09_debugging@kernel_cpu_s--> s of kernel CPU time on a 2-core CPU
# (34.1<!--r:time.full.course.09_debugging--> s of wall time on a machine shared with other jobs; `make results`); fast mode
# (`GENLAB_FAST=1`) about 4.5<!--r:time.fast.course.09_debugging--> s.
#
# ---
#
# Generative models fail quietly. A classifier with a bug usually shows a bad accuracy; a
# GAN, a VAE or a repairer with a bug still trains, still prints a falling loss, and still
# produces images, only worse ones. Most bugs are one of a few kinds, and a few habits find
# them fast:
#
# 1. **check shapes and content** where tensors change shape (reshape vs permute);
# 2. **know the loss at initialisation** and at the optimum, and check them;
# 3. **overfit one batch**: a model that cannot memorise 16 images has a bug, not a
#    capacity problem;
# 4. **watch where gradients go**: which parameters get them, and which must not;
# 5. **evaluate in evaluation mode**, and compare with a baseline every time.
#
# This lecture shows each habit on a small example, then applies them to code of the kind
# found online; lab 09 gives thirteen broken functions to fix.

# %% tags=["setup"]
# Setup: on Colab this installs genlab and copies the notebooks to your workspace; locally it changes nothing.
try:
    import genlab
except ImportError:
    # %pip install -q "genlab @ git+https://github.com/genlab-course/genlab@main"
    import genlab
    genlab.colab.workspace()  # on Colab: your own copies (on Drive when mounted); elsewhere nothing

# %%
import torch
import torch.nn.functional as F

import genlab
from genlab import data, losses, masks
from genlab.models.repair import ConvRepairer, RepairConfig
from genlab.restoration import evaluate_repairers

session = genlab.start(seed=0)
device = session.device

# %% [markdown]
# ## 1. Shapes right, content wrong
#
# The most dangerous reshaping bugs raise no error. Test a reshape against its definition
# (a loop, or a hand-made tensor whose values say where they came from):

# %%
feat = torch.arange(24.0).view(1, 2, 3, 4)        # value = position in memory: easy to trace
ok = feat.permute(0, 2, 3, 1).reshape(3, 4, 2)    # rows as sequences, channels last
bad = feat.view(3, 4, 2)                          # same shape
print("pixel (0, 0) should carry channels", feat[0, :, 0, 0].tolist(),
      "| permute gives", ok[0, 0].tolist(), "| view gives", bad[0, 0].tolist())

# %% [markdown]
# ## 2. Know your loss at initialisation
#
# A discriminator that cannot tell anything apart outputs logits near 0, so its BCE on one
# batch of reals and one of fakes is $2\log 2 \approx 1.386$. A VAE's KL is $\ge 0$ and
# exactly 0 at the prior. A sigmoid applied before BCE-with-logits (which applies its own)
# squeezes the model's probabilities into $(\sigma(0), \sigma(1)) = (0.5, 0.73)$, so the loss
# on a positive example can never go below $-\log\sigma(1) \approx 0.31$. Compute these
# numbers before training:

# %%
zeros = torch.zeros(64)
print(f"D loss at logits 0: {losses.discriminator_loss(zeros, zeros):.4f}  (2 log 2 = {2 * torch.log(torch.tensor(2.)):.4f})")
print(f"KL at the prior: {losses.kl_divergence(torch.zeros(4, 8), torch.zeros(4, 8)).tolist()}")
confident = torch.full((8,), 20.0)
print(f"BCE-with-logits, confident and right: {F.binary_cross_entropy_with_logits(confident, torch.ones(8)):.2e}; "
      f"with a sigmoid applied first: {F.binary_cross_entropy_with_logits(torch.sigmoid(confident), torch.ones(8)):.3f}")

# %% [markdown]
# ## 3. Overfit one batch
#
# Train on the same 16 digits and the same masks, step after step. The masked loss must
# go towards 0 fast; if it stalls, the model or the loss is wrong, not the data.

# %%
x16, _ = data.load("digits", "train", size=16, limit=16)
g = torch.Generator().manual_seed(0)
mask = masks.row_band(16, 16, 5, generator=g)
torch.manual_seed(0)
model = ConvRepairer(RepairConfig(width=16, depth=2))
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
steps = genlab.fast_or(30, 200)
for step in range(steps):
    loss = losses.masked_mse(model(masks.apply_mask(x16, mask), mask), x16, mask)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % max(1, steps // 5) == 0 or step == steps - 1:
        print(f"step {step:3d}  masked MSE {loss.item():.5f}")

# %% [markdown]
# ## 4. Where do the gradients go?
#
# After a discriminator update, the generator must have no gradient; after a generator
# update, the discriminator's gradient is irrelevant (and must be zeroed before its own
# step). A helper that lists which parameters received gradient finds a missing `detach`
# immediately:

# %%
gen = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
disc = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))


def got_grad(module):
    return [name for name, p in module.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]


z, real = torch.randn(8, 2), torch.randn(8, 3)
for detach in (False, True):
    gen.zero_grad(set_to_none=True)
    fake = gen(z).detach() if detach else gen(z)
    losses.discriminator_loss(disc(real).squeeze(1), disc(fake).squeeze(1)).backward()
    print(f"detach={detach}: generator parameters with gradient after the D loss: {got_grad(gen)}")

# %% [markdown]
# ## 5. Evaluation mode, and a baseline every time
#
# Dropout and batch norm behave differently in training; `model.eval()` (and
# `torch.no_grad()`) before measuring, then back to `model.train()`. `evaluate_repairers`
# does both, and puts mean fill and biharmonic in every table, so an untrained or broken
# model shows up as what it is:

# %%
evaluate_repairers({"overfit on one batch": model}, data.load("digits", "test", size=16, limit=64)[0],
                   ["5-row band"], ssim=False)

# %% [markdown]
# The model memorised 16 training digits under one fixed mask; on held-out digits and other
# band positions it is no better than the formula. That is habit 5: without the baseline
# row, its number would look like a result.

# %% [markdown]
# ## 6. Reading code found online
#
# Tutorial code copied from the web often runs without an error and learns nothing. The
# five habits above catch its bugs too, if you apply them before trusting a single loss
# curve. Five kinds turn up again and again:
#
# * **the wrong thing fed in as data**: a GAN whose "real" batch is the generator's own
#   output, or an autoencoder trained on freshly drawn uniform noise. The loss even falls;
#   habit 2 catches it (a discriminator that sees fakes on both sides sits at
#   $2\ln 2 \approx 1.39$, an autoencoder on $U(-1, 1)$ noise at the noise's variance, $1/3$);
# * **one objective for two players**: a GAN trained by minimising one loss with one
#   optimiser over both networks. The generator then minimises the discriminator's loss,
#   i.e. it helps the discriminator; habit 4 (whose gradient goes where) shows it;
# * **sizes copied from another script**: a head of 784 units (a 28 x 28 gray image)
#   reshaped into 3 x 64 x 64 images, with the batch size left for the reshape to infer;
#   habit 1;
# * **a layer fed a tensor of the wrong rank**: a recurrent layer given a 4-D feature map
#   (it needs sequences: one row of the map per sequence, channels as features); habit 1;
# * **signs and logs**: a KL added with the wrong sign (without its factor of one half),
#   and `log` taken of raw logits, which are not probabilities.
#
# The last one is quick to see:

# %%
scores = torch.tensor([-120.0, -3.0, 0.0, 3.0])       # a discriminator's raw outputs (logits)
print("log of the raw score:   ", torch.log(scores).tolist())
print("log of the sigmoid:     ", torch.log(torch.sigmoid(scores)).tolist())
print("log-sigmoid in one step:", F.logsigmoid(scores).tolist())

# %% [markdown]
# The first gives NaN for every negative score, the second $-\infty$ at $-120$ (the
# probability is below the smallest float32), the third the right value, about $-120$.
#
# The size bug raises no error when the numbers happen to divide evenly; the batch size
# simply changes:

# %%
codes = torch.randn(3, 8)
head = torch.nn.Linear(8, 784)                        # the width of another script's images
images = head(codes).reshape(-1, 1, 14, 28)           # 784 = 2 x (14 x 28): no error
print("codes:", tuple(codes.shape), "-> images:", tuple(images.shape))

# %% [markdown]
# ## What to try next
#
# Lab 09: thirteen broken functions (a wrong reshape, fakes labelled real, a KL with the wrong
# sign, a GRU fed a 4-D tensor, a double sigmoid, a missing `detach`, a forgotten
# `eval()`, weights shared by accident, and the five kinds of section 6: fakes as the real
# batch, noise as the data, one loss for both players, a 784-unit head, the log of a
# logit). Each check describes the symptom; you find the fix.

# %% [markdown]
# ## References
#
# * Karpathy, A. (2019). A recipe for training neural networks. Blog post, karpathy.github.io.
# * Goodfellow, I. et al. (2014). Generative adversarial nets. *NeurIPS*.
# * Kingma, D. P. & Welling, M. (2014). Auto-encoding variational Bayes. *ICLR*.
