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
# You build the two DCGAN networks and the training step, train them on 16x16 digits, and
# measure the result against the real-vs-real baseline. Conventions (the checks and the
# grader rely on them):
#
# * `Generator(z_dim=32)`: `G(z)` maps `z` of shape `(B, z_dim)` to images `(B, 1, 16, 16)` in `[0, 1]`;
# * `Discriminator()`: `D(x)` maps images `(B, 1, 16, 16)` to **logits** of shape `(B,)`, no sigmoid;
# * `gan_training_step(G, D, opt_g, opt_d, real, z)` does one D update then one G update and
#   returns `{"loss_d": float, "loss_g": float}`.

# %% tags=["setup"]
# Setup: on Colab this installs genlab from the course repository; locally it changes nothing.
try:
    import genlab
except ImportError:
    # %pip install -q "genlab @ git+https://github.com/genlab-course/genlab@main"
    import genlab

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

# %% tags=["exercise"]
class Generator(nn.Module):
    """DCGAN generator: z (B, z_dim) -> images (B, 1, 16, 16) in [0, 1]."""

    def __init__(self, z_dim: int = 32, width: int = 32) -> None:
        super().__init__()
        self.z_dim = z_dim
        ### BEGIN SOLUTION
        # HINT: nn.Sequential of the three ConvTranspose2d layers in the table, BatchNorm2d + ReLU after the first two.
        w = width
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z_dim, 2 * w, 4, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
            nn.ConvTranspose2d(w, 1, 4, 2, 1),
        )
        ### END SOLUTION

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # HINT: reshape z to (B, z_dim, 1, 1), run the layers, end with torch.sigmoid.
        return torch.sigmoid(self.net(z.view(-1, self.z_dim, 1, 1)))
        ### END SOLUTION


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
# No sigmoid at the end: the losses use BCE-with-logits.

# %% tags=["exercise"]
class Discriminator(nn.Module):
    """DCGAN discriminator: images (B, 1, 16, 16) -> logits (B,)."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        ### BEGIN SOLUTION
        # HINT: nn.Sequential of the three Conv2d layers in the table; no BatchNorm on the first, no sigmoid at the end.
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(1, w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 1, 4),
        )
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        # HINT: run the layers and flatten (B, 1, 1, 1) to (B,) with .view(-1).
        return self.net(x).view(-1)
        ### END SOLUTION


# %%
checks.check_Discriminator(Discriminator)

# %% [markdown]
# ## Exercise 3: one training step
#
# 1. `fake = G(z)`.
# 2. **D step**: `loss_d` = BCE of `D(real)` against 1 plus BCE of `D(fake.detach())` against 0
#    (each a batch mean). The detach keeps D's loss from reaching G. `opt_d.zero_grad()`,
#    `loss_d.backward()`, `opt_d.step()`.
# 3. **G step** through the *updated* D: `loss_g` = BCE of `D(fake)` (not detached) against 1, the
#    non-saturating loss. `opt_g.zero_grad()`, `loss_g.backward()`, `opt_g.step()`.
# 4. Return `{"loss_d": loss_d.item(), "loss_g": loss_g.item()}`.
#
# (`genlab.losses` has these losses, but write them here with `F.binary_cross_entropy_with_logits`.)

# %% tags=["exercise"]
def gan_training_step(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                      real: torch.Tensor, z: torch.Tensor) -> dict[str, float]:
    """One D update (real -> 1, detached fakes -> 0), then one G update through D (non-saturating)."""
    ### BEGIN SOLUTION
    # HINT: follow the four steps above; D(fake.detach()) in the D step, D(fake) in the G step.
    fake = G(z)
    d_real, d_fake = D(real), D(fake.detach())
    loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
              + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()

    d_fake_for_g = D(fake)   # gradients flow through the updated D into G
    loss_g = F.binary_cross_entropy_with_logits(d_fake_for_g, torch.ones_like(d_fake_for_g))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}
    ### END SOLUTION


# %%
checks.check_gan_training_step(gan_training_step)

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
# ## What to try next
#
# * Replace the non-saturating G loss by the saturating one and compare the first epochs.
# * Remove the BatchNorm layers: does training still work?
# * One-sided label smoothing: label real digits 0.9 in the D step. Does the Frechet distance move?
