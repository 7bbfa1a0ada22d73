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
# # Lab 00 · Warm-up
#
# > Warm-up, not graded: images as tensors, counting missing pixels.
#
# **Objectives**: after this lab you can
#
# * edit an exercise cell, run its check and read its message;
# * handle images as tensors `(B, C, H, W)` and masks with 1 = missing.
#
# **Prerequisites**: Python and a first contact with PyTorch tensors; no lecture needed.
#
# **Time**: full mode (`GENLAB_FAST` unset) took 4.3<!--r:time.full.solutions.00_setup@kernel_cpu_s--> s of kernel CPU time on a 2-core CPU for the solution notebook (7.2<!--r:time.full.solutions.00_setup--> s of wall time on a machine shared with other jobs; `genlab.results run`); not measured on a GPU. Add your own time for the exercises.
#
# Nothing here is graded. The warm-up makes sure you can edit an exercise cell, run
# its check, and read a check's message. In every lab:
#
# 1. an **exercise** cell has a function to write (replace `raise NotImplementedError`);
# 2. the **check** cell right after it tests your function and says what was expected
#    when something is off;
# 3. stuck? `genlab.hint("name")` gives a hint for exercise `name` in three steps (the idea,
#    the maths and the shapes, the structure of the code in words), one more each call;
# 4. graded labs end with **concept questions**: `answer("q1", value)` says right or not yet.

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

import genlab
from genlab import checks, data, plot

session = genlab.start(seed=0)

# %% [markdown]
# ## Exercise 1: images as tensors
#
# Images in the course are float tensors `(N, C, H, W)` with values in `[0, 1]`.
# Photos often arrive as `uint8` arrays `(N, H, W)` with values 0..255. Write
# `to_course_format(images)` that turns such a batch into the course's format.

# %% tags=["exercise"]
def to_course_format(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W) uint8 in 0..255 -> (N, 1, H, W) float32 in [0, 1]."""
    # YOUR CODE HERE
    raise NotImplementedError('Implement to_course_format; genlab.hint("to_course_format") gives a hint in three steps.')


# %%
checks.check_to_course_format(to_course_format)

# %% [markdown]
# ## Exercise 2: count the missing pixels
#
# A mask is 1 where a pixel is missing. Write `missing_fraction(mask)` returning, for each
# image, the fraction of its pixels that are missing: shape `(N,)`.

# %% tags=["exercise"]
def missing_fraction(mask: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) mask of 0/1 -> (N,) fraction of missing pixels per image."""
    # YOUR CODE HERE
    raise NotImplementedError('Implement missing_fraction; genlab.hint("missing_fraction") gives a hint in three steps.')


# %%
checks.check_missing_fraction(missing_fraction)

# %% [markdown]
# ## Look at the result
#
# Digits from the built-in dataset through your function (the dataset stores them as
# floats already; we convert back to `uint8` to exercise it).

# %%
x, _ = data.load("digits", split="train", size=16)
raw = (x[:16, 0] * 255).round().to(torch.uint8)
plot.show_grid(to_course_format(raw), nrow=16, title="your to_course_format on 16 digits");


# %% [markdown]
# ## References
#
# * Paszke, A. et al. (2019). PyTorch: an imperative style, high-performance deep learning library. *NeurIPS 2019*. (The tensors and autograd used throughout.)
