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
# # 04 · GANs on images
#
# > A fully connected GAN vs a DCGAN on digits with one budget, training tricks, Frechet distance and class coverage beside the real-vs-real baseline, a conditional GAN that draws the digit you ask for.
#
# ## Objectives
#
# After this notebook you can:
#
# * train a fully connected GAN and a DCGAN with one recipe;
# * measure a GAN with a Frechet distance and class coverage beside the real-vs-real baseline;
# * compare models at equal epochs and at equal CPU time, and say which budget a claim uses;
# * train a conditional GAN.
#
# ## Prerequisites
#
# Lecture 03; convolutions and transposed convolutions.
#
# ## Time
#
# Full mode (the default) took 289.1<!--r:time.full.course.04_gans_on_images@kernel_cpu_s--> s of kernel CPU time on a 2-core CPU
# (427.5<!--r:time.full.course.04_gans_on_images--> s of wall time on a machine shared with other jobs; `make results`); fast mode
# (`GENLAB_FAST=1`) about 5.9<!--r:time.fast.course.04_gans_on_images--> s.
#
# ---
#
# Lecture 03 played the GAN game in 2-D. Now the samples are images: handwritten digits,
# 16x16. We train a **fully connected GAN** and a **DCGAN** (convolutional) side by side with
# the same data, the same number of updates and the same optimiser, look at what each gets
# right and wrong, measure them (a Frechet distance on a digit classifier's features, and
# class coverage), and finish with a **conditional GAN** that draws the digit we ask for.

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

import genlab
from genlab import datasets, metrics, plot, train

session = genlab.start(seed=0)
device = session.device

# %% [markdown]
# ## 1. Data and a shared budget
#
# The digits ship with scikit-learn (no download). Every model below gets the same
# `epochs`, batch size and optimiser: Adam with learning rate $2\cdot 10^{-4}$ and
# $\beta = (0.5, 0.999)$, the DCGAN paper's setting. A smaller $\beta_1$ gives the momentum
# a shorter memory, which helps when the target (the other player) keeps moving.

# %%
course = datasets.select(device=device, lesson="gans")  # GENLAB_DATASET, or select("mnist", ...)
x_train, y_train = course.train()
x_test, y_test = course.test()
epochs = course.epochs()
budget = dict(batch_size=course.batch_size, device=device, seed=0, progress=False)
print(f"{len(x_train)} training images, {epochs} epochs = {epochs * -(-len(x_train) // course.batch_size)} "
      "updates per player")

# %% [markdown]
# *Dataset switch:* `GENLAB_DATASET=mnist` (or `fashion_mnist`, `cifar10`), or
# `datasets.select("mnist", ...)` in the cell above, trains the same models on 28x28 MNIST or 32x32
# colour CIFAR-10 with the image size, width, batch size and epochs of `genlab.datasets.PRESETS`.
# The figures quoted in this notebook were measured on the digits only; on the other datasets
# they are not measured.
# On another dataset the Frechet distance and class coverage use a classifier trained here on
# that dataset (`course.classifier()`), not the shipped digits one.

# %% [markdown]
# ## 2. Two generators, one recipe
#
# Both GANs use `genlab.train.GANTask`, whose step is the one from lecture 03:
#
# 1. **update D on real and fake**: real digits labelled 1, `G(z).detach()` labelled 0
#    (`discriminator_loss`); the detach keeps this step from moving G;
# 2. **update G through D** with the **non-saturating** loss $-\log D(G(z))$
#    (`generator_loss`), which still has a gradient when D rejects the fakes.
#
# The **fully connected** pair (`models.build("gan")`) flattens images to 256 numbers. The
# **DCGAN** (`models.build("dcgan")`) upsamples with transposed convolutions and BatchNorm in
# G and downsamples with strided convolutions and LeakyReLU in D; BatchNorm keeps each
# layer's activations on one scale while both players move, and all weights start from
# $\mathcal N(0, 0.02)$. `GANTask` keeps a **fixed noise batch** so that sample grids taken at
# different times, or from different runs, show the same $z$.

# %%
gans = {"fully connected": course.build("gan", hidden=256), "DCGAN": course.build("dcgan", width=32)}
histories, tasks = {}, {}
for name, pair in gans.items():
    tasks[name] = train.GANTask(pair, lr=2e-4, betas=(0.5, 0.999))
    histories[name] = train.fit(tasks[name], x_train, epochs, **budget)
    params = sum(p.numel() for p in pair.parameters())
    print(f"{name:16s}: {params:,} parameters, {sum(histories[name]['seconds']):.0f} s of training")

# %%
plot.show_rows({name: task.sample(16) for name, task in tasks.items()}, n=16,
               title=f"same noise, same budget ({epochs} epochs)");

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
for ax, (name, h) in zip(axes, histories.items(), strict=True):
    plot.plot_history(h, keys=["loss_d", "loss_g"], title=name, ax=ax)

# %% [markdown]
# **What each gets right and wrong, at equal epochs.** The fully connected generator treats
# the 256 pixels as unrelated numbers: it has to learn separately that neighbouring pixels go
# together, so after a few epochs its digits tend to be speckled, with broken strokes, though
# their rough shapes appear early. The DCGAN's transposed convolutions paint local patches
# with shared filters, so its strokes are continuous from the first epochs; its typical
# failure is different: some samples are blobs that are not quite any digit, and some digits
# are more frequent than others. Equal epochs is one budget; section 3 measures both GANs
# and then compares them at equal CPU time, where the fully connected GAN comes out ahead. The loss curves say
# little about either: a GAN's losses do not go down as it improves, since each player's
# loss depends on the other. We need measurements on the samples.
#
# ## 3. Measuring a GAN: Frechet distance and class coverage
#
# Both measures look at samples through a digit classifier:
#
# * the **Frechet distance** between the Gaussians fitted to the classifier's features of
#   real and generated images, $\lVert\mu_r - \mu_g\rVert^2 + \mathrm{tr}(\Sigma_r + \Sigma_g
#   - 2(\Sigma_r\Sigma_g)^{1/2})$ (FID with a digits network instead of Inception): lower is
#   better, and it sees both quality and diversity;
# * **class coverage**: which digits the classifier recognises among the samples (mode
#   collapse shows up as missing classes).
#
# A number means little alone, so we report it beside the **real-vs-real baseline**: the same
# measure between the training and the test digits, the best a generator can hope for with
# this many samples.

# %%
# the shipped digits classifier on 16x16 digits; on another dataset one trained here on its
# training images (one epoch in fast mode, so its features and the metrics are then rough)
classifier = course.classifier()
classifier.eval()
acc = (classifier(x_test.to(device)).argmax(1).cpu() == y_test).float().mean()
print(f"classifier test accuracy: {acc:.1%}")

# %%
n_eval = len(x_test)
gen = torch.Generator().manual_seed(1)
samples = {name: pair.generator.eval().sample(n_eval, generator=gen).cpu() for name, pair in gans.items()}
rows = [("real train vs real test", x_train[:n_eval], x_test)]
rows += [(name, s, x_test) for name, s in samples.items()]
print(f"{'':26s} {'Frechet distance':>17s} {'/ real-vs-real':>15s} {'classes covered':>16s}")
fds = {}
for name, a, b in rows:
    fds[name] = metrics.classifier_frechet(a.to(device), b.to(device), classifier)
    cov = metrics.class_coverage(a.to(device), classifier)
    print(f"{name:26s} {fds[name]:17.2f} {fds[name] / fds[rows[0][0]]:14.2f}x {cov['covered']:>13d}/10")

# %%
fig, ax = plt.subplots(figsize=(7, 2.8))
width = 0.27
for i, (name, s) in enumerate({"real (test)": x_test, **samples}.items()):
    fr = metrics.class_coverage(s.to(device), classifier)["fractions"]
    ax.bar(torch.arange(10) + (i - 1) * width, fr, width, label=name)
ax.set(xticks=range(10), xlabel="predicted digit", ylabel="fraction of samples",
       title="which digits each GAN draws")
ax.legend(fontsize=8);

# %%
# Headline figures for docs/results.json: a no-op unless `make results` runs this notebook in full mode.
from genlab import results

for name, key in (("fully connected", "mlp"), ("DCGAN", "dcgan")):
    results.record(f"lec04.equal_epochs.{key}.fd_ratio", round(fds[name] / fds[rows[0][0]], 3), unit="x", seed=0,
                   note=f"{epochs} epochs each, Frechet distance / real train vs real test")
    results.record(f"lec04.{key}.s_per_epoch", round(sum(histories[name]["seconds"]) / epochs, 3), unit="s", seed=0)
results.record("lec04.epoch_cost_ratio", round(sum(histories["DCGAN"]["seconds"]) / sum(histories["fully connected"]["seconds"]), 2),
               unit="x", seed=0, note="training time of the DCGAN / the fully connected GAN, same epochs")

# %% [markdown]
# Read the two numbers together: a GAN can have a good Frechet distance on the digits it
# draws and still skip a class, and a GAN that covers every class can draw them badly.
# (In fast mode the models trained for one epoch on 256 digits: expect large distances.)
#
# ### Two budgets, two rankings
#
# The table above gives both GANs the same number of **epochs**. An epoch does not cost the
# same: the first training cell prints the seconds each GAN trained for, and the Frechet
# table above gives their ratios at equal epochs.
#
# `python -m bench --only gan` gives both the same **CPU time** instead: 120<!--r:gan.budget_cpu_s-->
# CPU seconds each (one recipe for both, with lr $4\cdot 10^{-4}$, 2-pixel shifts of
# everything D sees and the default model sizes; docs/benchmarks.md). In that time the fully connected GAN runs
# 878<!--r:gan.mlp.epochs--> epochs and the DCGAN 132<!--r:gan.dcgan.epochs-->: one DCGAN epoch
# costs 6.65<!--r:gan.epoch_cost_ratio--> fully connected ones. At this budget the fully
# connected GAN is ahead: it reaches a Frechet ratio of 3.01<!--r:gan.mlp.fd_ratio-->, the DCGAN
# 5.27<!--r:gan.dcgan.fd_ratio-->, both with all 10 classes, and the fully connected samples are
# smooth by then (`docs/bench_samples_gan.png`). The DCGAN meets the course's coverage target
# (10 of 10 classes) and **misses its Frechet target** (a ratio of at most 3). A longer budget
# did not close the gap in the runs we tried; they are described, as notes rather than
# registry figures, in the notes of docs/benchmarks.md.
#
# The lesson: a comparison is only as fair as its budget. Counted in epochs, it rewards what
# a model gets out of each pass over the data (the DCGAN's locality and weight sharing);
# counted in CPU time, it rewards cheap updates, and on 16x16 digits a fully connected GAN is
# cheap enough to take 6.65<!--r:gan.epoch_cost_ratio--> times as many. Say which budget a
# comparison uses.
# We expect, but have not measured here, the DCGAN to win at equal CPU time on larger images:
# a fully connected layer's cost grows with the square of the number of pixels, a
# convolution's only linearly.
#
# ## 4. A conditional GAN: ask for a digit
#
# Give both players the label: $G(z, y)$ and $D(x, y)$. The generator concatenates a learned
# embedding of $y$ to $z$; the discriminator adds a *projection* term
# $\langle e_y, \phi(x)\rangle$ to its logit, so it judges "is this a real **7**?" rather than
# "is this a real digit?". A generator that draws a good 1 when asked for a 7 is now caught.
# `models.build("cgan")` is the DCGAN with `n_classes=10`, and `GANTask` passes the labels.

# %%
cgan = course.build("cgan", width=32)
cgan_task = train.GANTask(cgan, lr=2e-4, betas=(0.5, 0.999))
cgan_history = train.fit(cgan_task, (x_train, y_train), epochs, **budget)

# %%
g = cgan.generator.eval()
z = torch.randn(10, g.config.z_dim, generator=torch.Generator().manual_seed(2)).to(device)
with torch.no_grad():
    # row r = class r; column c uses the same z in every row (the "style" stays, the digit changes)
    grid = torch.cat([g(z, torch.full((10,), digit, device=device)) for digit in range(10)])
plot.show_grid(grid.cpu(), nrow=10, title="conditional DCGAN: row = requested digit, column = one z");

# %%
asked = torch.arange(10).repeat_interleave(50)
with torch.no_grad():
    drawn = g(torch.randn(len(asked), g.config.z_dim, device=device), asked.to(device))
got = classifier(drawn).argmax(1).cpu()
print(f"the classifier reads the requested digit in {(got == asked).float().mean():.0%} of 500 samples")

# %% [markdown]
# Interactive: move through the conditional generator's latent space and switch the class
# (`genlab.widgets.LatentExplorer`; it shows nothing when the notebook runs headless).

# %%
from genlab.widgets import LatentExplorer

LatentExplorer(cgan.generator, n_classes=10)

# %% [markdown]
# ## What to try next
#
# * Give the fully connected GAN more epochs: when does its speckle go? (At 878 epochs, the
#   benchmark's CPU budget, its samples are smooth.)
# * Train with the saturating loss (`GANTask(pair, non_saturating=False)`) and watch the
#   first epochs.
# * One-sided label smoothing (real labels 0.9 instead of 1) is another classic trick:
#   write it as your own D loss and compare the Frechet distances.
# * With only 1,438 training digits, D can memorise them, and then its gradients stop
#   teaching G. `GANTask(pair, augment=2)` shifts every image D sees, real and fake, by up to
#   2 pixels (`genlab.data.random_translate`), so memorising stops paying. Train the DCGAN
#   for 100 epochs with and without it and compare the Frechet distances. `python -m bench --only gan`
#   records what it does under a fixed CPU budget (docs/benchmarks.md).
# * Lab 04: build the DCGAN blocks and the training step yourself.

# %% [markdown]
# ## References
#
# * Goodfellow, I. et al. (2014). Generative adversarial nets. *NeurIPS*.
# * Radford, A., Metz, L. & Chintala, S. (2016). Unsupervised representation learning with deep convolutional generative adversarial networks. *ICLR*.
# * Heusel, M., Ramsauer, H., Unterthiner, T., Nessler, B. & Hochreiter, S. (2017). GANs trained by a two time-scale update rule converge to a local Nash equilibrium. *NeurIPS* (the Frechet inception distance).
# * Mirza, M. & Osindero, S. (2014). Conditional generative adversarial nets. arXiv:1411.1784.
# * Miyato, T. & Koyama, M. (2018). cGANs with projection discriminator. *ICLR*.
# * Salimans, T. et al. (2016). Improved techniques for training GANs. *NeurIPS* (one-sided label smoothing).
# * Zhao, S., Liu, Z., Lin, J., Zhu, J.-Y. & Han, S. (2020). Differentiable augmentation for data-efficient GAN training. *NeurIPS*.
