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
# # Lab 01 · A convolutional denoising autoencoder
#
# > Write `ConvEncoder`, `ConvDecoder` and `add_noise`; train a denoising autoencoder.
#
# **Objectives**: after this lab you can
#
# * build a convolutional encoder and decoder and follow the shapes through strided and transposed convolutions;
# * explain why a decoder returns logits and how the loss uses them;
# * write a corruption with the right statistics and train a denoising autoencoder.
#
# **Prerequisites**: lecture 01 (autoencoders) and lab 00.
#
# **Time**: full mode (`GENLAB_FAST` unset) took 287.9<!--r:time.full.solutions.01_autoencoders@kernel_cpu_s--> s of kernel CPU time on a 2-core CPU for the solution notebook (585.1<!--r:time.full.solutions.01_autoencoders--> s of wall time on a machine shared with other jobs; `genlab.results run`); not measured on a GPU. Add your own time for the exercises.
#
# You will build the two halves of a convolutional autoencoder and the noise that a
# *denoising* autoencoder learns to remove, then train it on digits and look at what it
# does to noisy images. Three graded exercises, each followed by a check:
#
# 1. `ConvEncoder`: images `(B, 1, 16, 16)` -> codes `(B, latent_dim)`;
# 2. `ConvDecoder`: codes `(B, latent_dim)` -> **logits** `(B, 1, 16, 16)`;
# 3. `add_noise(x, sigma)`: Gaussian noise, clamped back to `[0, 1]`.
#
# Lecture 01 (`course/01_autoencoders.ipynb`) explains why convolutions and why denoising.

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
from torch import nn

import genlab
from genlab import checks, datasets, metrics, plot, train
from genlab.widgets import TrainingDashboard

session = genlab.start(seed=0)
device = session.device

IMAGE_SIZE = 16  # digits are 1 x 16 x 16 in this lab
LATENT_DIM = 16  # size of the code z

# %% [markdown]
# ## Exercise 1: the encoder
#
# Write `ConvEncoder(latent_dim=16)`, an `nn.Module` whose `forward(x)` maps a batch of
# images `(B, 1, 16, 16)` to codes `(B, latent_dim)`.
#
# * Strided convolutions shrink the map: with kernel 4, stride 2 and padding 1 the side goes
#   from $n$ to $n/2$, so two of them take 16 x 16 to 4 x 4;
# * then one linear map from each image's whole feature map to its code; the code is a plain
#   linear output, signed and unbounded (no activation after it);
# * `latent_dim` is an argument (the check builds encoders of other sizes too), default 16.

# %% tags=["exercise"]
class ConvEncoder(nn.Module):
    """Images ``(B, 1, 16, 16)`` -> codes ``(B, latent_dim)`` with strided convolutions."""

    def __init__(self, latent_dim: int = 16) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        # HINT: Build the layers of ConvEncoder; genlab.hint("ConvEncoder") gives a hint in three steps.
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 4, stride=2, padding=1), nn.ReLU(),   # (B, 32, 8, 8)
            nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.ReLU(),  # (B, 64, 4, 4)
            nn.Flatten(),                                          # (B, 1024)
            nn.Linear(64 * 4 * 4, latent_dim),                     # (B, latent_dim)
        )
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # HINT: Write the forward pass of ConvEncoder; genlab.hint("ConvEncoder") gives a hint in three steps.
        return self.net(x)
        ### END SOLUTION


# %%
checks.check_ConvEncoder(ConvEncoder)

# %% [markdown]
# ## Exercise 2: the decoder
#
# Write `ConvDecoder(latent_dim=16)`, whose `forward(z)` maps codes `(B, latent_dim)` to
# **logits** `(B, 1, 16, 16)`: real numbers, one per pixel, with `sigmoid(logits)` the
# image. Do not apply the sigmoid yourself: the loss works on logits, which stays accurate
# where a pixel is almost surely 0 or 1.
#
# Mirror the encoder: a linear map from the code to 64 x 4 x 4 features seen as a
# `(B, 64, 4, 4)` map, then transposed convolutions with kernel 4, stride 2 and padding 1,
# each doubling the side: 4 -> 8 -> 16. The last layer has one output channel and no
# activation.

# %% tags=["exercise"]
class ConvDecoder(nn.Module):
    """Codes ``(B, latent_dim)`` -> logits ``(B, 1, 16, 16)`` with transposed convolutions."""

    def __init__(self, latent_dim: int = 16) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        # HINT: Build the layers of ConvDecoder; genlab.hint("ConvDecoder") gives a hint in three steps.
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 64 * 4 * 4), nn.ReLU(),
            nn.Unflatten(1, (64, 4, 4)),                                    # (B, 64, 4, 4)
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),  # (B, 32, 8, 8)
            nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1),              # (B, 1, 16, 16) logits
        )
        ### END SOLUTION

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # HINT: Write the forward pass of ConvDecoder; genlab.hint("ConvDecoder") gives a hint in three steps.
        return self.net(z)
        ### END SOLUTION


# %%
checks.check_ConvDecoder(ConvDecoder)

# %% [markdown]
# ## Exercise 3: the corruption
#
# A denoising autoencoder sees a noisy image and must output the clean one. Write
# `add_noise(x, sigma)` that returns
#
# $$\tilde x = \operatorname{clamp}(x + \sigma\,\varepsilon,\ 0,\ 1), \qquad \varepsilon \sim \mathcal N(0, I),$$
#
# exactly this:
#
# * `x` is a batch of images `(B, C, H, W)` in `[0, 1]`; the result has the same shape;
# * `eps` is standard Gaussian noise of the **full** shape of `x` (every pixel of every
#   image its own draw) on `x`'s device and dtype, drawn fresh on every call (do not reseed);
# * `sigma` is the standard deviation of the noise itself (not its variance);
# * the noise is added first, then the result is clamped to `[0, 1]`, so it is still an
#   image; with `sigma = 0` the images come back unchanged;
# * `x` itself is not modified (nothing in place).
#
# The check measures the statistics of what you add: mean 0, standard deviation `sigma`,
# 68% of the pixels within one `sigma`, values in `[0, 1]`.

# %% tags=["exercise"]
def add_noise(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``clamp(x + sigma * eps, 0, 1)`` with fresh ``eps ~ N(0, I)`` shaped like ``x``."""
    ### BEGIN SOLUTION
    # HINT: Implement add_noise; genlab.hint("add_noise") gives a hint in three steps.
    return (x + sigma * torch.randn_like(x)).clamp(0.0, 1.0)
    ### END SOLUTION


# %%
checks.check_add_noise(add_noise)

# %% [markdown]
# ## Stretch: walking between two codes
#
# A smooth latent space lets you walk from one image to another by decoding the points on the
# straight line between their codes. Write `interpolate_codes(z0, z1, n)`. Contract:
#
# * inputs: two codes `z0`, `z1` of the same shape `(d,)` and a number of steps `n >= 2`;
# * output: `(n, d)`, row `i` the point a fraction $i / (n - 1)$ of the way from `z0` to `z1`:
#   the first row is exactly `z0`, the last exactly `z1`, evenly spaced in between;
# * in the codes' dtype, differentiable with respect to both codes; `z0` and `z1` unchanged.
#
# No recipe: decide how to build it so that every property holds.

# %% tags=["exercise"]
def interpolate_codes(z0: torch.Tensor, z1: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` evenly spaced codes from ``z0`` to ``z1`` (both included): ``(d,), (d,) -> (n, d)``."""
    ### BEGIN SOLUTION
    # HINT: Implement interpolate_codes; genlab.hint("interpolate_codes") gives a hint in three steps.
    t = torch.linspace(0.0, 1.0, n, dtype=z0.dtype, device=z0.device)[:, None]
    return (1 - t) * z0 + t * z1
    ### END SOLUTION


# %%
checks.check_interpolate_codes(interpolate_codes)

# %% [markdown]
# ## Look at the corruption
#
# Digits from the training set with increasing noise. At `sigma = 0.3` the digit is still
# there for your eye; can a small network see it too?

# %% [markdown]
# *Dataset switch:* `GENLAB_DATASET=mnist` (or `fashion_mnist`, `cifar10`), or `datasets.select("mnist", ...)`
# in the cell below, trains on another dataset. Your exercise models take 1x16x16 images, so
# the chosen dataset is resized to 16x16 and converted to gray; epochs and batch size come from
# `genlab.datasets.PRESETS`. The figures quoted here were measured on the digits only; on the
# other datasets they are not measured.

# %%
# GENLAB_DATASET picks the data (or select("mnist", ...)); your models take 1 x 16 x 16 images
course = datasets.select(device=device, lesson="autoencoders", size=IMAGE_SIZE, channels=1)
x_train, y_train = course.train()
x_test, y_test = course.test()
sigmas = [0.0, 0.1, 0.2, 0.3, 0.5]
plot.show_rows({f"sigma={s}": add_noise(x_test[:10], s) for s in sigmas}, n=10,
               title="add_noise at increasing sigma");

# %% [markdown]
# ## Train a denoising autoencoder
#
# Your encoder and decoder in one `nn.Sequential`, trained with genlab's
# `AutoencoderTask`: binary cross-entropy between the decoder's logits and the **clean**
# image, summed over pixels and averaged over the batch. The task's `corrupt` step is
# replaced by your `add_noise`, so the network only ever sees noisy inputs.

# %%
SIGMA = 0.3


class DenoisingTask(train.AutoencoderTask):
    """genlab's autoencoder task with the corruption written in this lab."""

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        return add_noise(x, self.noise_sigma)


model = nn.Sequential(ConvEncoder(LATENT_DIM), ConvDecoder(LATENT_DIM))
task = DenoisingTask(model, lr=2e-3, noise_sigma=SIGMA)
# The dashboard redraws the loss curves and a few reconstructions while training runs
# (it stays quiet in fast mode and outside a notebook).
history = train.fit(task, x_train, epochs=course.epochs(), batch_size=course.batch_size, val_data=x_test,
                    device=device, callbacks=[TrainingDashboard()])
plot.plot_history(history, keys=["loss", "val_loss"], title="BCE per image (nats), noisy in, clean out");

# %% [markdown]
# ## Noisy in, clean out
#
# Test digits the network never saw, with fresh noise. The denoised row should look like
# the clean row: the autoencoder has learnt what digits look like, and noise is not part
# of that.

# %%
torch.manual_seed(1)
model.eval()
clean = x_test[:12].to(device)
noisy = add_noise(clean, SIGMA)
with torch.no_grad():
    denoised = torch.sigmoid(model(noisy))
plot.show_rows({"clean": clean, f"noisy (sigma={SIGMA})": noisy, "denoised": denoised}, n=12,
               title="your denoising autoencoder on test digits");
psnr_noisy = metrics.psnr(noisy, clean).mean().item()
psnr_denoised = metrics.psnr(denoised, clean).mean().item()
print(f"PSNR against the clean digits: noisy {psnr_noisy:.1f} dB, denoised {psnr_denoised:.1f} dB")

# %% [markdown]
# ## Challenge: the closest reconstructions
#
# **Target**: mean squared error per pixel of `sigmoid(model(x))` against `x` on 256 held-back 16 x 16 test digits, at most 0.03, 0.01, 0.005, one point per threshold reached (gradebook column `c_recon`).
# **Hand in** `challenge_01.pt` next to this notebook, written by `genlab.save_challenge(model, "01")`;
# `model` comes from `genlab.models.build("ae" or "conv_ae", image_size=16, channels=1, ...)` (any other sizes you
# like, within the parameter budget). Train it as you wish on the training split, never on the test split.
# **How it is measured**: the grader loads the file with `torch.load(weights_only=True)` into that model and
# measures it on held-back data drawn from its own seed; `genlab.check_challenge("01")` measures it here on
# public data. Without a handed-in file, the grader runs the cell below in fast mode (at most 30 s of CPU
# time) and measures the file it saves.

# %% tags=["challenge"]
### BEGIN SOLUTION
# HINT: Train and save your challenge model here (the text above gives the target); genlab.hint("challenge_01") gives a hint in three steps.
from genlab import data, models, train

torch.manual_seed(0)
ae_c = models.build("ae", image_size=16, channels=1, latent_dim=16)
x_c, _ = data.load("digits", "train", 16)
train.fit(train.AutoencoderTask(ae_c, lr=2e-3), x_c, genlab.fast_or(30, 60), batch_size=64, progress=False)
genlab.save_challenge(ae_c, "01")
### END SOLUTION

# %%
genlab.check_challenge("01");  # your points on public data; the grader measures on held-back data

# %% [markdown]
# ## Concept questions
#
# Answer in the cell below: replace each `...` with your answer (a number, or the letter of a choice as a string, e.g. `"b"`) and run it. The check says *right* or *not yet*, never the answer. When you hand in, the grader reads the values written in that cell; each question is worth one point.
#
# **q1.** One position of the encoder's 4 x 4 output map (after both `kernel 4, stride 2, padding 1` convolutions) depends on a square of input pixels. How wide is that square (its receptive field, counting padding)? An integer.
#
# **q2.** How many parameters (weights and biases) has the encoder's final linear layer, from 64 channels at 4 x 4 to `latent_dim = 16`? An integer.
#
# **q3.** A transposed convolution with kernel 4, stride 2, padding 1 receives a 5 x 5 map. What is the side of its output? An integer.
#
# **q4.** Why does `ConvDecoder` return logits rather than `sigmoid(logits)`? (a) logits are faster to compute; (b) the loss on logits stays accurate, with a useful gradient, where a pixel is confidently 0 or 1; (c) the images are not in [0, 1]; (d) a sigmoid has no gradient.
#
# **q5.** `add_noise` with `sigma = 0.5` on a black pixel (value 0): what fraction of the noisy values are exactly 0? Two decimals.

# %% tags=["question"]
answer = genlab.questions("01")
### BEGIN SOLUTION
answer("q1", 10)
answer("q2", 16400)
answer("q3", 10)
answer("q4", "b")
answer("q5", 0.5)
### END SOLUTION

# %% [markdown]
# ## What to try next
#
# * Train with `SIGMA = 0.5`: where does the autoencoder start to guess the wrong digit?
# * Shrink `LATENT_DIM` to 4: the denoised digits become blurrier but cleaner. Why?
# * Replace `add_noise` by `genlab.masks.salt_and_pepper` in `DenoisingTask.corrupt`.


# %% [markdown]
# ## References
#
# * Hinton, G. E. & Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural networks. *Science* 313(5786). (Autoencoders as a learned compression.)
# * Vincent, P., Larochelle, H., Bengio, Y. & Manzagol, P.-A. (2008). Extracting and composing robust features with denoising autoencoders. *ICML 2008*. (The denoising objective of Exercise 3.)
# * Dumoulin, V. & Visin, F. (2016). A guide to convolution arithmetic for deep learning. arXiv:1603.07285. (Output sizes of strided and transposed convolutions.)
