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
# # Lab 09 · Debugging lab: thirteen classic bugs
#
# > Fix thirteen classic bugs, each shown by a check that describes its symptom.
#
# **Objectives**: after this lab you can
#
# * recognise thirteen classic bugs of generative-model code from their symptoms, five of them
#   from tutorial code of the kind found online;
# * fix each and explain why the fix works.
# * write a detector for one training symptom (dead ReLU units) that leaves the model as it found it.
#
# **Prerequisites**: labs 02, 03, 04 and 06 (the bugs come from their models).
#
# **Time**: full mode (`GENLAB_FAST` unset) took 14.2<!--r:time.full.solutions.09_debugging@kernel_cpu_s--> s of kernel CPU time on a 2-core CPU for the solution notebook, challenge cell included (10.6<!--r:time.full.solutions.09_debugging--> s of wall time on a machine shared with other jobs; `genlab.results run`); not measured on a GPU. Add your own time for the exercises.
#
# Each section shows a `broken_*` function with one classic mistake from the models of this
# course, then runs a check on it: the check **fails and describes the symptom** you would
# see in a training run (not the fix). Your job: write the `fixed_*` function in the
# exercise cell below it (start by copying the broken body) so that its check passes.
#
# | # | bug | you write |
# | --- | --- | --- |
# | 1 | flat generator output reshaped to the wrong image shape | `fixed_generator_output` |
# | 2 | discriminator trained with fakes labelled real | `fixed_discriminator_loss` |
# | 3 | KL term with the wrong sign | `fixed_kl_divergence` |
# | 4 | recurrent layer fed a 4-D tensor | `fixed_row_rnn` |
# | 5 | sigmoid applied before BCE-with-logits | `fixed_bce_loss` |
# | 6 | missing `detach` on the fakes | `fixed_discriminator_update` |
# | 7 | model left in train mode during evaluation | `fixed_predict` |
# | 8 | two networks sharing weights by accident | `fixed_ema_copy` |
# | 9 | the generator's output fed in as the "real" images | `fixed_discriminator_batch` |
# | 10 | training on noise instead of data | `fixed_training_batch` |
# | 11 | one loss and one optimiser for both players | `fixed_gan_losses` |
# | 12 | a 784-unit head reshaped into another image size | `fixed_image_decoder` |
# | 13 | the log of a raw logit | `fixed_log_prob_real` |
#
# The stretch exercise after them asks for a symptom detector, `dead_units`, with little
# scaffolding; the challenge trains the fixed VAE pipeline.

# %% tags=["setup"]
# Setup: on Colab this installs genlab and copies the notebooks to your workspace; locally it changes nothing.
try:
    import genlab
except ImportError:
    # %pip install -q "genlab @ git+https://github.com/genlab-course/genlab@main"
    import genlab
    genlab.colab.workspace()  # on Colab: your own copies (on Drive when mounted); elsewhere nothing

# %% tags=["support"]
import copy

import torch
import torch.nn.functional as F
from torch import nn

import genlab
from genlab import checks
from genlab.checks.lab09 import show_symptom

session = genlab.start(seed=0)

# %% [markdown]
# ## 1. A flat generator output reshaped to the wrong image shape
#
# An MLP generator ends in `nn.Linear(hidden, C * H * W)`: one flat vector per sample that
# must become a `(C, H, W)` image. The broken version below was written for gray images.

# %% tags=["support"]
def broken_generator_output(flat: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """(B, C*size*size) -> images (B, C, size, size)."""
    return flat.view(-1, 1, size, size)


# %%
show_symptom(checks.check_fixed_generator_output, broken_generator_output)

# %% tags=["exercise"]
def fixed_generator_output(flat: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """(B, C*size*size) -> images (B, C, size, size); image b is row b of ``flat``."""
    ### BEGIN SOLUTION
    # HINT: Fix the bug of broken_generator_output in fixed_generator_output; genlab.hint("fixed_generator_output") gives a hint in three steps.
    return flat.view(flat.shape[0], channels, size, size)
    ### END SOLUTION


# %%
checks.check_fixed_generator_output(fixed_generator_output)

# %% [markdown]
# ## 2. A discriminator trained with fakes labelled real
#
# The discriminator's loss is a binary cross-entropy on logits: real images should get
# label 1, generated images label 0.

# %% tags=["support"]
def broken_discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Discriminator BCE from logits (N,) on real and (M,) on fake images."""
    real_loss = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
    fake_loss = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
    return real_loss + fake_loss


# %%
show_symptom(checks.check_fixed_discriminator_loss, broken_discriminator_loss)

# %% tags=["exercise"]
def fixed_discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Discriminator BCE from logits: real labelled 1, fake labelled 0, mean over each batch, summed."""
    ### BEGIN SOLUTION
    # HINT: Fix the bug of broken_discriminator_loss in fixed_discriminator_loss; genlab.hint("fixed_discriminator_loss") gives a hint in three steps.
    real_loss = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
    fake_loss = F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    return real_loss + fake_loss
    ### END SOLUTION


# %%
checks.check_fixed_discriminator_loss(fixed_discriminator_loss)

# %% [markdown]
# ## 3. A KL term with the wrong sign
#
# The VAE loss is reconstruction + $\mathrm{KL}(q(z\mid x)\,\|\,p(z))$ with
# $\mathrm{KL} = \tfrac12\sum_j(\sigma_j^2 + \mu_j^2 - 1 - \log\sigma_j^2)$.

# %% tags=["support"]
def broken_kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per example, (B, D) -> (B,)."""
    return 0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)


# %%
show_symptom(checks.check_fixed_kl_divergence, broken_kl_divergence)

# %% tags=["exercise"]
def fixed_kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per example, (B, D) -> (B,), always >= 0."""
    ### BEGIN SOLUTION
    # HINT: Fix the bug of broken_kl_divergence in fixed_kl_divergence; genlab.hint("fixed_kl_divergence") gives a hint in three steps.
    return 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(dim=1)
    ### END SOLUTION


# %%
checks.check_fixed_kl_divergence(fixed_kl_divergence)

# %% [markdown]
# ## 4. A recurrent layer fed a 4-D tensor
#
# The CRNN runs a bidirectional GRU (`batch_first=True`) along every row of a feature map
# `(B, C, H, W)`, and wants the result back as a map `(B, 2*hidden, H, W)`.

# %% tags=["support"]
def broken_row_rnn(rnn: nn.GRU, feat: torch.Tensor) -> torch.Tensor:
    """Run ``rnn`` along every row of ``feat`` (B, C, H, W) -> (B, 2*hidden, H, W)."""
    out, _ = rnn(feat)
    return out


# %%
show_symptom(checks.check_fixed_row_rnn, broken_row_rnn)

# %% tags=["exercise"]
def fixed_row_rnn(rnn: nn.GRU, feat: torch.Tensor) -> torch.Tensor:
    """Run a batch_first ``rnn`` along every row of ``feat`` (B, C, H, W) -> (B, D*hidden, H, W)."""
    ### BEGIN SOLUTION
    # HINT: Fix the bug of broken_row_rnn in fixed_row_rnn; genlab.hint("fixed_row_rnn") gives a hint in three steps.
    b, c, h, w = feat.shape
    out, _ = rnn(feat.permute(0, 2, 3, 1).reshape(b * h, w, c))       # (B*H, W, D*hidden)
    return out.reshape(b, h, w, -1).permute(0, 3, 1, 2)
    ### END SOLUTION


# %%
checks.check_fixed_row_rnn(fixed_row_rnn)

# %% [markdown]
# ## 5. A sigmoid applied before BCE-with-logits
#
# `F.binary_cross_entropy_with_logits` applies the sigmoid itself (in a numerically stable
# way). The broken loss below was written for a model whose last layer is... a logit.

# %% tags=["support"]
def broken_bce_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of the model's logits against 0/1 targets."""
    return F.binary_cross_entropy_with_logits(torch.sigmoid(logits), targets)


# %%
show_symptom(checks.check_fixed_bce_loss, broken_bce_loss)

# %% tags=["exercise"]
def fixed_bce_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of logits against 0/1 targets."""
    ### BEGIN SOLUTION
    # HINT: Fix the bug of broken_bce_loss in fixed_bce_loss; genlab.hint("fixed_bce_loss") gives a hint in three steps.
    return F.binary_cross_entropy_with_logits(logits, targets)
    ### END SOLUTION


# %%
checks.check_fixed_bce_loss(fixed_bce_loss)

# %% [markdown]
# ## 6. A missing `detach` on the fakes
#
# One discriminator update of a GAN: score real and generated samples, step D's optimiser.

# %% tags=["support"]
def broken_discriminator_update(generator: nn.Module, discriminator: nn.Module,
                                opt_d: torch.optim.Optimizer, z: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """One D step; returns the D loss (before the step)."""
    fake = generator(z)
    loss = (F.binary_cross_entropy_with_logits(discriminator(real), torch.ones(len(real)))
            + F.binary_cross_entropy_with_logits(discriminator(fake), torch.zeros(len(fake))))
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss.detach()


# %%
show_symptom(checks.check_fixed_discriminator_update, broken_discriminator_update)

# %% tags=["exercise"]
def fixed_discriminator_update(generator: nn.Module, discriminator: nn.Module,
                               opt_d: torch.optim.Optimizer, z: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """One D step (real = 1, fake = 0) that leaves the generator and its gradients untouched."""
    ### BEGIN SOLUTION
    # HINT: Fix the bug of broken_discriminator_update in fixed_discriminator_update; genlab.hint("fixed_discriminator_update") gives a hint in three steps.
    fake = generator(z).detach()       # D's loss must not flow back into G
    loss = (F.binary_cross_entropy_with_logits(discriminator(real), torch.ones(len(real)))
            + F.binary_cross_entropy_with_logits(discriminator(fake), torch.zeros(len(fake))))
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss.detach()
    ### END SOLUTION


# %%
checks.check_fixed_discriminator_update(fixed_discriminator_update)

# %% [markdown]
# ## 7. A model left in train mode during evaluation
#
# Predictions on the test set for a model with dropout and batch norm.

# %% tags=["support"]
def broken_predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's predictions for x, for evaluation."""
    with torch.no_grad():
        return model(x)


# %%
show_symptom(checks.check_fixed_predict, broken_predict)

# %% tags=["exercise"]
def fixed_predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Predictions in evaluation behaviour, without gradients; the model is left in the mode it was in."""
    ### BEGIN SOLUTION
    # HINT: Fix the bug of broken_predict in fixed_predict; genlab.hint("fixed_predict") gives a hint in three steps.
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(x)
    finally:
        model.train(was_training)
    ### END SOLUTION


# %%
checks.check_fixed_predict(fixed_predict)

# %% [markdown]
# ## 8. Two networks sharing weights by accident
#
# Many generators sample from an exponential moving average (EMA) of their weights, kept
# in a second network that starts as a copy of the first.

# %% tags=["support"]
def broken_ema_copy(model: nn.Module) -> nn.Module:
    """A second network with the same weights as ``model``, to hold the moving average."""
    ema = model
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


# %%
show_symptom(checks.check_fixed_ema_copy, broken_ema_copy)

# %% tags=["exercise"]
def fixed_ema_copy(model: nn.Module) -> nn.Module:
    """An independent network with the same weights as ``model`` (no parameter shared), frozen."""
    ### BEGIN SOLUTION
    # HINT: Fix the bug of broken_ema_copy in fixed_ema_copy; genlab.hint("fixed_ema_copy") gives a hint in three steps.
    ema = copy.deepcopy(model)
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema
    ### END SOLUTION


# %%
checks.check_fixed_ema_copy(fixed_ema_copy)

# %% [markdown]
# ## Bugs of code found online
#
# The five bugs below come from a kind of tutorial code that circulates widely: it runs (or
# almost runs), prints a loss, and learns nothing. Each one is written here in the course's
# own PyTorch, and each check again tells you what the run would look like.
#
# ## 9. The generator's output fed in as the "real" images
#
# The discriminator's batch holds data images labelled 1 and generated images labelled 0.
# `fixed_discriminator_batch(real, fake)` returns `(images, labels)`: the `n` real images
# first, then the `m` fakes, with `n` ones followed by `m` zeros, all in the data's dtype.

# %% tags=["support"]
def broken_discriminator_batch(real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The discriminator's batch: "real" images labelled 1, fakes labelled 0."""
    n = real.shape[0]
    samples = fake[torch.arange(n) % fake.shape[0]]  # "the images to show D", taken from the generator
    images = torch.cat([samples, fake])
    labels = torch.cat([torch.ones(n), torch.zeros(fake.shape[0])])
    return images, labels


# %%
show_symptom(checks.check_fixed_discriminator_batch, broken_discriminator_batch)

# %% tags=["exercise"]
def fixed_discriminator_batch(real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(cat(real, fake), labels: 1 for each real image, then 0 for each fake), in the data's dtype."""
    ### BEGIN SOLUTION
    # HINT: Fix the bug of broken_discriminator_batch in fixed_discriminator_batch; genlab.hint("fixed_discriminator_batch") gives a hint in three steps.
    images = torch.cat([real, fake.to(real.dtype)])
    labels = torch.cat([real.new_ones(real.shape[0]), real.new_zeros(fake.shape[0])])
    return images, labels
    ### END SOLUTION


# %%
checks.check_fixed_discriminator_batch(fixed_discriminator_batch)

# %% [markdown]
# ## 10. Training on noise instead of data
#
# `fixed_training_batch(images, batch_size)` returns `batch_size` images of the training set
# `images` (N, C, H, W), drawn at random (from the global random stream, fresh on every call),
# in the set's dtype.

# %% tags=["support"]
def broken_training_batch(images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """A random training batch of shape (batch_size, C, H, W)."""
    return torch.rand(batch_size, *images.shape[1:]) * 2 - 1


# %%
show_symptom(checks.check_fixed_training_batch, broken_training_batch)

# %% tags=["exercise"]
def fixed_training_batch(images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``batch_size`` images of ``images`` drawn at random, shape (batch_size, C, H, W)."""
    ### BEGIN SOLUTION
    # HINT: Fix the bug of broken_training_batch in fixed_training_batch; genlab.hint("fixed_training_batch") gives a hint in three steps.
    idx = torch.randint(0, images.shape[0], (batch_size,), device=images.device)
    return images[idx]
    ### END SOLUTION


# %%
checks.check_fixed_training_batch(fixed_training_batch)

# %% [markdown]
# ## 11. One loss and one optimiser for both players
#
# A GAN is a game: the discriminator and the generator want opposite things. The broken
# version gives both the same number to minimise (and a training loop built on it would
# step one optimiser over both networks' parameters). `fixed_gan_losses(d_real, d_fake)`
# takes D's logits on real and on generated images and returns `(d_loss, g_loss)`: the
# discriminator's binary cross-entropy (real against 1, fake against 0, each a batch mean)
# and the generator's non-saturating loss (fake against 1), finite for logits of any size.
# In the training loop, each loss then goes to its own optimiser, built over its own
# network's parameters only.

# %% tags=["support"]
def broken_gan_losses(d_real: torch.Tensor, d_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(discriminator loss, generator loss) from D's logits on real and generated images."""
    loss = -(torch.log(torch.sigmoid(d_real)).mean() + torch.log(1 - torch.sigmoid(d_fake)).mean())
    return loss, loss


# %%
show_symptom(checks.check_fixed_gan_losses, broken_gan_losses)

# %% tags=["exercise"]
def fixed_gan_losses(d_real: torch.Tensor, d_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(D's BCE: real vs 1 + fake vs 0; G's non-saturating BCE: fake vs 1), from logits, finite."""
    ### BEGIN SOLUTION
    # HINT: Fix the bug of broken_gan_losses in fixed_gan_losses; genlab.hint("fixed_gan_losses") gives a hint in three steps.
    d_loss = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    g_loss = F.softplus(-d_fake).mean()
    return d_loss, g_loss
    ### END SOLUTION


# %%
checks.check_fixed_gan_losses(fixed_gan_losses)

# %% [markdown]
# ## 12. A head of 784 units reshaped into another image size
#
# `fixed_image_decoder(z, channels, height, width)` maps codes (B, latent) to images
# (B, C, H, W) through one linear layer (created inside, on the code's device and dtype),
# keeping the batch size and the gradient to `z`.

# %% tags=["support"]
def broken_image_decoder(z: torch.Tensor, channels: int, height: int, width: int) -> torch.Tensor:
    """Codes (B, latent) -> images (B, C, H, W) through a linear head."""
    head = torch.nn.Linear(z.shape[1], 784)  # the width of a 28 x 28 gray image, from another script
    return head(z).reshape(-1, channels, height, width)


# %%
show_symptom(checks.check_fixed_image_decoder, broken_image_decoder)

# %% tags=["exercise"]
def fixed_image_decoder(z: torch.Tensor, channels: int, height: int, width: int) -> torch.Tensor:
    """Codes (B, latent) -> images (B, C, H, W): a head of C*H*W units, the batch size kept."""
    ### BEGIN SOLUTION
    # HINT: Fix the bug of broken_image_decoder in fixed_image_decoder; genlab.hint("fixed_image_decoder") gives a hint in three steps.
    head = torch.nn.Linear(z.shape[1], channels * height * width).to(device=z.device, dtype=z.dtype)
    return head(z).reshape(z.shape[0], channels, height, width)
    ### END SOLUTION


# %%
checks.check_fixed_image_decoder(fixed_image_decoder)

# %% [markdown]
# ## 13. The log of a raw logit
#
# `fixed_log_prob_real(logits)` returns $\log D(x) = \log\sigma(s)$ elementwise for the
# discriminator's scores $s$ (logits, any real number): at most 0, finite for $s = \pm 120$,
# with a gradient of about 1 at $s = -120$, in the input's dtype.

# %% tags=["support"]
def broken_log_prob_real(logits: torch.Tensor) -> torch.Tensor:
    """log D(x) for the discriminator's outputs."""
    return torch.log(logits)


# %%
show_symptom(checks.check_fixed_log_prob_real, broken_log_prob_real)

# %% tags=["exercise"]
def fixed_log_prob_real(logits: torch.Tensor) -> torch.Tensor:
    """log sigmoid(logits), elementwise, stable for any logit."""
    ### BEGIN SOLUTION
    # HINT: Fix the bug of broken_log_prob_real in fixed_log_prob_real; genlab.hint("fixed_log_prob_real") gives a hint in three steps.
    return F.logsigmoid(logits)
    ### END SOLUTION


# %%
checks.check_fixed_log_prob_real(fixed_log_prob_real)

# %% [markdown]
# ## All fixed?
#
# Run every check once more: thirteen green lines.

# %%
for fn in [fixed_generator_output, fixed_discriminator_loss, fixed_kl_divergence, fixed_row_rnn, fixed_bce_loss,
           fixed_discriminator_update, fixed_predict, fixed_ema_copy, fixed_discriminator_batch,
           fixed_training_batch, fixed_gan_losses, fixed_image_decoder, fixed_log_prob_real]:
    getattr(checks, f"check_{fn.__name__}")(fn)

# %% [markdown]
# ## Stretch: a symptom detector
#
# Several of the bugs above show up in a training run as *dead units*: ReLUs that output 0 for
# every input (a too large learning rate, a bias pushed far below zero, inputs on the wrong
# scale). A dead unit gets no gradient and never comes back. Write the detector a debugger
# would reach for, `dead_units(model, x) -> dict[str, float]`. Contract:
#
# * **inputs**: any `nn.Module` and a batch `x` it accepts (a batch of one too; `(B, F)` for an
#   MLP, `(B, C, H, W)` images with C = 1 or 3 for a convolutional net);
# * **output**: one entry per `nn.ReLU` and `nn.LeakyReLU` module, at any depth, keyed by the
#   name the model gives it (as in `model.named_modules()`, e.g. `"features.2.1"`), and nothing
#   else; the value is the fraction, in [0, 1], of that layer's **units** that never fire
#   (output > 0) for any example of `x`; a unit is a feature of a `(B, F)` output and a
#   **channel** of a `(B, C, H, W)` output (it fires if it is positive at any position);
# * measured in **evaluation behaviour** (dropout off, batch norm on its running statistics),
#   each activation module being applied once per forward pass;
# * **no side effects**: the model's `training` flag, every parameter's `requires_grad` and
#   `.grad` (set or `None`), the hooks the caller registered, the batch-norm statistics and `x`
#   are as they were before the call; no hook of yours is left behind.
#
# No recipe: decide how to build it so that every property holds.

# %% tags=["exercise"]
# Same as genlab.exercises.lab09._ref_dead_units as dead_units
def dead_units(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Per ReLU/LeakyReLU module name: the fraction of its units that never fire on the batch x."""
    ### BEGIN SOLUTION
    # HINT: Implement dead_units; genlab.hint("dead_units") gives a hint in three steps.
    acts = {name: m for name, m in model.named_modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU))}
    fired: dict[str, torch.Tensor] = {}

    def watch(name):
        def hook(module, inputs, out):
            # units on dim 1; alive if positive for some example at some position
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
    ### END SOLUTION


# %%
checks.check_dead_units(dead_units)

# %% [markdown]
# What the detector shows: a small MLP before and after its first layer's biases are pushed
# down, as one step with a far too large learning rate can do.

# %%
torch.manual_seed(0)
mlp = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))
batch = torch.randn(64, 16)
print("healthy:      ", dead_units(mlp, batch))
with torch.no_grad():
    mlp[0].bias -= 1.0
print("biases pushed:", dead_units(mlp, batch))

# %% [markdown]
# ## Challenge: the fixed pipeline trains
#
# **Target**: negative ELBO (as in lab 02) on 256 held-back 16 x 16 test digits of an MLP VAE trained with your `fixed_kl_divergence` and `fixed_bce_loss`, at most 130, 115, 107 nats per image: a model trained with the broken pieces does not get there, one point per threshold reached (gradebook column `c_sanity`).
# **Hand in** `challenge_09.pt` next to this notebook, written by `genlab.save_challenge(model, "09")`;
# `model` comes from `genlab.models.build("mlp_vae", image_size=16, channels=1, ...)` (any other sizes you
# like, within the parameter budget). Train it as you wish on the training split, never on the test split.
# **How it is measured**: the grader loads the file with `torch.load(weights_only=True)` into that model and
# measures it on held-back data drawn from its own seed; `genlab.check_challenge("09")` measures it here on
# public data. Without a handed-in file, the grader runs the cell below in fast mode (at most 30 s of CPU
# time) and measures the file it saves.

# %% tags=["challenge"]
### BEGIN SOLUTION
# HINT: Train and save your challenge model here (the text above gives the target); genlab.hint("challenge_09") gives a hint in three steps.
from genlab import data, models, train


class FixedVAETask(train.VAETask):
    """An MLP VAE trained with the fixed pieces: per-image BCE sum plus the KL, averaged."""

    def losses(self, batch, ctx=None):
        x, _ = batch
        vae = self.net("model")
        mu, logvar = vae.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        rec = fixed_bce_loss(vae.decode(z), x) * x[0].numel()
        return {"loss": rec + fixed_kl_divergence(mu, logvar).mean()}


torch.manual_seed(0)
vae_c = models.build("mlp_vae", image_size=16, channels=1)
x_c, _ = data.load("digits", "train", 16)
train.fit(FixedVAETask(vae_c, lr=2e-3), x_c, genlab.fast_or(15, 60), batch_size=64, progress=False)
genlab.save_challenge(vae_c, "09")
### END SOLUTION

# %%
genlab.check_challenge("09");  # your points on public data; the grader measures on held-back data

# %% [markdown]
# ## Concept questions
#
# Answer in the cell below: replace each `...` with your answer (a number, or the letter of a choice as a string, e.g. `"b"`) and run it. The check says *right* or *not yet*, never the answer. When you hand in, the grader reads the values written in that cell; each question is worth one point.
#
# **q1.** `broken_generator_output` gets `flat` of shape (8, 3 * 16 * 16) with `channels = 3`. What batch size does its output have? An integer.
#
# **q2.** Training a VAE with the KL's sign flipped, the loss rewards: (a) mu going to 0; (b) nothing, the sign does not matter; (c) means and variances growing without bound, away from the prior; (d) logvar going to 0.
#
# **q3.** With a sigmoid applied before BCE-with-logits, what is the smallest loss that a target of 1 can reach (natural logarithms)? Two decimals.
#
# **q4.** The EMA network and the model share one parameter (the broken copy), holding 1.0. An optimiser step sets the model's value to 3.0; then the EMA update ema = 0.99 ema + 0.01 model runs, both values read before the update. What value does the EMA hold? Two decimals.

# %% tags=["question"]
answer = genlab.questions("09")
### BEGIN SOLUTION
answer("q1", 24)
answer("q2", "c")
answer("q3", 0.31)
answer("q4", 3.0)
### END SOLUTION


# %% [markdown]
# ## References
#
# * Goodfellow, I. et al. (2014). Generative adversarial nets. *NeurIPS 2014*. (Bugs 2, 6, 9, 11 and 13; the non-saturating generator loss of bug 11.)
# * Kingma, D. P. & Welling, M. (2014). Auto-encoding variational Bayes. *ICLR 2014*. (Bug 3.)
# * Visin, F. et al. (2015). ReNet. arXiv:1505.00393; Shi, B., Bai, X. & Yao, C. (2016). CRNN. *IEEE TPAMI*. (Bug 4: recurrences along feature-map rows.)
# * Srivastava, N. et al. (2014). Dropout: a simple way to prevent neural networks from overfitting. *JMLR* 15; Ioffe, S. & Szegedy, C. (2015). Batch normalization. *ICML 2015*. (Bug 7.)
# * Karras, T., Aila, T., Laine, S. & Lehtinen, J. (2018). Progressive growing of GANs for improved quality, stability, and variation. *ICLR 2018*. (A moving average of the generator's weights, bug 8.)
