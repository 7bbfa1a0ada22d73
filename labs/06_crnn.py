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
# # Lab 06 · A CRNN repairer
#
# > Write `rows_to_sequences`, `sequences_to_rows` and the `CRNN` forward; train it and compare with the conv repairer.
#
# **Objectives**: after this lab you can
#
# * turn feature-map rows into sequences and back without mixing pixels;
# * write a CRNN forward pass: convolutions, row and column recurrences, residuals;
# * compare it with the convolutional repairer on long holes.
#
# **Prerequisites**: lecture 06 (recurrent repairers) and lab 05.
#
# **Time**: full mode (`GENLAB_FAST` unset) took 618.0<!--r:time.full.solutions.06_crnn@kernel_cpu_s--> s of kernel CPU time on a 2-core CPU for the solution notebook, challenge cell included (760.6<!--r:time.full.solutions.06_crnn--> s of wall time on a machine shared with other jobs; `genlab.results run`); not measured on a GPU. Add your own time for the exercises.
#
# A convolution sees a bounded window. A bidirectional recurrent layer run along every row
# of a feature map gives each position a summary of the *whole* row; a second one along the
# columns spreads it over the whole image. You will write the two reshapes that turn a
# feature map into a batch of sequences and back, then the CRNN's `forward`, then train it
# and compare it with the convolutional repairer on whole-row holes.

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
from genlab import checks, datasets, plot
from genlab.restoration import evaluate_repairers, train_repairer, training_masks
from genlab.weights import load_pretrained

session = genlab.start(seed=0)
device = session.device

# %% [markdown]
# ## Exercise 1: feature-map rows as sequences
#
# `nn.GRU(batch_first=True)` reads a batch of sequences `(N, L, F)`: N sequences of length L
# with F features per step. One sequence per feature-map row means
#
# $$ (B, C, H, W) \;\to\; (B\cdot H,\; W,\; C), \qquad \text{seq}[bH + r,\, j] = \text{feat}[b, :, r, j]. $$
#
# Each step $j$ of sequence $bH + r$ carries the $C$ channels of pixel $(r, j)$ of image $b$.
# Careful: reinterpreting the memory of `feat` as `(B*H, W, C)` has the right shape and the
# wrong content; works for non-contiguous inputs too.

# %% tags=["exercise"]
def rows_to_sequences(feat: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B*H, W, C): sequence b*H + r is row r of image b, read left to right."""
    # YOUR CODE HERE
    raise NotImplementedError('Implement rows_to_sequences; genlab.hint("rows_to_sequences") gives a hint in three steps.')


# %%
checks.check_rows_to_sequences(rows_to_sequences)

# %% [markdown]
# ## Exercise 2: and back
#
# `sequences_to_rows(seq, batch, height)` inverts it: `(B*H, W, C) -> (B, C, H, W)`. The
# number of features `C` is whatever the sequences carry (a bidirectional GRU outputs
# `2 * hidden`), so read it from `seq`.

# %% tags=["exercise"]
def sequences_to_rows(seq: torch.Tensor, batch: int, height: int) -> torch.Tensor:
    """(B*H, W, C) -> (B, C, H, W), the inverse of rows_to_sequences."""
    # YOUR CODE HERE
    raise NotImplementedError('Implement sequences_to_rows; genlab.hint("sequences_to_rows") gives a hint in three steps.')


# %%
checks.check_sequences_to_rows(sequences_to_rows)

# %% [markdown]
# ## Stretch: the column sweep, directly
#
# The CRNN below reads columns by swapping the two spatial axes and reusing your row functions.
# Write the column reading directly instead, with no scaffolding:
#
# * `cols_to_sequences(feat)`: `(B, C, H, W) -> (B*W, H, C)` with
#   $\text{seq}[bW + j,\, r] = \text{feat}[b, :, r, j]$: one sequence per column, read top to bottom.
# * `sequences_to_cols(seq, batch, width)`: its inverse, `(B*W, H, C) -> (B, C, H, W)`, with `C`
#   read from `seq`.
#
# Contract of both: values as defined above for any `B, C, H, W` (one image, one channel,
# `H != W`, a non-contiguous input such as a transposed view); the dtype of the output is the
# input's; gradients flow back to the input (the column GRU is trained through them).

# %% tags=["exercise"]
def cols_to_sequences(feat: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B*W, H, C): sequence b*W + j is column j of image b, read top to bottom."""
    # YOUR CODE HERE
    raise NotImplementedError('Implement cols_to_sequences; genlab.hint("cols_to_sequences") gives a hint in three steps.')


def sequences_to_cols(seq: torch.Tensor, batch: int, width: int) -> torch.Tensor:
    """(B*W, H, C) -> (B, C, H, W), the inverse of cols_to_sequences."""
    # YOUR CODE HERE
    raise NotImplementedError('Implement sequences_to_cols; genlab.hint("sequences_to_cols") gives a hint in three steps.')


# %%
checks.check_cols_to_sequences(cols_to_sequences)
checks.check_sequences_to_cols(sequences_to_cols)

# %% [markdown]
# ## Exercise 3: the CRNN forward
#
# The constructor is given; write `forward`. Shapes with `w = width`, `k = hidden`:
#
# ```
#  [x_masked, mask]                 (B, C+1, H, W)
#  encoder                          (B, 2w, H/2, W/2)               = feat
#  rows:    rows_to_sequences(feat) (B*H/2, W/2, 2w) -> row_rnn -> (B*H/2, W/2, 2k)
#           -> row_proj (B*H/2, W/2, 2w) -> sequences_to_rows -> feat = feat + that
#  columns: the same on feat with H and W swapped, with col_rnn, col_proj, swapped back;
#           feat = feat + that
#  decoder -> logits (B, C, H, W) -> sigmoid -> composite with the known pixels
# ```
#
# The residual additions let the convolutional features pass unchanged where the recurrence
# has nothing to add. Transposing H and W turns columns into rows, so your two functions
# serve both sweeps.

# %% tags=["exercise"]
class CRNN(nn.Module):
    """Conv encoder -> BiGRU along rows -> BiGRU along columns -> conv decoder -> sigmoid -> composite.

    Args:
        channels: image channels C (1 for digits).
        width: conv channels w at full resolution; the recurrences work on 2w features.
        hidden: hidden size k of each direction of the two bidirectional GRUs.

    ``forward(x_masked, mask) -> x_hat`` with images ``(B, C, H, W)`` in [0, 1], ``H`` and ``W``
    even, mask ``(B, 1, H, W)`` (1 = missing); known pixels of the output equal ``x_masked``.
    """

    def __init__(self, channels: int = 1, width: int = 32, hidden: int = 64) -> None:
        super().__init__()
        w = width
        self.encoder = nn.Sequential(
            nn.Conv2d(channels + 1, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.ReLU())         # H -> H/2
        self.row_rnn = nn.GRU(2 * w, hidden, batch_first=True, bidirectional=True)
        self.row_proj = nn.Linear(2 * hidden, 2 * w)
        self.col_rnn = nn.GRU(2 * w, hidden, batch_first=True, bidirectional=True)
        self.col_proj = nn.Linear(2 * hidden, 2 * w)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.ReLU(),  # H/2 -> H
            nn.Conv2d(w, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, channels, 1))

    def forward(self, x_masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # YOUR CODE HERE
        raise NotImplementedError('Write the forward pass of CRNN; genlab.hint("CRNN") gives a hint in three steps.')


# %%
checks.check_crnn(CRNN)

# %% [markdown]
# ## Train it, compare with the convolutional repairer
#
# Same masks as lecture 05 (random 8x8 blocks, 5-row bands, 3 scattered rows). The
# convolutional repairer is the one shipped with genlab (`load_pretrained("conv_repair")`),
# trained for 60 epochs (`genlab train --preset conv_repair`): a strong reference. Your CRNN
# is half its size and trains for 30 epochs here, so expect it below that reference but
# well above biharmonic on blocks and bands (the table prints the margins); on scattered rows biharmonic is hard
# to beat (lecture 05 says why). Lecture 06 shows what longer training and the full CRNN add.

# %% [markdown]
# *Dataset switch:* `GENLAB_DATASET=mnist` (or `fashion_mnist`, `cifar10`, `photos`), or
# `datasets.select("mnist", ...)` in the cell below, trains the models on 28x28 MNIST or 32x32
# colour CIFAR-10 with the image size, width, batch size and epochs of `genlab.datasets.PRESETS`.
# The figures quoted in this notebook were measured on the digits only; on the other datasets
# they are not measured.

# %%
course = datasets.select(device=device, lesson="crnn_lab")  # GENLAB_DATASET, or select("mnist", ...)
x_train, _ = course.train()
x_test, _ = course.test(limit=genlab.fast_or(64, None))
crnn = CRNN(channels=course.channels, width=32, hidden=64).to(device)
print(f"CRNN: {sum(p.numel() for p in crnn.parameters()):,} parameters")
mix = training_masks(("block", "rows", "scattered_rows"),
                     {"block": {"hole": 8}, "rows": {"rows": 5}, "scattered_rows": {"rows": 3}})
history = train_repairer(crnn, x_train, course.epochs(), masks=mix, lr=2e-3, batch_size=course.batch_size,
                         device=device, progress=False)
plot.plot_history(history, logy=True, title="CRNN, masked MSE")

# %%
# the shipped conv repairer was trained on 16x16 digits; elsewhere biharmonic is the reference
shipped = {"conv repairer (shipped)": load_pretrained("conv_repair")} if course.uses_shipped_weights else {}
table, out = evaluate_repairers({**shipped, "your CRNN": crnn}, x_test, return_outputs=True)
print(table)
print("CRNN - biharmonic:", {k: round(v, 1) for k, v in table.gain("your CRNN").items()})

# %%
plot.show_rows({"input": out["masked"]["5-row band"], "biharmonic": out["biharmonic"]["5-row band"],
                **({"conv": out["conv repairer (shipped)"]["5-row band"]} if shipped else {}),
                "CRNN": out["your CRNN"]["5-row band"],
                "truth": x_test}, n=10, title="a band of 5 missing rows")

# %% [markdown]
# ## Challenge: fill whole rows
#
# **Target**: mean hole PSNR of `model(x_masked, mask)` on 256 held-back 16 x 16 test digits under held-back masks (half 5-row bands, half 3 scattered rows), at least 15, 20, 24 dB, one point per threshold reached (gradebook column `c_rows`).
# **Hand in** `challenge_06.pt` next to this notebook, written by `genlab.save_challenge(model, "06")`;
# `model` comes from `genlab.models.build("crnn", image_size=16, channels=1, ...)` (any other sizes you
# like, within the parameter budget). Train it as you wish on the training split, never on the test split.
# **How it is measured**: the grader loads the file with `torch.load(weights_only=True)` into that model and
# measures it on held-back data drawn from its own seed; `genlab.check_challenge("06")` measures it here on
# public data. Without a handed-in file, the grader runs the cell below in fast mode (at most 30 s of CPU
# time) and measures the file it saves.
# In fast mode the solution below fine-tunes the shipped weights (`genlab train --preset crnn`) for one
# epoch, which fits the 30 s; full mode trains from scratch for 30 epochs (it reached all three thresholds when we ran it).

# %% tags=["challenge"]
# YOUR CODE HERE
raise NotImplementedError('Train and save your challenge model here (the text above gives the target); genlab.hint("challenge_06") gives a hint in three steps.')

# %%
genlab.check_challenge("06");  # your points on public data; the grader measures on held-back data

# %% [markdown]
# ## Concept questions
#
# Answer in the cell below: replace each `...` with your answer (a number, or the letter of a choice as a string, e.g. `"b"`) and run it. The check says *right* or *not yet*, never the answer. When you hand in, the grader reads the values written in that cell; each question is worth one point.
#
# **q1.** `rows_to_sequences` on a feature map of shape (4, 64, 8, 8): how many sequences come out? An integer.
#
# **q2.** On an 8 x 8 feature map, after the row sweep and then the column sweep, how many positions of the map that entered the row sweep can one output position depend on? An integer.
#
# **q3.** A bidirectional GRU with hidden size 64: how many features per step does it output? An integer.
#
# **q4.** A plain `view` of a contiguous (B, C, H, W) map as (B*H, W, C): (a) gives the right sequences; (b) raises an error; (c) has the right shape, but each step's C values are neighbouring pixels of one channel, not the C channels of one pixel; (d) gives the columns instead of the rows.
#
# **q5.** How wide is the receptive field of the CRNN's encoder alone (a 3 x 3 convolution with stride 1, then a 4 x 4 convolution with stride 2), counting padding? An integer.

# %% tags=["question"]
answer = genlab.questions("06")
answer("q1", ...)
answer("q2", ...)
answer("q3", ...)
answer("q4", ...)
answer("q5", ...)


# %% [markdown]
# ## References
#
# * Visin, F. et al. (2015). ReNet: a recurrent neural network based alternative to convolutional networks. arXiv:1505.00393. (Recurrences swept along rows and columns.)
# * Shi, B., Bai, X. & Yao, C. (2016). An end-to-end trainable neural network for image-based sequence recognition and its application to scene text recognition. *IEEE TPAMI*. (The CRNN: convolutions followed by recurrences.)
# * Cho, K. et al. (2014). Learning phrase representations using RNN encoder-decoder for statistical machine translation. *EMNLP 2014*. (The GRU.)
# * Pathak, D. et al. (2016). Context encoders: feature learning by inpainting. *CVPR 2016*. (The convolutional repairer it is compared with.)
