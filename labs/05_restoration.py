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
# # Lab 05 · Restoration: masks, a masked loss, and an inpainter that beats the formula on digits
#
# > Write `block_mask`, `apply_mask`, `masked_mse`, `composite`; train a conv repairer that beats biharmonic on digits.
#
# You will write the four small pieces every inpainting pipeline is built from, each
# followed by a check, then train a convolutional repairer with them and compare it with
# the biharmonic baseline on held-out digits.
#
# Convention (everywhere in the course): a mask is **1 where a pixel is missing** (the
# hole) and 0 where it is known; masks have shape `(B, 1, H, W)` and broadcast over the
# image channels.

# %% tags=["setup"]
# Setup: on Colab this installs genlab from the course repository; locally it changes nothing.
try:
    import genlab
except ImportError:
    # %pip install -q "genlab @ git+https://github.com/genlab-course/genlab@main"
    import genlab

# %% tags=["support"]
import torch

import genlab
from genlab import checks, data, plot
from genlab.models.repair import ConvRepairer, RepairConfig
from genlab.widgets import TrainingDashboard
from genlab.restoration import evaluate_repairers
from genlab.train import RepairTask, fit

session = genlab.start(seed=0)
device = session.device

# %% [markdown]
# ## Exercise 1: random square holes
#
# Write `block_mask(batch, size, hole, generator=None)` returning a float tensor
# `(batch, 1, size, size)` with one `hole x hole` square of ones per image, at a random
# position drawn **per image**, always **fully inside** the image. Draw every random
# number from `generator` (so the same seeded generator gives the same masks).

# %% tags=["exercise"]
def block_mask(batch: int, size: int, hole: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(batch, 1, size, size) float mask: one random hole x hole square of ones per image (1 = missing)."""
    # YOUR CODE HERE
    raise NotImplementedError('draw top-left corners with torch.randint(0, size - hole + 1, (2, batch), generator=generator).')


# %%
checks.check_block_mask(block_mask)

# %% [markdown]
# ## Exercise 2: blank the hole
#
# `apply_mask(x, mask, fill=0.0)` returns the corrupted image
# $\tilde x = x \odot (1 - m) + f\,m$: the known pixels unchanged, the hole set to `fill`.
# Do not modify `x` in place.

# %% tags=["exercise"]
def apply_mask(x: torch.Tensor, mask: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    """(B, C, H, W) images, (B, 1, H, W) mask -> images with the hole set to ``fill``."""
    # YOUR CODE HERE
    raise NotImplementedError('multiply by (1 - mask) to keep the known pixels, then add fill * mask.')


# %%
checks.check_apply_mask(apply_mask)

# %% [markdown]
# ## Exercise 3: a loss on the hole only
#
# $$ \mathcal L = \frac{\sum_{n,c,h,w} m_{nchw}(\hat x_{nchw} - x_{nchw})^2}{\sum_{n,c,h,w} m_{nchw}} $$
#
# pooled over the whole batch, with the mask expanded to the image's channels (each hole
# pixel counts once per channel). A batch without any hole gives 0, not NaN.

# %% tags=["exercise"]
def masked_mse(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Scalar mean squared error over the hole pixels (mask == 1) of the whole batch."""
    # YOUR CODE HERE
    raise NotImplementedError("expand the mask to x's shape, sum the masked squared errors, divide by the number of hole pixels.")


# %%
checks.check_masked_mse(masked_mse)

# %% [markdown]
# ## Exercise 4: keep what you know
#
# The network predicts every pixel, but the known pixels are known: `composite(x_hat, x, mask)`
# takes the hole from `x_hat` and everything else from `x`.

# %% tags=["exercise"]
def composite(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The model's pixels in the hole (mask 1), the original pixels elsewhere."""
    # YOUR CODE HERE
    raise NotImplementedError('a weighted sum with weights mask and (1 - mask).')


# %%
checks.check_composite(composite)

# %% [markdown]
# ## Train a convolutional repairer with your pieces
#
# `RepairTask` knows how to draw masks and run the model; below we give it *your* mask
# generator and override its loss with *your* masked MSE and composite. Each step: draw
# masks (half random 8x8 blocks from your `block_mask`, half 5-row bands), blank the holes
# with your `apply_mask`, predict, composite, score the hole.

# %%
from genlab.masks import row_band


class MyRepairTask(RepairTask):
    """RepairTask with the lab's block_mask, apply_mask, composite and masked_mse."""

    def losses(self, batch, ctx=None):
        x, _ = batch
        mask = self.draw_masks(x)
        x_hat = composite(self.net("model").raw(apply_mask(x, mask), mask), x, mask)
        return {"loss": masked_mse(x_hat, x, mask)}


def my_masks(batch, size, generator):
    half = batch // 2
    return torch.cat([block_mask(half, size[0], 8, generator=generator),
                      row_band(batch - half, size[0], 5, generator=generator)])


x_train, _ = data.load("digits", "train", size=16, limit=genlab.fast_or(256, None))
x_test, _ = data.load("digits", "test", size=16, limit=genlab.fast_or(64, None))
model = ConvRepairer(RepairConfig(width=32)).to(device)
history = fit(MyRepairTask(model, lr=2e-3, masks=my_masks), x_train, genlab.fast_or(1, 30),
              device=device, progress=False, callbacks=[TrainingDashboard()])  # live loss curve
plot.plot_history(history, logy=True, title="masked MSE on the training masks")

# %% [markdown]
# ## Did it beat the formula?
#
# Hole PSNR on held-out digits under fixed masks, beside mean fill and biharmonic:

# %%
table, out = evaluate_repairers({"your conv repairer": model}, x_test, ["centre 8x8", "5-row band"],
                                return_outputs=True)
print(table)
gain = table.gain("your conv repairer")
print("dB above biharmonic:", {k: round(v, 1) for k, v in gain.items()})
if not genlab.config.is_fast():
    assert min(gain.values()) > 0, "the repairer should beat biharmonic on both masks; train longer?"

# %%
plot.show_rows({"input": out["masked"]["centre 8x8"], "biharmonic": out["biharmonic"]["centre 8x8"],
                "yours": out["your conv repairer"]["centre 8x8"], "truth": x_test}, n=10,
               title="centre 8x8 hole on held-out digits")
