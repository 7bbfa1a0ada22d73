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
# # 07 · Training on a GPU
#
# > Devices and memory, mixed precision (and why bf16 needs no scaler), channels_last, data
# > loading, honest throughput, checkpoints that survive a disconnect, torch.compile, and DDP.
#
# ## Objectives
#
# After this notebook you can:
#
# * move models and data between devices and read memory use;
# * train with mixed precision and know why bf16 needs no loss scaler;
# * measure channels_last, DataLoader settings and throughput;
# * checkpoint and resume exactly; know what torch.compile and DDP do.
#
# ## Prerequisites
#
# Lectures 02 and 04 (the models trained here); no GPU is required.
#
# ## Time
#
# Full mode (the default) took 98.0<!--r:time.full.course.07_gpu_training@kernel_cpu_s--> s of kernel CPU time on a 2-core CPU
# (157.7<!--r:time.full.course.07_gpu_training--> s of wall time on a machine shared with other jobs; `make results`); fast mode
# (`GENLAB_FAST=1`) about 5.6<!--r:time.fast.course.07_gpu_training--> s. A GPU run has not been measured.
#
# ---
#
# Everything so far ran on a laptop CPU. The same code runs on a GPU, and on several GPUs,
# once a handful of details are right: where tensors live, which number format the
# arithmetic uses, how memory is laid out, how batches reach the device, and what happens
# when the machine goes away in the middle of training (on Colab it will).
#
# `genlab.train.fit` does all of this for every model of the course; this lecture opens it
# up. Each section runs on the CPU too, and says what a GPU would change. The lab then has
# you write the core of such a loop yourself.

# %% tags=["setup"]
# Setup: on Colab this installs genlab and copies the notebooks to your workspace; locally it changes nothing.
try:
    import genlab
except ImportError:
    # %pip install -q "genlab @ git+https://github.com/genlab-course/genlab@main"
    import genlab
    genlab.colab.workspace()  # on Colab: your own copies (on Drive when mounted); elsewhere nothing

# %%
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

import genlab
from genlab import colab, data, models, plot
from genlab.train import AutoencoderTask, fit

session = genlab.start(seed=0)
device = session.device
GPU = device.type == "cuda"
x_train, y_train = data.load("digits", "train", 16, limit=genlab.fast_or(128, None))
print(f"{len(x_train)} training digits of shape {tuple(x_train.shape[1:])}; training on {device}")

# %% [markdown]
# ## 1. Devices and memory
#
# A tensor lives on one device; an operation needs all its inputs on the same one. Training
# on a GPU means three moves: the **model** (`model.to(device)`, once), every **batch**
# (`x.to(device)`, inside the loop) and nothing else: the loss comes back to the CPU only
# when you print it (`loss.item()` waits for the GPU, so do it rarely).
#
# GPU memory holds the weights, their gradients, the optimiser's state (Adam keeps two
# numbers per weight) and the **activations** saved for the backward pass, which grow with
# the batch size. A rule of thumb for the first three: 16 bytes per parameter in fp32 Adam.

# %%
def training_memory_mb(model: torch.nn.Module) -> float:
    """Weights + gradients + Adam's two moments, in fp32: 4 x 4 bytes per parameter."""
    return 16 * sum(p.numel() for p in model.parameters()) / 2**20


for name in ["conv_ae", "conv_vae", "dcgan", "unet"]:
    m = models.build(name)
    print(f"{name:9s} {models.count_parameters(m):>8,} parameters -> {training_memory_mb(m):5.1f} MB before activations")

# %% [markdown]
# On a CUDA device PyTorch reports what it holds. `memory_allocated` is what live tensors
# use; `max_memory_allocated` the peak (the number that decides an out-of-memory error);
# PyTorch's caching allocator keeps freed blocks `reserved` for reuse, which is why
# `nvidia-smi` shows more than your tensors need.

# %%
if GPU:
    torch.cuda.reset_peak_memory_stats()
    m = models.build("conv_vae").to(device)
    xb = x_train[:256].to(device)
    x_logits, mu, logvar = m(xb)
    x_logits.sum().backward()
    print(f"allocated {torch.cuda.memory_allocated() / 2**20:.1f} MB, "
          f"peak {torch.cuda.max_memory_allocated() / 2**20:.1f} MB, "
          f"reserved {torch.cuda.memory_reserved() / 2**20:.1f} MB")
else:
    print("No CUDA device here: on a GPU this cell prints torch.cuda.memory_allocated / "
          "max_memory_allocated / memory_reserved for one conv VAE step.")

# %% [markdown]
# ## 2. Mixed precision, and why bf16 needs no scaler
#
# A float is a sign, an **exponent** (range) and a **mantissa** (precision):
#
# | format | exponent bits | mantissa bits | largest | smallest normal |
# |---|---|---|---|---|
# | float32 | 8 | 23 | 3.4e38 | 1.2e-38 |
# | bfloat16 | 8 | 7 | 3.4e38 | 1.2e-38 |
# | float16 | 5 | 10 | 65504 | 6.1e-5 |
#
# GPUs multiply 16-bit numbers several times faster than 32-bit ones (tensor cores), and
# move half the bytes. **Automatic mixed precision** (AMP) runs matrix products and
# convolutions in 16 bits inside `torch.autocast`, keeps reductions and the weights
# themselves in float32, and so keeps most of the accuracy.
#
# The difference between the two 16-bit formats is range. bfloat16 keeps float32's 8
# exponent bits: whatever float32 can represent, bf16 can too, only rounded to ~3
# significant digits. float16 has 5 exponent bits: below $2^{-24} \approx 6 \times 10^{-8}$
# everything becomes **zero**, and gradients are often that small. Let us check it.

# %%
for dtype in (torch.float32, torch.bfloat16, torch.float16):
    fi = torch.finfo(dtype)
    print(f"{str(dtype):15s} max {fi.max:9.3g}  smallest normal {fi.tiny:9.3g}  eps {fi.eps:.3g}")

g = torch.tensor([1e-3, 1e-5, 1e-7, 1e-8, 1e-10])
print("gradient      ", g.tolist())
print("as float16    ", g.half().float().tolist(), "<- underflow to 0")
print("as bfloat16   ", [float(f"{v:.3g}") for v in g.bfloat16().float().tolist()])
scale = 2.0**16
print("fp16, scaled  ", [float(f"{v:.3g}") for v in ((g * scale).half().float() / scale).tolist()],
      "<- multiply by 2^16 first, divide after")

# %% [markdown]
# Real gradients: one backward pass of a small conv autoencoder on digits, and where its
# gradient magnitudes fall relative to the float16 limits.

# %%
torch.manual_seed(0)
ae = models.build("conv_ae")
loss = F.binary_cross_entropy_with_logits(ae(x_train[:64]), x_train[:64])
loss.backward()
grads = torch.cat([p.grad.flatten() for p in ae.parameters()]).abs()
grads = grads[grads > 0]
lost = (grads.half() == 0).float().mean().item()
lost_scaled = ((grads * scale).half() == 0).float().mean().item()
print(f"gradients that become 0 in fp16: {lost:.1%}; with a 2^16 loss scale: {lost_scaled:.1%}; "
      f"in bf16: {(grads.bfloat16() == 0).float().mean().item():.1%}")

fig, ax = plt.subplots(figsize=(7, 2.8))
ax.hist(grads.log10().numpy(), bins=60, color="tab:blue", alpha=0.8)
for x_, label, c in [(math.log10(2**-24), "fp16: 0 below", "tab:red"),
                     (math.log10(torch.finfo(torch.float16).tiny), "fp16 smallest normal", "tab:orange")]:
    ax.axvline(x_, color=c, ls="--", label=label)
ax.set_xlabel("log10 |gradient|")
ax.set_ylabel("count")
ax.legend()
ax.set_title("gradient magnitudes of a conv AE (one batch)")
plt.show()

# %% [markdown]
# A **GradScaler** does exactly the scaled line above, adaptively: it multiplies the loss
# by a large factor $s$ before `backward()` (so every gradient is $s$ times larger and
# stays above the fp16 floor), divides the gradients by $s$ before the optimiser step,
# and, if any gradient overflowed to inf, skips that step and halves $s$. With bf16
# none of this is needed: its range is float32's.
#
# genlab's policy (`genlab.train.fit(..., amp=True)`): CUDA with bf16 (Ampere and newer:
# A100, H100, RTX 30xx/40xx) autocasts to **bf16 without a scaler**; older GPUs (T4, V100:
# Colab's free tier) to **fp16 with a GradScaler**; the CPU autocasts to bf16. Here is the
# same autoencoder trained in fp32 and with AMP:

# %%
epochs = genlab.fast_or(2, 6)


def ae_run(**kw):
    torch.manual_seed(0)
    task = AutoencoderTask(models.build("conv_ae"), lr=2e-3)
    return fit(task, x_train, epochs, batch_size=64, seed=0, progress=False, **kw)


h_fp32 = ae_run()
h_amp = ae_run(amp=True)
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.plot(h_fp32.steps["loss"], label="fp32")
ax.plot(h_amp.steps["loss"], label="AMP (bf16 here)", alpha=0.8)
ax.set_xlabel("step")
ax.set_ylabel("BCE per image")
ax.legend()
plt.show()
print(f"last epoch: fp32 {h_fp32['loss'][-1]:.2f}, AMP {h_amp['loss'][-1]:.2f} nats per image")

# %% [markdown]
# The curves lie on top of each other: rounding to 3 digits in the forward pass does not
# change what is learned. (On a CPU, bf16 is often *slower* than fp32, because most CPUs
# have no fast bf16 units; on GPUs with bf16 tensor cores it is expected to be a speed-up.)
#
# ## 3. channels_last
#
# A batch of images `(N, C, H, W)` is usually stored *channels first* (NCHW): all of
# channel 0, then all of channel 1. Tensor cores read convolutions fastest when the
# channels of one pixel sit together: **channels_last** (NHWC). The shape does not change,
# only the **strides** (how far to step in memory along each dimension):

# %%
t = torch.zeros(2, 3, 4, 5)
print("NCHW strides", t.stride())
print("NHWC strides", t.contiguous(memory_format=torch.channels_last).stride(), "(channel stride 1)")

# %% [markdown]
# `fit(..., channels_last=True)` converts the conv model and every batch. Measuring it
# honestly means: the same work both ways, a **warm-up** first (the first calls pay for
# memory allocation and kernel selection), several repeats, and on a GPU
# `torch.cuda.synchronize()` before reading the clock, because GPU calls return before
# the work is done.

# %%
def time_per_call(fn, warmup: int = 2, repeat: int = 5) -> float:
    """Best seconds per call of ``fn()`` after ``warmup`` untimed calls (synchronised on CUDA).

    The minimum, as ``timeit`` reports: other programs on the machine only ever add time.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if GPU:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if GPU:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times)


conv = models.build("conv_repair").to(device)
xb = x_train[:64].to(device)
mb = torch.zeros_like(xb[:, :1])
with torch.no_grad():
    t_nchw = time_per_call(lambda: conv(xb, mb), warmup=1, repeat=3)
    conv_cl = conv.to(memory_format=torch.channels_last)
    xb_cl, mb_cl = (t.contiguous(memory_format=torch.channels_last) for t in (xb, mb))
    t_nhwc = time_per_call(lambda: conv_cl(xb_cl, mb_cl), warmup=1, repeat=3)
print(f"conv repairer forward, 64 digits on {device}: NCHW {1e3 * t_nchw:.1f} ms, NHWC {1e3 * t_nhwc:.1f} ms")

# %% [markdown]
# On a CPU the two are close (and either may win); on a GPU with tensor cores, channels_last
# plus AMP is where convolutions get fast.
#
# ## 4. Getting batches to the device: workers and pinned memory
#
# A `DataLoader` with `num_workers > 0` prepares batches in other processes, which helps
# when each item needs work (decoding a JPEG, augmenting). Our datasets are small tensors
# already in memory, so indexing them is cheaper than handing them between processes.
# `genlab.data.make_loader` picks the settings per device; `genlab.data.batches` is plain
# indexing. One epoch of each, after a warm-up epoch:

# %%
def epoch_time(loader) -> float:
    def one_epoch():
        for batch in loader:
            (batch[0] if isinstance(batch, (tuple, list)) else batch).to(device, non_blocking=True)
    return time_per_call(one_epoch, warmup=1, repeat=5)


loaders = {"data.batches (indexing)": data.batches(x_train, y_train, 64),
           "make_loader, 0 workers": data.make_loader(x_train, y_train, 64, num_workers=0)}
if not genlab.config.is_fast():  # starting worker processes costs a second or two
    loaders["make_loader, 2 workers"] = data.make_loader(x_train, y_train, 64, num_workers=2)
times = {name: epoch_time(loader) for name, loader in loaders.items()}
for name, seconds in times.items():
    print(f"{name:26s} {len(x_train) / seconds:10,.0f} images/s")

# %% [markdown]
# On a GPU, `make_loader` also sets `pin_memory=True`: batches are copied into page-locked
# host memory, from which the GPU can pull them by DMA while it computes. Then
# `x.to(device, non_blocking=True)` returns at once and the copy overlaps the previous
# step. Without pinned memory `non_blocking` silently does nothing. (`fit` pins in-memory
# datasets itself when it trains on CUDA.)
#
# ## 5. Throughput, the number to watch
#
# `fit` times every epoch (synchronising on CUDA before and after) and records
# **images per second** in the history. The first epoch is slower: it includes the
# warm-up. Compare settings by their steady-state throughput:

# %%
settings = {"fp32": {}, "AMP": {"amp": True}, "channels_last": {"channels_last": True}}
rates = {}
for name, kw in settings.items():
    torch.manual_seed(0)
    task = AutoencoderTask(models.build("conv_ae"), lr=2e-3)
    hist = fit(task, x_train, genlab.fast_or(2, 3), batch_size=64, progress=False, **kw)
    rates[name] = hist["images_per_s"][-1]  # the last epoch: warm-up excluded
    print(f"{name:14s} epochs: {[f'{r:,.0f}' for r in hist['images_per_s']]} images/s")

fig, ax = plt.subplots(figsize=(5, 2.4))
ax.barh(list(rates), list(rates.values()), color=["tab:gray", "tab:blue", "tab:green"])
ax.set_xlabel(f"images/s on {device} (last epoch)")
plt.show()

# %% [markdown]
# On this CPU the differences are small or negative. What a GPU gives, this course has not
# measured yet (it was written on CPUs): we expect AMP with channels_last to speed up a
# conv model's training on a GPU with tensor cores, because those units multiply 16-bit
# numbers several times faster than 32-bit ones and NHWC is the layout their convolution
# kernels read, and we expect the GPU itself to beat a laptop CPU by a wide margin once the
# batches are large enough to fill it (on 16x16 digits in batches of 64 much of the time
# goes to launching small kernels, so the gain there may be modest). How large either
# factor is depends on the GPU, the model and the batch size: `bench/gpu_check.py` in the
# repository measures this table on a GPU in one run; run it before you quote a number.
#
# ## 6. Checkpoints and resume
#
# A checkpoint is everything training needs to continue as if nothing happened: the
# model's weights, the **optimiser's state** (Adam's running moments), the GradScaler's
# scale, the epoch, and **every random generator's state** (the shuffle order and the
# noise of the next epoch). `fit(..., checkpoint_dir=...)` writes one after every epoch,
# **atomically**: into a temporary file first, then renamed over the old one, so a crash
# in the middle of a write never leaves a half file. Loading uses
# `torch.load(weights_only=True)`, which refuses to execute code hidden in a file.
#
# The proof that nothing is missing: 2 epochs, a "disconnect" (a brand-new task with other
# weights), resume to 4, compared with 4 epochs in one go.

# %%
def fresh_task(seed: int = 0) -> AutoencoderTask:
    torch.manual_seed(seed)
    return AutoencoderTask(models.build("conv_ae"), lr=2e-3, noise_sigma=0.2)  # noise: RNG matters


kw = dict(batch_size=64, seed=1, progress=False)
folder = Path(tempfile.mkdtemp(prefix="genlab07-"))
straight = fresh_task()
h_straight = fit(straight, x_train, 4, **kw)
fit(fresh_task(), x_train, 2, checkpoint_dir=folder, **kw)       # session 1 ... then the runtime dies
resumed = fresh_task(seed=123)                                     # session 2: other weights, other RNG
h_resumed = fit(resumed, x_train, 4, checkpoint_dir=folder, resume=True, **kw)
diff = max((a - b).abs().max().item() for a, b in
           zip(straight.model.state_dict().values(), resumed.model.state_dict().values(), strict=True))
print(f"epochs in the resumed history: {h_resumed['epoch']}; max weight difference: {diff}")
plot.plot_history({"4 epochs at once": h_straight["loss"], "2 + resume 2": h_resumed["loss"]},
                  title="exact resume: the curves coincide");

# %% [markdown]
# ### On Colab: checkpoints on Google Drive
#
# A Colab runtime is recycled after an idle period or a few hours, and its disk with it.
# Write checkpoints to Drive, and rerun the same cell after reconnecting:
#
# ```python
# from genlab import colab
# ckpt = colab.checkpoint_dir("vae-digits", drive=True)   # mounts Drive once (a permission prompt)
# history = colab.resume_or_start(task, (x, y), epochs=30, checkpoint_dir=ckpt, amp=True)
# ```
#
# `resume_or_start` says whether it resumed (and how many epochs are left) or started
# fresh, and trains only what is missing. Drive is mounted only when you ask for it, and
# only on Colab; elsewhere the same call explains itself:

# %%
print("local folder:", colab.checkpoint_dir("vae-digits", root=folder))
try:
    colab.checkpoint_dir("vae-digits", drive=True)
except colab.ColabError as err:
    print("drive=True here:", err)

# %% [markdown]
# ## 7. torch.compile
#
# `torch.compile(model)` traces the model into a graph and generates fused kernels for it
# (several elementwise operations become one pass over memory). The first call pays for the
# compilation; later calls can be faster, and fused kernels are expected to help most on
# GPUs, where moving memory is the bottleneck of small elementwise operations. It needs a C
# compiler and a supported platform, so `fit(..., compile=True)` falls back to eager mode
# with a warning where it cannot compile. The measurement below runs on a GPU; on a CPU it
# is opt-in, because compiling is slow on a small shared machine and this course has not
# measured what it saves there: set `try_compile = True` and the cell prints both timings.

# %%
# Compiling is slow on a small CPU; opt in below to time it here.
try_compile = GPU and not genlab.config.is_fast()  # set to True to try it on this CPU
if not try_compile:
    print("torch.compile demo skipped here (no GPU, or fast mode): set try_compile = True to time "
          "the first (compiling) call against eager and compiled calls")
else:
    small = models.build("conv_ae").to(device).eval()
    xb = x_train[:128].to(device)
    try:
        compiled = torch.compile(small)
        t0 = time.perf_counter()
        with torch.no_grad():
            compiled(xb)
        first = time.perf_counter() - t0
        with torch.no_grad():
            t_eager = time_per_call(lambda: small(xb))
            t_comp = time_per_call(lambda: compiled(xb))
        print(f"first compiled call {first:.1f} s; then eager {1e3 * t_eager:.2f} ms vs compiled "
              f"{1e3 * t_comp:.2f} ms per batch")
    except Exception as exc:  # no compiler, unsupported Python/platform
        print(f"torch.compile is not usable here ({type(exc).__name__}); fit(compile=True) would train eagerly")

# %% [markdown]
# ## 8. Several GPUs: DistributedDataParallel with torchrun
#
# With $N$ GPUs, **data parallelism** runs $N$ processes, each with a full copy of the model
# and $1/N$ of every global batch. After each backward pass, DDP **averages the gradients**
# across processes (an all-reduce, overlapped with the backward pass), so every copy takes
# the same step, and the result matches one process on the global batch (up to
# floating-point summation order, and BatchNorm, whose statistics stay per-process).
#
# `torchrun` starts the processes and tells each its `RANK` and `WORLD_SIZE`; `fit` notices
# and sets up DDP by itself (NCCL between GPUs, gloo on CPUs), shards each global batch,
# and lets rank 0 alone write checkpoints and logs:
#
# ```bash
# torchrun --nproc_per_node=2 -m genlab.train_cli train conv_vae --data digits --epochs 10 --out runs/ddp
# ```
#
# The same command runs on a laptop with two CPU processes (gloo), which is how the course's
# tests check that two processes equal one. In full mode this notebook runs it for one
# short epoch:

# %%
cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "genlab.train_cli",
       "train", "conv_ae", "--data", "digits", "--limit", "256", "--epochs", "1", "--device", "cpu",
       "--no-progress", "--out", str(folder / "ddp")]
print("$ torchrun", " ".join(cmd[3:]))
if genlab.config.is_fast():
    print("fast mode: not run (two processes take ~20 s to start and train)")
else:
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        print((run.stdout + run.stderr).strip()[-1500:])
    except subprocess.TimeoutExpired:
        print("did not finish in 180 s on this machine")

# %% [markdown]
# ## What a GPU changes, and what to try next
#
# * On a GPU every cell above runs as is: `session.device` becomes `cuda`, `fit` pins memory,
#   autocasts (bf16 or fp16 + GradScaler), and the throughput bars grow by one or two orders
#   of magnitude. The loss curves do not change.
# * On Colab: Runtime > Change runtime type > GPU, then rerun. Try `amp=True,
#   channels_last=True` on the conv VAE with a batch of 256 and watch `images_per_s`.
# * Find the largest batch that fits: double it until `torch.cuda.OutOfMemoryError`, and
#   watch `max_memory_allocated`.
# * Lab 07: write the device-agnostic AMP epoch and an atomic checkpoint with exact resume.

# %% [markdown]
# ## References
#
# * Micikevicius, P. et al. (2018). Mixed precision training. *ICLR*.
# * Kalamkar, D. et al. (2019). A study of BFLOAT16 for deep learning training. arXiv:1905.12322.
# * Li, S. et al. (2020). PyTorch distributed: experiences on accelerating data parallel training. *VLDB*.
# * Ansel, J. et al. (2024). PyTorch 2: faster machine learning through dynamic Python bytecode transformation and graph compilation. *ASPLOS*.
