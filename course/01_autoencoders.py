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
# # 01 · Autoencoders
#
# > PCA vs fully connected vs convolutional autoencoder on digits at the same code size, a 2-D latent map by class, a denoising autoencoder.
#
# ## Objectives
#
# After this notebook you can:
#
# * compare PCA, a fully connected and a convolutional autoencoder at the same code size;
# * read a 2-D latent map and see its holes;
# * train a denoising autoencoder and say what it learns.
#
# ## Prerequisites
#
# Lecture 00; gradient descent and `nn.Module` basics.
#
# ## Time
#
# Full mode (the default) took 83.4<!--r:time.full.course.01_autoencoders@kernel_cpu_s--> s of kernel CPU time on a 2-core CPU
# (67.1<!--r:time.full.course.01_autoencoders--> s of wall time on a machine shared with other jobs; `make results`); fast mode
# (`GENLAB_FAST=1`) about 5.2<!--r:time.fast.course.01_autoencoders--> s.
#
# ---
#
# A 16x16 digit is a point in $\mathbb R^{256}$, but digits do not fill that space: almost
# every random 256-vector looks like static. If digits live near a much smaller set, a few
# numbers per image should describe them. An **autoencoder** learns such a description:
# an encoder $f_\phi$ squeezes the image into a short code $z$, a decoder $g_\theta$
# rebuilds the image from the code, and both are trained so that the rebuilt image is close
# to the original.
#
# This lecture compares three ways to compress digits to the **same** code size (PCA, a
# fully connected autoencoder, a convolutional one), draws a 2-D code as a map, and turns
# the autoencoder into a **denoiser**.

# %% tags=["setup"]
# Setup: on Colab this installs genlab and copies the notebooks to your workspace; locally it changes nothing.
try:
    import genlab
except ImportError:
    # %pip install -q "genlab @ git+https://github.com/genlab-course/genlab@main"
    import genlab
    genlab.colab.workspace()  # on Colab: your own copies (on Drive when mounted); elsewhere nothing

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

import genlab
from genlab import datasets, masks, metrics, models, plot, train

session = genlab.start(seed=0)
device = session.device

course = datasets.select(device=device, lesson="autoencoders")  # GENLAB_DATASET, or select("mnist", ...)
x_train, y_train = course.train()
x_test, y_test = course.test()
EPOCHS = course.epochs()
print("train", tuple(x_train.shape), "test", tuple(x_test.shape))

# %% [markdown]
# *Dataset switch:* `GENLAB_DATASET=mnist` (or `fashion_mnist`, `cifar10`, `photos`), or
# `datasets.select("mnist", ...)` in the cell above, trains the same models on 28x28 MNIST or 32x32
# colour CIFAR-10 with the image size, width, batch size and epochs of `genlab.datasets.PRESETS`.
# The figures quoted in this notebook were measured on the digits only; on the other datasets
# they are not measured.

# %% [markdown]
# ## 1. The objective
#
# With pixels in $[0, 1]$ read as Bernoulli probabilities, the decoder outputs **logits**
# $\ell = g_\theta(f_\phi(x))$ and we minimise the binary cross-entropy, summed over the
# $D = 256$ pixels and averaged over the batch:
#
# $$\mathcal L(\phi, \theta) = \frac1B \sum_{b=1}^B \sum_{i=1}^{D}
#   -\Big[x_{bi} \log \sigma(\ell_{bi}) + (1 - x_{bi}) \log\big(1 - \sigma(\ell_{bi})\big)\Big].$$
#
# The bottleneck $z \in \mathbb R^d$ with $d \ll D$ is what forces the network to learn
# structure: it cannot copy the image through.
#
# ## 2. The linear baseline: PCA
#
# PCA is the best **linear** autoencoder for squared error: encode $z = W^\top (x - \bar x)$,
# decode $\hat x = \bar x + W z$, with $W$ the top-$d$ right singular vectors of the centred
# data matrix (Eckart–Young). Four lines with an SVD:

# %%
LATENT = 8  # the same code size for all three models


def pca_fit(x: torch.Tensor, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and top-d principal directions (D, d) of flattened images x (N, C, H, W)."""
    flat = x.flatten(1)
    mean = flat.mean(0)
    _, _, vh = torch.linalg.svd(flat - mean, full_matrices=False)
    return mean, vh[:d].T


def pca_reconstruct(x: torch.Tensor, mean: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Project onto the principal subspace and back: x_hat = mean + W W^T (x - mean), clipped to [0, 1]."""
    z = (x.flatten(1) - mean) @ w          # (N, d): the PCA code
    return (mean + z @ w.T).clamp(0, 1).view_as(x)


pca_mean, pca_w = pca_fit(x_train, LATENT)
recon = {"PCA": pca_reconstruct(x_test, pca_mean, pca_w)}

# %% [markdown]
# ## 3. Two autoencoders with the same code size
#
# * The **fully connected** autoencoder (`genlab.models.MLPAutoencoder`) flattens the image:
#   $256 \to 256 \to d \to 256 \to 256$ with a ReLU in each hidden layer. It is nonlinear,
#   but it does not know that neighbouring pixels are neighbours.
# * The **convolutional** autoencoder (`genlab.models.ConvAutoencoder`, which you build in
#   lab 01) uses stride-2 convolutions, $16 \to 8 \to 4$, then a linear layer to $d$, and
#   transposed convolutions back. Its filters are shared across positions: a stroke detector
#   learnt in one corner works everywhere.
#
# Both train with genlab's one training loop, `train.fit`, on the same data and budget.

# %%
def train_autoencoder(model, noise_sigma: float = 0.0):
    task = train.AutoencoderTask(model, lr=2e-3, noise_sigma=noise_sigma)
    history = train.fit(task, x_train, EPOCHS, batch_size=course.batch_size, val_data=x_test, device=device)
    return model.eval(), history


def reconstruct(model, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.sigmoid(model(x.to(device))).cpu()


cfg = course.config(models.AEConfig, latent_dim=LATENT)
mlp_ae, mlp_hist = train_autoencoder(models.MLPAutoencoder(cfg))
conv_ae, conv_hist = train_autoencoder(models.ConvAutoencoder(cfg))
recon["fully connected AE"] = reconstruct(mlp_ae, x_test)
recon["convolutional AE"] = reconstruct(conv_ae, x_test)

fig, ax = plt.subplots(figsize=(5, 3))
plot.plot_history({"fully connected (test)": mlp_hist["val_loss"], "convolutional (test)": conv_hist["val_loss"]},
                  ax=ax, title="test BCE per image (nats)");

# %% [markdown]
# ## 4. Side by side
#
# The reconstruction error on the **test** digits, as mean squared error per pixel and as
# PSNR (higher is better), and the pictures. Same code size $d = 8$ for all three.

# %%
rows = {"original": x_test}
for name, x_hat in recon.items():
    mse = F.mse_loss(x_hat, x_test).item()
    psnr = metrics.psnr(x_hat, x_test).mean().item()
    print(f"{name:>20}: MSE per pixel {mse:.4f}   PSNR {psnr:5.2f} dB")
    rows[f"{name}\n{psnr:.1f} dB"] = x_hat
plot.show_rows(rows, n=14, title=f"test digits and their reconstructions from a code of {LATENT} numbers");

# %% [markdown]
# PCA keeps the average digit and a blur around it: eight linear directions cannot bend to
# follow a stroke. The autoencoders are nonlinear and do better; the convolutional one
# usually gives the sharpest strokes for the fewest parameters, because it only has to
# learn local stroke shapes once. (In fast mode the autoencoders train for two epochs and
# PCA may still win: run in full mode to see the ranking the lecture describes.)
#
# ## 5. A code you can look at: d = 2
#
# With only two numbers per digit, the code is a point in the plane. Colour each test digit's
# code by its class: digits that look alike land close together, **without the labels ever
# being used in training**.

# %%
ae2, _ = train_autoencoder(models.ConvAutoencoder(course.config(models.AEConfig, latent_dim=2)))
with torch.no_grad():
    z2 = ae2.encode(x_test.to(device)).cpu()
plot.latent_scatter(z2, y_test, title="2-D codes of the test digits (colour = class, unused in training)");

# %% [markdown]
# And the map read the other way: decode a grid of points of the plane. Between the clusters
# the decoder draws in-between shapes; far outside them it draws nonsense, because nothing
# forced those codes to mean anything. Lecture 02 fixes exactly this.

# %%
lo, hi = z2.quantile(0.02, dim=0), z2.quantile(0.98, dim=0)
n = 10
u = torch.linspace(0, 1, n)
grid = torch.stack(torch.meshgrid(lo[0] + u * (hi[0] - lo[0]), hi[1] - u * (hi[1] - lo[1]), indexing="xy"), -1)
with torch.no_grad():
    decoded = torch.sigmoid(ae2.decode(grid.reshape(-1, 2).to(device))).cpu()
plot.show_grid(decoded, nrow=n, title="decoding a 10x10 grid over the 2-D code space");

# %% [markdown]
# ## 6. Denoising autoencoders
#
# Train on a corrupted input and the **clean** target (Vincent et al., 2008):
#
# $$\tilde x = \operatorname{clamp}(x + \sigma \varepsilon, 0, 1), \quad \varepsilon \sim \mathcal N(0, I),
# \qquad \mathcal L = \operatorname{BCE}\big(g_\theta(f_\phi(\tilde x)),\ x\big).$$
#
# The network cannot learn the identity any more: it must learn what digits look like and
# pull a noisy input back towards them. `AutoencoderTask(noise_sigma=...)` does the
# corruption; `genlab.masks.gaussian_noise` is the same formula for our test images.

# %%
SIGMA = 0.3
dae, _ = train_autoencoder(models.ConvAutoencoder(cfg), noise_sigma=SIGMA)
g = torch.Generator().manual_seed(1)
clean = x_test[:12]
noisy = masks.gaussian_noise(clean, SIGMA, generator=g)
denoised = reconstruct(dae, noisy)
plain = reconstruct(conv_ae, noisy)  # the autoencoder trained on clean digits only
plot.show_rows({"clean": clean, f"noisy, sigma={SIGMA}": noisy, "plain AE": plain, "denoising AE": denoised},
               n=12, title="noisy in, clean out");
for name, x_hat in {"noisy input": noisy, "plain AE": plain, "denoising AE": denoised}.items():
    print(f"{name:>13}: PSNR {metrics.psnr(x_hat, clean).mean().item():5.2f} dB")

# %% [markdown]
# The plain autoencoder has never seen noise, so it passes some of it through; the
# denoising autoencoder was trained to remove it.
#
# ## What to try next
#
# * Change `LATENT` to 2, 4, 16, 32: where does PCA catch up with the autoencoders?
# * Train the denoiser with `SIGMA = 0.5` and test it at 0.1: does it over-smooth?
# * In lab 01 you write the convolutional encoder, decoder and the noise yourself.

# %% [markdown]
# ## References
#
# * Hinton, G. E. & Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural networks. *Science* 313.
# * Vincent, P., Larochelle, H., Bengio, Y. & Manzagol, P.-A. (2008). Extracting and composing robust features with denoising autoencoders. *ICML*.
# * Goodfellow, I., Bengio, Y. & Courville, A. (2016). *Deep Learning*, chapter 14. MIT Press.
