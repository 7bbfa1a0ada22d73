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
# # Lab 04 · A DCGAN on digits
#
# > Build the DCGAN `Generator` and `Discriminator` and `gan_training_step`; train on digits and measure against real-vs-real.
#
# **Objectives**: after this lab you can
#
# * build the DCGAN generator and discriminator from a table of layers;
# * write one GAN training step with the detach in the right place;
# * evaluate samples with the Frechet distance against a real-vs-real baseline.
#
# **Prerequisites**: lecture 04 (GANs on images), labs 01 and 03.
#
# **Time**: full mode (`GENLAB_FAST` unset) took 47.6<!--r:time.full.solutions.04_gans_on_images@kernel_cpu_s--> s of kernel CPU time on a 2-core CPU for the solution notebook, challenge cell included (30.0<!--r:time.full.solutions.04_gans_on_images--> s of wall time on a machine shared with other jobs; `genlab.results run`); not measured on a GPU. Add your own time for the exercises.
#
# You build the two DCGAN networks and the training step, train them on 16x16 digits, and
# measure the result against the real-vs-real baseline. Conventions (the checks and the
# grader rely on them):
#
# * `Generator(z_dim=32)`: `G(z)` maps `z` of shape `(B, z_dim)` to images `(B, 1, 16, 16)` in `[0, 1]`;
# * `Discriminator()`: `D(x)` maps images `(B, 1, 16, 16)` to **logits** of shape `(B,)`, no sigmoid;
# * `gan_training_step(G, D, opt_g, opt_d, real, z)` does one D update then one G update and
#   returns `{"loss_d": float, "loss_g": float}`.

# %% tags=["setup"]
# Setup: on Colab this installs genlab and copies the notebooks to your workspace; locally it changes nothing.
try:
    import genlab
except ImportError:
    # %pip install -q "genlab @ git+https://github.com/genlab-course/genlab@main"
    import genlab
    genlab.colab.workspace()  # on Colab: your own copies (on Drive when mounted); elsewhere nothing

# %% tags=["support"]
import torch
import torch.nn.functional as F
from torch import nn

import genlab
from genlab import checks, data, datasets, metrics, plot

session = genlab.start(seed=0)
device = session.device

# %% [markdown]
# ## Exercise 1: the DCGAN generator
#
# Treat `z` as a `(B, z_dim, 1, 1)` image and grow it with transposed convolutions:
#
# | layer | output |
# | --- | --- |
# | `ConvTranspose2d(z_dim, 2w, 4)` + BatchNorm + ReLU | `(B, 2w, 4, 4)` |
# | `ConvTranspose2d(2w, w, 4, stride=2, padding=1)` + BatchNorm + ReLU | `(B, w, 8, 8)` |
# | `ConvTranspose2d(w, 1, 4, stride=2, padding=1)`, then sigmoid | `(B, 1, 16, 16)` in `[0, 1]` |
#
# Store `z_dim` as `self.z_dim`. (Layers followed by BatchNorm need no bias: BatchNorm's shift replaces it.)
# The output must be able to reach both ends of `[0, 1]`: the digits' background is black (0).

# %% tags=["exercise"]
class Generator(nn.Module):
    """DCGAN generator: z (B, z_dim) -> images (B, 1, 16, 16) in [0, 1]."""

    def __init__(self, z_dim: int = 32, width: int = 32) -> None:
        super().__init__()
        self.z_dim = z_dim
        # YOUR CODE HERE
        raise NotImplementedError('Build the layers of Generator; genlab.hint("Generator") gives a hint in three steps.')

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # YOUR CODE HERE
        raise NotImplementedError('Write the forward pass of Generator; genlab.hint("Generator") gives a hint in three steps.')


# %%
checks.check_Generator(Generator)

# %% [markdown]
# ## Exercise 2: the DCGAN discriminator
#
# | layer | output |
# | --- | --- |
# | `Conv2d(1, w, 4, stride=2, padding=1)` + LeakyReLU(0.2) | `(B, w, 8, 8)` |
# | `Conv2d(w, 2w, 4, stride=2, padding=1)` + BatchNorm + LeakyReLU(0.2) | `(B, 2w, 4, 4)` |
# | `Conv2d(2w, 1, 4)` | `(B, 1, 1, 1)` -> flatten to logits `(B,)` |
#
# No sigmoid at the end: the losses use BCE-with-logits. Logits are unbounded (nothing such as a
# tanh may keep them inside [-1, 1]).

# %% tags=["exercise"]
class Discriminator(nn.Module):
    """DCGAN discriminator: images (B, 1, 16, 16) -> logits (B,)."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError('Build the layers of Discriminator; genlab.hint("Discriminator") gives a hint in three steps.')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # YOUR CODE HERE
        raise NotImplementedError('Write the forward pass of Discriminator; genlab.hint("Discriminator") gives a hint in three steps.')


# %%
checks.check_Discriminator(Discriminator)

# %% [markdown]
# ## Exercise 3: one training step
#
# `gan_training_step(G, D, opt_g, opt_d, real, z)` makes one batch of fakes $G(z)$ and then
#
# 1. **D step**: $\mathcal L_D = \operatorname{BCE}(D(x), 1) + \operatorname{BCE}(D(G(z)), 0)$, each a batch
#    mean on logits, with the fakes cut from G's graph: D's step neither needs nor writes G's
#    gradients, and only D's parameters move;
# 2. **G step** through the *updated* D: the non-saturating $\mathcal L_G = \operatorname{BCE}(D(G(z)), 1)$,
#    with the fakes attached to G, and only G's parameters move;
# 3. returns `{"loss_d": ..., "loss_g": ...}`, the two losses as Python floats.
#
# Each step starts from cleared gradients of its own network. (`genlab.losses` has these
# losses, but write them here yourself.)

# %% tags=["exercise"]
def gan_training_step(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                      real: torch.Tensor, z: torch.Tensor) -> dict[str, float]:
    """One D update (real -> 1, detached fakes -> 0), then one G update through D (non-saturating)."""
    # YOUR CODE HERE
    raise NotImplementedError('Implement gan_training_step; genlab.hint("gan_training_step") gives a hint in three steps.')


# %%
checks.check_gan_training_step(gan_training_step)

# %% [markdown]
# ## Stretch: the hinge losses
#
# Since Lim & Ye (2017) and Miyato et al. (2018), many GANs train with the *hinge* losses instead of BCE:
#
# $$ \mathcal L_D = \mathbb E_x\big[\max(0,\, 1 - D(x))\big] + \mathbb E_z\big[\max(0,\, 1 + D(G(z)))\big],
#    \qquad \mathcal L_G = -\,\mathbb E_z\big[D(G(z))\big]. $$
#
# Write `hinge_discriminator_loss(d_real_logits, d_fake_logits)` and
# `hinge_generator_loss(d_fake_logits)`. Contract: `(B,)` logits in (the real and fake batches
# may differ in size, each expectation is the mean over its own batch), a 0-d tensor out in the
# logits' dtype, differentiable with respect to every input; correct for any logits, including
# confident ones of +-30 or +-120, right or wrong.

# %% tags=["exercise"]
def hinge_discriminator_loss(d_real_logits: torch.Tensor, d_fake_logits: torch.Tensor) -> torch.Tensor:
    """The hinge loss of the discriminator: real logits pushed above +1, fake logits below -1."""
    # YOUR CODE HERE
    raise NotImplementedError('Implement hinge_discriminator_loss; genlab.hint("hinge_discriminator_loss") gives a hint in three steps.')


def hinge_generator_loss(d_fake_logits: torch.Tensor) -> torch.Tensor:
    """The hinge-GAN generator loss: minus the mean logit of the fakes."""
    # YOUR CODE HERE
    raise NotImplementedError('Implement hinge_generator_loss; genlab.hint("hinge_generator_loss") gives a hint in three steps.')


# %%
checks.check_hinge_discriminator_loss(hinge_discriminator_loss)
checks.check_hinge_generator_loss(hinge_generator_loss)

# %% [markdown]
# ## Train your DCGAN
#
# Adam with $\beta = (0.5, 0.999)$ for both players, and a fixed noise batch so the grids
# from different epochs show the same $z$.

# %% [markdown]
# *Dataset switch:* `GENLAB_DATASET=mnist` (or `fashion_mnist`, `cifar10`), or `datasets.select("mnist", ...)`
# in the cell below, trains on another dataset. Your exercise models take 1x16x16 images, so
# the chosen dataset is resized to 16x16 and converted to gray; epochs and batch size come from
# `genlab.datasets.PRESETS`. The figures quoted here were measured on the digits only; on the
# other datasets they are not measured.
# On another dataset the Frechet distance and class coverage use a classifier trained here on
# that dataset (`course.classifier()`), not the shipped digits one.

# %%
# GENLAB_DATASET picks the data (or select("mnist", ...)); your G and D work on 1 x 16 x 16 images
course = datasets.select(device=device, lesson="gans", size=16, channels=1)
x_train, _ = course.train()
x_test, y_test = course.test()
epochs = course.epochs()
torch.manual_seed(0)
G, D = Generator(z_dim=32).to(device), Discriminator().to(device)
opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
fixed_z = torch.randn(32, 32, generator=torch.Generator().manual_seed(1)).to(device)
order = torch.Generator().manual_seed(0)
log, grids = {"loss_d": [], "loss_g": []}, {}
for epoch in range(1, epochs + 1):
    for real in data.batches(x_train, batch_size=course.batch_size, generator=order):
        out = gan_training_step(G, D, opt_g, opt_d, real.to(device), torch.randn(len(real), 32, device=device))
        for k in log:
            log[k].append(out[k])
    if epoch in (1, (epochs + 1) // 2, epochs):
        G.eval()
        with torch.no_grad():
            grids[f"epoch {epoch}"] = G(fixed_z).cpu()
        G.train()
plot.show_rows(grids, n=16, title="your DCGAN on the fixed noise batch");

# %%
plot.plot_history({"loss_d (per step)": log["loss_d"], "loss_g (per step)": log["loss_g"]});

# %% [markdown]
# ## Evaluate: Frechet distance and class coverage against the real-vs-real baseline

# %%
# the shipped digits classifier on digits; on another dataset one trained here (rough in fast mode)
classifier = course.classifier()
G.eval()
with torch.no_grad():
    fakes = G(torch.randn(len(x_test), 32, device=device))
for name, a in {"real train": x_train[:len(x_test)].to(device), "your DCGAN": fakes}.items():
    fd = metrics.classifier_frechet(a, x_test.to(device), classifier.eval())
    cov = metrics.class_coverage(a, classifier)
    print(f"{name:12s} vs real test: Frechet distance {fd:8.2f}, classes covered {cov['covered']}/10")

# %% [markdown]
# ## Challenge: samples the classifier cannot tell apart
#
# **Target**: Frechet distance, in the shipped digit classifier's features, between 512 samples of `model.generator` (N(0, I) noise) and 256 held-back 16 x 16 test digits, at most 1500, 800, 500, one point per threshold reached (gradebook column `c_fd`).
# **Hand in** `challenge_04.pt` next to this notebook, written by `genlab.save_challenge(model, "04")`;
# `model` comes from `genlab.models.build("dcgan" or "gan", image_size=16, channels=1, ...)` (any other sizes you
# like, within the parameter budget). Train it as you wish on the training split, never on the test split.
# **How it is measured**: the grader loads the file with `torch.load(weights_only=True)` into that model and
# measures it on held-back data drawn from its own seed; `genlab.check_challenge("04")` measures it here on
# public data. Without a handed-in file, the grader runs the cell below in fast mode (at most 30 s of CPU
# time) and measures the file it saves.

# %% tags=["challenge"]
# YOUR CODE HERE
raise NotImplementedError('Train and save your challenge model here (the text above gives the target); genlab.hint("challenge_04") gives a hint in three steps.')

# %%
genlab.check_challenge("04");  # your points on public data; the grader measures on held-back data

# %% [markdown]
# ## Concept questions
#
# Answer in the cell below: replace each `...` with your answer (a number, or the letter of a choice as a string, e.g. `"b"`) and run it. The check says *right* or *not yet*, never the answer. When you hand in, the grader reads the values written in that cell; each question is worth one point.
#
# **q1.** The discriminator's layers are kernel 4 stride 2, kernel 4 stride 2, kernel 4 stride 1. How wide is the receptive field of its logit, counting padding? An integer.
#
# **q2.** In the D step you score `D(fake)` instead of the detached fakes. What else does `loss_d`'s backward pass now do? (a) nothing, the result is identical; (b) it changes the real-image term of `loss_d`; (c) it updates G's weights; (d) it also writes gradients into G's parameters, wasted work that corrupts the G step unless G's gradients are cleared first.
#
# **q3.** How many weights has a transposed convolution from 32 to 64 channels with a 4 x 4 kernel and no bias? An integer.
#
# **q4.** At the game's equilibrium D outputs 1/2 for every image. What `loss_g` does `gan_training_step` report (natural logarithms)? Two decimals.

# %% tags=["question"]
answer = genlab.questions("04")
answer("q1", ...)
answer("q2", ...)
answer("q3", ...)
answer("q4", ...)

# %% [markdown]
# ## What to try next
#
# * Replace the non-saturating G loss by the saturating one and compare the first epochs.
# * Remove the BatchNorm layers: does training still work?
# * One-sided label smoothing: label real digits 0.9 in the D step. Does the Frechet distance move?


# %% [markdown]
# ## References
#
# * Goodfellow, I. et al. (2014). Generative adversarial nets. *NeurIPS 2014*. (The training step.)
# * Radford, A., Metz, L. & Chintala, S. (2016). Unsupervised representation learning with deep convolutional generative adversarial networks. *ICLR 2016*. (The DCGAN architecture and Adam settings.)
# * Ioffe, S. & Szegedy, C. (2015). Batch normalization. *ICML 2015*. (BatchNorm in G and D.)
# * Heusel, M. et al. (2017). GANs trained by a two time-scale update rule converge to a local Nash equilibrium. *NeurIPS 2017*. (The Frechet distance of the evaluation.)
# * Lim, J. H. & Ye, J. C. (2017). Geometric GAN. arXiv:1705.02894. (The hinge losses of the stretch exercise.)
# * Miyato, T. et al. (2018). Spectral normalization for generative adversarial networks. *ICLR 2018*. (Hinge losses in a DCGAN-style model.)
