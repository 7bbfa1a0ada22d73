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
# # Lab 07 · A device-agnostic training loop with AMP, checkpoints and exact resume
#
# > Write the heart of `genlab.train.fit`: one epoch that runs on any device with mixed
# > precision, and checkpoints that let training continue exactly after a disconnect.
#
# **Objectives**: after this lab you can
#
# * choose the mixed-precision format and scaler for a device;
# * write a device-agnostic training epoch with AMP;
# * save atomically and load safely, so training resumes exactly.
#
# **Prerequisites**: lecture 07 (training on GPUs) and any of labs 01-06.
#
# **Time**: full mode (`GENLAB_FAST` unset) took 16.6<!--r:time.full.solutions.07_gpu_training@kernel_cpu_s--> s of kernel CPU time on a 2-core CPU for the solution notebook, challenge cell included (12.0<!--r:time.full.solutions.07_gpu_training--> s of wall time on a machine shared with other jobs; `genlab.results run`); not measured on a GPU. Add your own time for the exercises.
#
# You write four functions, and a fifth as a stretch:
#
# 1. `autocast_settings(device, bf16_supported=None) -> (enabled, dtype, use_scaler)`
# 2. `train_epoch(model, batches, optimizer, scaler, device, amp) -> mean loss`
# 3. `save_checkpoint(path, model, optimizer, scaler, epoch)`: atomic
# 4. `load_checkpoint(path, model, optimizer, scaler) -> epoch`
# 5. (stretch) `train_epoch_accumulate(model, batches, optimizer, accum_steps, device)`: k micro-batches, one big-batch step
#
# Everything is checked on the CPU by behaviour; the same code runs unchanged on a GPU.
# The final test: 2 epochs, a "disconnect", resume, 2 more epochs must give **exactly**
# the weights of 4 epochs in one go.

# %% tags=["setup"]
# Setup: on Colab this installs genlab and copies the notebooks to your workspace; locally it changes nothing.
try:
    import genlab
except ImportError:
    # %pip install -q "genlab @ git+https://github.com/genlab-course/genlab@main"
    import genlab
    genlab.colab.workspace()  # on Colab: your own copies (on Drive when mounted); elsewhere nothing

# %% tags=["support"]
import os
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

import genlab
from genlab import checks, data, models, plot

session = genlab.start(seed=0)
device = session.device
x_train, y_train = data.load("digits", "train", 16, limit=genlab.fast_or(192, None))
x_test, y_test = data.load("digits", "test", 16)


def make_model() -> torch.nn.Module:
    """The small digit classifier of the course (it has dropout, so randomness matters)."""
    return models.build("classifier", width=genlab.fast_or(8, 16))


# %% [markdown]
# ## Exercise 1: which precision on which device?
#
# Mixed precision runs the forward pass in a 16-bit format inside `torch.autocast`.
# Return `(enabled, dtype, use_scaler)` for a device:
#
# * **CUDA with bf16** (`bf16_supported=True`; when it is `None`, ask
#   `torch.cuda.is_bf16_supported()`): `(True, torch.bfloat16, False)`;
# * **CUDA without bf16** (T4, V100): `(True, torch.float16, True)`;
# * **CPU**: `(True, torch.bfloat16, False)`;
# * anything else (Apple's `mps`): `(True, torch.float16, False)` (GradScaler is CUDA/CPU only).
#
# `device` may be a string or a `torch.device`.
# <!-- BEGIN SOLUTION -->
# Why the scaler only with float16: bf16 has float32's 8 exponent bits, so a gradient of
# 1e-8 survives; float16 has 5, and turns it into 0 unless the loss is scaled up first.
# <!-- END SOLUTION -->

# %% tags=["exercise"]
# Same as genlab.exercises.lab07.autocast_settings
# Same as genlab.train.loop.autocast_settings
def autocast_settings(device, bf16_supported=None):
    """(enabled, dtype, use_scaler) of mixed precision on ``device``."""
    ### BEGIN SOLUTION
    # HINT: Implement autocast_settings; genlab.hint("autocast_settings") gives a hint in three steps.
    device = torch.device(device)
    if device.type == "cuda":
        if bf16_supported is None:
            bf16_supported = torch.cuda.is_bf16_supported()
        return (True, torch.bfloat16, False) if bf16_supported else (True, torch.float16, True)
    if device.type == "cpu":
        return True, torch.bfloat16, False
    return True, torch.float16, False
    ### END SOLUTION


# %%
checks.check_autocast_settings(autocast_settings)

# %% [markdown]
# ## Exercise 2: one epoch, on any device, with or without AMP
#
# `train_epoch(model, batches, optimizer, scaler, device, amp)` trains a classifier for one
# pass over `batches` (an iterable of `(x, y)` on the CPU) and returns the **mean loss per
# image** as a Python float. It must:
#
# * move the model to `device` and put it in training mode;
# * move every `x` and `y` to `device`;
# * run the forward pass under autocast (enabled when `amp`) with the dtype from your
#   `autocast_settings`, and the cross-entropy loss in float32;
# * with a `scaler` (not `None`) back-propagate the scaled loss and let the scaler step the
#   optimiser and update its scale; without one, the plain backward and step; gradients
#   cleared every step;
# * the mean loss **per image**: batches may differ in size.

# %% tags=["exercise"]
# Same as genlab.exercises.lab07.train_epoch
def train_epoch(model, batches, optimizer, scaler, device, amp):
    """One epoch of cross-entropy training; returns the mean loss per image (float)."""
    ### BEGIN SOLUTION
    # HINT: Implement train_epoch; genlab.hint("train_epoch") gives a hint in three steps.
    device = torch.device(device)
    model.to(device)
    model.train()
    _, dtype, _ = autocast_settings(device)
    total, count = 0.0, 0
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y)  # the loss in fp32: reductions want the range
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)  # unscales first; skips the step if a gradient overflowed
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        total += loss.item() * len(x)
        count += len(x)
    return total / count
    ### END SOLUTION


# %%
checks.check_train_epoch(train_epoch)

# %% [markdown]
# ## Exercise 3: an atomic checkpoint
#
# `save_checkpoint(path, model, optimizer, scaler, epoch)` writes one file holding a dict
# with exactly these keys:
#
# * `"model"`: `model.state_dict()`; `"optimizer"`: `optimizer.state_dict()`;
# * `"scaler"`: `scaler.state_dict()`, or `None` without a scaler;
# * `"epoch"`: the number of finished epochs;
# * `"rng"`: `{"torch": torch.get_rng_state()}` (add `"cuda": torch.cuda.get_rng_state_all()`
#   if you like; the check runs on the CPU).
#
# **Atomic**: a crash in the middle of the write must leave the previous checkpoint
# intact and no partial file behind: write a temporary file in the same folder, then
# rename it onto `path` (a rename within a folder is atomic; a write is not), and leave no
# temporary file behind if anything fails. Keep only tensors and plain Python values in the dict, so that
# `torch.load(path, weights_only=True)` can read it.

# %% tags=["exercise"]
# Same as genlab.exercises.lab07.save_checkpoint
def save_checkpoint(path, model, optimizer, scaler, epoch):
    """Write model, optimiser, scaler, epoch and RNG state to ``path`` atomically."""
    ### BEGIN SOLUTION
    # HINT: Implement save_checkpoint; genlab.hint("save_checkpoint") gives a hint in three steps.
    path = Path(path)
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scaler": scaler.state_dict() if scaler is not None else None,
             "epoch": int(epoch), "rng": {"torch": torch.get_rng_state()}}
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    ### END SOLUTION


# %%
checks.check_save_checkpoint(save_checkpoint)

# %% [markdown]
# ## Exercise 4: load it back, exactly
#
# `load_checkpoint(path, model, optimizer, scaler)` reads the file onto the CPU with the safe
# loader (`weights_only=True`; never `False`, not even as a fallback), restores the model, the
# optimiser, the scaler (when both the argument and the stored state are not `None`) and
# the torch RNG state (`torch.set_rng_state`), and returns the epoch as an `int`.

# %% tags=["exercise"]
# Same as genlab.exercises.lab07.load_checkpoint
def load_checkpoint(path, model, optimizer, scaler):
    """Restore everything ``save_checkpoint`` wrote; return the number of finished epochs."""
    ### BEGIN SOLUTION
    # HINT: Implement load_checkpoint; genlab.hint("load_checkpoint") gives a hint in three steps.
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    if state.get("optimizer"):  # a file saved without optimiser state still loads its weights
        optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    rng = state.get("rng") or {}
    if isinstance(rng, dict) and "torch" in rng:
        torch.set_rng_state(rng["torch"])
    return int(state["epoch"])
    ### END SOLUTION


# %%
checks.check_load_checkpoint(load_checkpoint)

# %% [markdown]
# ## Exercise 5 (stretch): gradient accumulation
#
# A batch of 256 may not fit on a small GPU; 8 micro-batches of 32 do. Write
# `train_epoch_accumulate(model, batches, optimizer, accum_steps, device) -> mean loss`:
# `batches` is a list of `(x, y)` micro-batches (on the CPU, sizes may differ); after every
# `accum_steps` of them, and after a smaller last group, take **one** optimiser step. The
# contract that matters: each step must be the step that one batch made of the group's
# images joined would give (cross-entropy, mean over the group's images), so a run with
# accumulation trains exactly like the big-batch run it stands for. The model ends in
# training mode; the return value is the epoch's mean loss per image. No AMP here.

# %% tags=["exercise"]
# Same as genlab.exercises.lab07.train_epoch_accumulate
def train_epoch_accumulate(model, batches, optimizer, accum_steps, device):
    """One epoch in groups of ``accum_steps`` micro-batches, one optimiser step per group."""
    ### BEGIN SOLUTION
    # HINT: Implement train_epoch_accumulate; genlab.hint("train_epoch_accumulate") gives a hint in three steps.
    device = torch.device(device)
    model.to(device)
    model.train()
    batches = list(batches)
    total, count = 0.0, 0
    for start in range(0, len(batches), accum_steps):
        group = batches[start:start + accum_steps]
        n = sum(len(y) for _, y in group)
        optimizer.zero_grad(set_to_none=True)
        for x, y in group:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(model(x), y)
            (loss * (len(y) / n)).backward()  # gradients add up; each image weighs 1/n
            total += loss.item() * len(y)
            count += len(y)
        optimizer.step()
    return total / count
    ### END SOLUTION


# %%
checks.check_train_epoch_accumulate(train_epoch_accumulate)

# %% [markdown]
# ## Put it together: train, disconnect, resume
#
# A small training loop built from your four functions: checkpoint after every epoch,
# and if a checkpoint exists, continue from it. First 4 epochs in one go; then 2 epochs,
# a "disconnect" (a new model with other weights, the RNG in another state), and the same
# call again to finish.

# %%
def train(epochs, folder, amp=True, seed=0):
    """Train ``make_model()`` to ``epochs`` epochs, resuming from ``folder`` if it holds a checkpoint."""
    torch.manual_seed(seed)
    model = make_model().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    _, _, use_scaler = autocast_settings(device)
    scaler = torch.amp.GradScaler(device.type) if (amp and use_scaler) else None
    path = Path(folder) / "checkpoint.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    start = load_checkpoint(path, model, optimizer, scaler) if path.exists() else 0
    losses = []
    for epoch in range(start, epochs):
        # batches shuffle with torch's global RNG: its state is in the checkpoint
        losses.append(train_epoch(model, data.batches(x_train, y_train, 64), optimizer, scaler, device, amp))
        save_checkpoint(path, model, optimizer, scaler, epoch + 1)
    return model, losses


root = Path(tempfile.mkdtemp(prefix="lab07-"))
straight, losses_straight = train(4, root / "straight")
_, losses_a = train(2, root / "resumed")
torch.manual_seed(12345)                     # the new session's RNG is somewhere else entirely
resumed, losses_b = train(4, root / "resumed", seed=99)
diff = max((a - b).abs().max().item() for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True))
print(f"max weight difference between 4 epochs and 2 + resume 2: {diff}")
plot.plot_history({"4 epochs": losses_straight, "2 + resume 2": losses_a + losses_b},
                  title="training loss per epoch: the resumed run retraces the straight one");

# %%
with torch.no_grad():
    resumed.eval()
    accuracy = (resumed(x_test.to(device)).argmax(1).cpu() == y_test).float().mean().item()
print(f"test accuracy after 4 epochs with AMP on {device}: {accuracy:.1%}")

# %% [markdown]
# ## Challenge: an accurate classifier
#
# **Target**: accuracy of `model(x).argmax(1)` on 256 held-back 16 x 16 test digits, at least 0.90, 0.94, 0.96, one point per threshold reached (gradebook column `c_acc`).
# **Hand in** `challenge_07.pt` next to this notebook, written by `genlab.save_challenge(model, "07")`;
# `model` comes from `genlab.models.build("classifier", image_size=16, channels=1, ...)` (any other sizes you
# like, within the parameter budget). Train it as you wish on the training split, never on the test split.
# **How it is measured**: the grader loads the file with `torch.load(weights_only=True)` into that model and
# measures it on held-back data drawn from its own seed; `genlab.check_challenge("07")` measures it here on
# public data. Without a handed-in file, the grader runs the cell below in fast mode (at most 30 s of CPU
# time) and measures the file it saves.

# %% tags=["challenge"]
### BEGIN SOLUTION
# HINT: Train and save your challenge model here (the text above gives the target); genlab.hint("challenge_07") gives a hint in three steps.
from genlab import train

torch.manual_seed(0)
clf_c = models.build("classifier", image_size=16, channels=1, width=16)
x_c, y_c = data.load("digits", "train", 16)
train.fit(train.ClassifierTask(clf_c, lr=2e-3), (x_c, y_c), genlab.fast_or(10, 20), batch_size=64, progress=False)
genlab.save_challenge(clf_c, "07")
### END SOLUTION

# %%
genlab.check_challenge("07");  # your points on public data; the grader measures on held-back data

# %% [markdown]
# ## Concept questions
#
# Answer in the cell below: replace each `...` with your answer (a number, or the letter of a choice as a string, e.g. `"b"`) and run it. The check says *right* or *not yet*, never the answer. When you hand in, the grader reads the values written in that cell; each question is worth one point.
#
# **q1.** What is the largest finite float16 number? An integer.
#
# **q2.** Which device needs a GradScaler? (a) the CPU with bfloat16; (b) CUDA with bfloat16; (c) CUDA with float16; (d) Apple's mps.
#
# **q3.** An epoch has three batches of 64, 64 and 32 images, whose mean losses are 1.0, 1.0 and 2.5. What mean loss per image must `train_epoch` return? Two decimals.
#
# **q4.** Why write the checkpoint to a temporary file in the same folder and then rename it? (a) it is faster; (b) a rename within one file system is atomic: a reader sees the old file or the new one, never half of one; (c) the saver cannot overwrite a file; (d) it compresses the file.
#
# **q5.** What can loading a checkpoint someone sent you with `weights_only=False` do? (a) only fail with an error; (b) load tensors only; (c) nothing that `weights_only=True` would not; (d) run any code its author chose, since it unpickles arbitrary objects.

# %% tags=["question"]
answer = genlab.questions("07")
### BEGIN SOLUTION
answer("q1", 65504)
answer("q2", "c")
answer("q3", 1.3)
answer("q4", "b")
answer("q5", "d")
### END SOLUTION

# %% [markdown]
# ## What next
#
# * `genlab.train.fit` is this loop grown up: it also restores NumPy's and Python's RNGs,
#   CUDA's, the data order of in-memory datasets, clips gradients, guards against NaN,
#   and checkpoints into `checkpoint_dir` with `resume=True` doing the loading.
# * On Colab, point `folder` at `genlab.colab.checkpoint_dir("lab07", drive=True)` and
#   disconnect the runtime on purpose between the two calls.
# * Time `train_epoch` with `amp=True` and `amp=False` on a GPU (remember warm-up and
#   `torch.cuda.synchronize()`).


# %% [markdown]
# ## References
#
# * Micikevicius, P. et al. (2018). Mixed precision training. *ICLR 2018*. (float16 training with loss scaling.)
# * Kalamkar, D. et al. (2019). A study of BFLOAT16 for deep learning training. arXiv:1905.12322. (Why bfloat16 needs no scaler.)
# * Paszke, A. et al. (2019). PyTorch: an imperative style, high-performance deep learning library. *NeurIPS 2019*. (autocast, GradScaler; the `torch.load` documentation on `weights_only`.)
