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
# # 00 · Setup and a tour of the course
#
# > Environment check, devices, fast and full mode, and the datasets and masks as pictures.
#
# ## Objectives
#
# After this notebook you can:
#
# * check that the environment, the device and the datasets work;
# * switch between fast mode and full mode and know what each is for;
# * recognise the course's datasets and corruption masks as pictures.
#
# ## Prerequisites
#
# Python and a first look at PyTorch tensors; nothing from the course.
#
# ## Time
#
# Full mode (the default) took 11.9<!--r:time.full.course.00_setup@kernel_cpu_s--> s of kernel CPU time on a 2-core CPU
# (13.1<!--r:time.full.course.00_setup--> s of wall time on a machine shared with other jobs; `make results`); fast mode
# (`GENLAB_FAST=1`) about 8.1<!--r:time.fast.course.00_setup--> s.
#
# ---
#
# This course builds deep generative models (autoencoders, VAEs, GANs) and image
# restorers (convolutional and recurrent) in PyTorch, one idea per notebook. Every
# notebook runs on a laptop CPU, in JupyterLab or on Colab, and faster on a GPU.
#
# This first notebook checks your environment, shows how the course picks a device,
# explains *fast* and *full* mode, and shows the data and the masks we will restore.

# %% tags=["setup"]
# Setup: on Colab this installs genlab and copies the notebooks to your workspace; locally it changes nothing.
try:
    import genlab
except ImportError:
    # %pip install -q "genlab @ git+https://github.com/genlab-course/genlab@main"
    import genlab
    genlab.colab.workspace()  # on Colab: your own copies (on Drive when mounted); elsewhere nothing

# %% [markdown]
# ## 1. Is the environment ready?
#
# `genlab doctor` lists the versions the course relies on, the device it will use, whether
# interactive widgets can render, and which datasets are available without a network.
# Anything missing comes with the command that fixes it. The cell below calls it from
# Python; `!genlab doctor` in a cell does the same. In a terminal, activate the course's
# environment first (`source .venv/bin/activate`) or type `.venv/bin/genlab doctor`.

# %%
from genlab.doctor import run as doctor

ok = doctor(None) == 0
ok

# %% [markdown]
# ## 2. One seed, one device
#
# Every notebook starts with `genlab.start(seed)`. It seeds Python, NumPy and PyTorch (so
# results are reproducible on the CPU), and picks the device: a CUDA GPU if there is one,
# then Apple's MPS, then the CPU. Everything after this line moves models and batches
# to `session.device`.

# %%
import torch

import genlab

session = genlab.start(seed=0)
device = session.device
x = torch.randn(1024, 1024, device=device)
print("a matrix product on", (x @ x).device)

# %% [markdown]
# ## 3. Fast mode and full mode
#
# Full mode is the default: it trains long enough to see the results each lecture talks
# about (a few minutes on a laptop CPU, well under a minute on a GPU). **Fast mode**
# (`GENLAB_FAST=1` in the environment) shrinks data and epochs so a notebook runs in
# seconds; CI runs every notebook that way. Notebooks choose sizes with
# `genlab.fast_or(fast_value, full_value)`:

# %%
epochs = genlab.fast_or(1, 20)
print(f"fast mode: {genlab.config.is_fast()}, so this notebook would train for {epochs} epoch(s)")

# %% [markdown]
# ## 4. The data
#
# Nothing in the course needs a download. Two datasets ship inside packages you already
# have:
#
# * **digits**: scikit-learn's 1,797 handwritten digits (8x8, resized to 16x16 or 28x28);
# * **photos**: patches cropped from scikit-image's sample photographs, split by photo
#   so that test patches never come from a training photo.
#
# MNIST, Fashion-MNIST and CIFAR-10 load through torchvision when you have a network
# (`download=True`). Every loader returns images as a float tensor `(N, C, H, W)` with
# values in `[0, 1]`, and labels.

# %%
from genlab import data, plot

x_digits, y_digits = data.load("digits", split="train", size=16)
print("digits:", tuple(x_digits.shape), x_digits.dtype, f"range [{x_digits.min():.1f}, {x_digits.max():.1f}]")
plot.show_grid(x_digits[:32], nrow=16, title="digits, 16x16 (train split)");

# %%
x_photos, _ = data.load("photos", split="train", size=32)
print("photos:", tuple(x_photos.shape))
plot.show_grid(x_photos[:32], nrow=16, title="photo patches, 32x32 gray (train split)");

# %%
print({name: ok for name, ok in data.available_offline().items()})

# %% [markdown]
# ## 5. The masks
#
# Restoration starts from an image with a hole. A **mask** has the image's height and
# width, with **1 where a pixel is missing** and 0 where it is known; this convention
# holds everywhere in the course. Some holes are easy and some are hard: a random
# scatter of missing pixels on a smooth digit can be filled by averaging neighbours,
# while a whole band of rows removes information that only a model of digits can
# bring back. Lecture 05 measures this.

# %%
from genlab import masks

g = torch.Generator().manual_seed(0)
kinds = {
    "centre block": masks.make_mask("center", 8, 16, hole=8),
    "random block": masks.make_mask("block", 8, 16, hole=6, generator=g),
    "row band": masks.make_mask("rows", 8, 16, rows=5, generator=g),
    "scattered rows": masks.make_mask("scattered_rows", 8, 16, rows=3, generator=g),
    "strokes": masks.make_mask("strokes", 8, 16, generator=g),
    "random pixels": masks.make_mask("pixels", 8, 16, p=0.5, generator=g),
}
sample = x_digits[:8]
rows = {"image": sample}
rows |= {name: masks.apply_mask(sample, m, fill=0.5) for name, m in kinds.items()}
plot.show_rows(rows, n=8, title="the same digits under each corruption (grey = missing)");

# %% [markdown]
# ## What next
#
# * Open `labs/00_setup.ipynb` for a two-minute warm-up, then lecture 01 (autoencoders).
# * Try `GENLAB_FAST=1 jupyter lab` to see fast mode, or change the seed above and rerun.

# %% [markdown]
# ## References
#
# * Paszke, A. et al. (2019). PyTorch: an imperative style, high-performance deep learning library. *NeurIPS*.
# * Pedregosa, F. et al. (2011). Scikit-learn: machine learning in Python. *JMLR* 12 (the 8x8 digits ship with it).
# * Alpaydin, E. & Kaynak, C. (1998). Optical recognition of handwritten digits. UCI Machine Learning Repository (the digits' source).
