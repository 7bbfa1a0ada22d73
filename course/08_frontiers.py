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
# # 08 · Frontiers: pix2pix, diffusion, and from labels to text
#
# > Conditional restoration with a U-Net and a PatchGAN, a tiny denoising diffusion model
# > on digits, label-to-image as the smallest cross-modal model, and the ethics of images
# > that a model made up.
#
# ## Objectives
#
# After this notebook you can:
#
# * train a pix2pix restorer (U-Net generator, PatchGAN discriminator);
# * train a tiny denoising diffusion model and sample from it, with and without a label;
# * relate labels to text conditioning in text-to-image systems;
# * discuss the ethics of generated and restored images.
#
# ## Prerequisites
#
# Lectures 04-06.
#
# ## Time
#
# Full mode (the default) has not been timed on a 2-core CPU yet (`make results` records it
# and this line will quote it); fast mode (`GENLAB_FAST=1`) took about 8.5<!--r:time.fast.course.08_frontiers--> s. A GPU run has not been measured.
#
# ---
#
# The course built autoencoders, VAEs, GANs and restorers one at a time. Today's image
# generators combine the same ideas: a **U-Net** that keeps detail, an **adversarial** or a
# **denoising** objective that makes outputs sharp, and a **condition** (a masked image, a
# label, a sentence) that says what to make. We build a small version of each on digits,
# in minutes on a CPU.

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

import matplotlib.pyplot as plt
import torch

import genlab
from genlab import data, masks, metrics, models, plot
from genlab.models import DDPM, DiffusionConfig, NoiseSchedule, Pix2Pix, UNetConfig, beta_schedule
from genlab.train import DiffusionTask, GANTask, Pix2PixTask, RepairTask, VAETask, fit

session = genlab.start(seed=0)
device = session.device
x_train, y_train = data.load("digits", "train", 16, limit=genlab.fast_or(256, None))
x_test, y_test = data.load("digits", "test", 16, limit=genlab.fast_or(32, 256))
print(f"{len(x_train)} training and {len(x_test)} test digits, 16x16")

# %% [markdown]
# ## 1. pix2pix: conditional restoration with a U-Net and a PatchGAN
#
# Lecture 05's repairer learned $\hat x = G(x \odot (1-m), m)$ by minimising the error in
# the hole. Squared or absolute error has a known weakness: when several fillings are
# plausible (is the missing stroke a 3 or an 8?), the loss-minimising answer is their
# **average**, a blur. **pix2pix** (Isola et al., 2017) adds a discriminator that sees the
# condition $c = [x \odot (1-m), m]$ and an image, and learns to tell real completions from
# generated ones:
#
# $$\mathcal L_D = -\mathbb E\,\log\sigma(D(c, x)) - \mathbb E\,\log\big(1-\sigma(D(c, G(c)))\big),\qquad
# \mathcal L_G = -\mathbb E\,\log\sigma(D(c, G(c))) + \lambda\,\frac{\sum m\,|G(c)-x|}{\sum m}.$$
#
# Two design choices make it work on images:
#
# * **U-Net generator** (`genlab.models.unet.UNet`): an encoder-decoder whose skip
#   connections hand full-resolution features to the decoder, so the known pixels' edges
#   need not squeeze through the bottleneck.
# * **PatchGAN discriminator** (`PatchDiscriminator`): it returns a *map* of logits, one per
#   overlapping patch, so it judges local texture and sharpness everywhere (and is small).
#
# With $\lambda = 100$ the L1 term keeps the filling faithful; the adversarial term adds
# the sharpness. Both models below see the same random 8x8 block holes.

# %%
hole = dict(masks=("block",), mask_params={"block": {"hole": 8}})
epochs_restore = genlab.fast_or(1, 12)

torch.manual_seed(0)
p2p = Pix2PixTask(Pix2Pix(UNetConfig(width=16)), lr=2e-4, l1_weight=100.0, **hole)
h_p2p = fit(p2p, x_train, epochs_restore, batch_size=64, seed=0)

torch.manual_seed(0)
plain = RepairTask(models.build("conv_repair"), lr=2e-3, masks=("block",),  # 8x8: half the side
                   loss="masked_l1")
h_plain = fit(plain, x_train, epochs_restore, batch_size=64, seed=0)
plot.plot_history({"pix2pix: hole L1": h_p2p["l1"], "conv repairer: hole L1": h_plain["loss"]},
                  title="training: hole L1 per epoch");

# %%
g = torch.Generator().manual_seed(1)
m_test = masks.block_mask(len(x_test), 16, 8, generator=g)
x_in = masks.apply_mask(x_test, m_test)
with torch.no_grad():
    p2p.model.eval()
    plain.model.eval()
    out = {"conv repairer (L1)": plain.model(x_in.to(device), m_test.to(device)).cpu(),
           "pix2pix (U-Net + PatchGAN)": p2p.model(x_in.to(device), m_test.to(device)).cpu()}
plot.show_rows({"original": x_test, "masked": masks.apply_mask(x_test, m_test, fill=0.5), **out}, n=12,
               title="8x8 block holes on test digits");
for name, x_hat in out.items():
    print(f"{name:28s} hole PSNR {torch.nanmean(metrics.masked_psnr(x_hat, x_test, m_test)).item():5.2f} dB")

# %% [markdown]
# Read the pictures before the numbers. PSNR rewards the *average* filling, so an L1 model
# often scores as well as or better than pix2pix, while pix2pix's strokes are crisper and
# more committed (sometimes to the wrong digit). That is the trade every modern restorer
# makes: **sharp and plausible** versus **faithful on average**. Remember it in section 4.
#
# ## 2. A tiny denoising diffusion model
#
# A GAN learns to make an image in one step and needs an adversary to tell it what
# "realistic" means. A **diffusion model** (Sohl-Dickstein et al. 2015; Ho et al. 2020)
# learns the opposite of a process that is easy: adding noise.
#
# **Forward process.** Add a little Gaussian noise $T$ times:
# $q(x_t \mid x_{t-1}) = \mathcal N(\sqrt{1-\beta_t}\,x_{t-1}, \beta_t I)$. Composing Gaussians,
# with $\alpha_t = 1-\beta_t$ and $\bar\alpha_t = \prod_{s \le t}\alpha_s$,
#
# $$q(x_t \mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t) I\big),\qquad
# x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon .$$
#
# Check it: the mean of a pixel after $t$ one-step updates is multiplied by
# $\prod\sqrt{\alpha_s} = \sqrt{\bar\alpha_t}$; its variance follows $v \leftarrow \alpha_s v +
# \beta_s$, whose solution from $v = 0$ is $1 - \bar\alpha_t$. Monte Carlo agrees:

# %%
T = genlab.fast_or(50, 200)
sched = NoiseSchedule(beta_schedule("cosine", T))
gen = torch.Generator().manual_seed(0)
x0 = torch.full((20000, 1), 0.6)
x = x0.clone()
t_stop = T // 2
for i in range(t_stop + 1):
    x = sched.q_step(x, torch.full((len(x),), i), torch.randn(x.shape, generator=gen))
ab = sched.alpha_bar[t_stop].item()
print(f"after {t_stop + 1} steps: mean {x.mean():.4f} (closed form {math.sqrt(ab) * 0.6:.4f}), "
      f"variance {x.var():.4f} (closed form {1 - ab:.4f})")

# %% [markdown]
# The schedule decides how fast the signal fades. Ho et al.'s *linear* $\beta_t$ destroys
# small images early; the *cosine* schedule (Nichol & Dhariwal 2021) fades them evenly.
# Digits in $[-1, 1]$ (the process's scale) along $t$:

# %%
fig, ax = plt.subplots(figsize=(5, 2.6))
for kind in ("linear", "cosine"):
    ab_curve = torch.cumprod(1 - beta_schedule(kind, T), 0)
    ax.plot(ab_curve.sqrt(), label=f"{kind}: signal $\\sqrt{{\\bar\\alpha_t}}$")
ax.set_xlabel("t")
ax.legend()
plt.show()

steps = torch.linspace(0, T - 1, 8).round().long()
x0_img = 2 * x_test[:6] - 1
rows = {}
for i in steps.tolist():
    x_t = sched.q_sample(x0_img, torch.full((6,), i), torch.randn(x0_img.shape, generator=gen))
    rows[f"t={i}"] = ((x_t + 1) / 2).clamp(0, 1)
plot.show_rows(rows, n=6, title="q(x_t | x_0): each row is one draw at step t (cosine schedule)");

# %% [markdown]
# **Learning to denoise.** A network $\epsilon_\theta(x_t, t)$ (here `TimeUNet`: a small
# U-Net told the step $t$ through a sinusoidal embedding) predicts the noise that was
# added. The loss is plain regression at a random step:
#
# $$\mathcal L = \mathbb E_{t, x_0, \epsilon}\,\big\lVert \epsilon - \epsilon_\theta(\sqrt{\bar\alpha_t}x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon,\ t)\big\rVert^2 .$$
#
# No adversary, no mode collapse: every training step is a supervised problem. We train a
# class-conditional model (the label is added to the time embedding, and dropped 10% of
# the time so the same model also samples without a label) with `genlab.train.fit`.

# %%
torch.manual_seed(0)
ddpm = DDPM(DiffusionConfig(timesteps=T, width=24, n_classes=10))
diffusion = DiffusionTask(ddpm, lr=2e-3)
h_diff = fit(diffusion, (x_train, y_train), genlab.fast_or(2, 20), batch_size=64, seed=0)
plot.plot_history(h_diff, keys=["loss"], title="noise-prediction loss");

# %% [markdown]
# **Ancestral sampling.** Start from pure noise $x_T \sim \mathcal N(0, I)$ and walk back
# with the Gaussian posterior $q(x_{t-1} \mid x_t, x_0)$, using the network's guess
# $\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\epsilon_\theta)/\sqrt{\bar\alpha_t}$ in place of
# the unknown $x_0$:
#
# $$x_{t-1} = \tilde\mu_t(x_t, \hat x_0) + \sqrt{\tilde\beta_t}\,z,\qquad
# \tilde\mu_t = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\epsilon_\theta\Big),\quad
# \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t .$$
#
# ($T$ network calls per sample: the price of diffusion. The unit tests check this sampler
# with the exact noise predictor of known data and get the data distribution back.)

# %%
ddpm.eval()
x_final, snaps = ddpm.p_sample_loop((8, 1, 16, 16), generator=torch.Generator().manual_seed(2), keep=7)
plot.show_rows({f"step {k}": ((s + 1) / 2).clamp(0, 1) for k, s in enumerate(snaps)}, n=8,
               title="ancestral sampling: from noise (top) to digits (bottom), no label");

# %% [markdown]
# ### Diffusion beside the VAE and the GAN
#
# Samples of the course's three generative models on the same digits: the conv VAE
# (lecture 02) and the DCGAN (lecture 04) from the shipped pretrained weights when this
# checkout has them, otherwise trained here for a few epochs.

# %%
def pretrained_or_train(name: str, train):
    try:
        from genlab.weights import load_pretrained

        return load_pretrained(name).to(device).eval(), "pretrained"
    except Exception as exc:  # no shipped weights in this checkout
        return train().to(device).eval(), f"trained here ({type(exc).__name__}: no shipped weights)"


def train_vae():
    torch.manual_seed(0)
    task = VAETask(models.build("conv_vae", latent_dim=8), lr=2e-3)
    fit(task, x_train, genlab.fast_or(1, 15), batch_size=64, seed=0)
    return task.model


def train_gan():
    torch.manual_seed(0)
    task = GANTask(models.build("dcgan"), lr=2e-4)
    fit(task, x_train, genlab.fast_or(1, 15), batch_size=64, seed=0)
    return task.model


vae, vae_from = pretrained_or_train("conv_vae", train_vae)
gan, gan_from = pretrained_or_train("dcgan", train_gan)
print(f"VAE: {vae_from}; DCGAN: {gan_from}")
n = 12
g = torch.Generator().manual_seed(3)
with torch.no_grad():
    samples = {
        "real (test)": x_test[:n],
        "VAE": vae.sample(n, generator=g).cpu(),
        "DCGAN": gan.generator.sample(n, generator=g).cpu(),
        "diffusion": ddpm.sample(n, generator=g).cpu(),
    }
plot.show_rows(samples, n=n, title="samples: VAE (blurry, smooth), GAN (sharp, one step), diffusion (T steps)");

# %% [markdown]
# Typical on digits: the VAE's samples are smooth and a little blurry (its Gaussian/Bernoulli
# likelihood averages), the GAN's are sharp but may repeat a few styles, and diffusion's
# are sharp *and* varied once trained long enough, at the cost of $T$ network calls per
# sample. With fast mode's few epochs every row is rough; full mode (or a GPU) shows the
# difference.
#
# ## 3. From a label to an image, and from text to an image
#
# The conditional diffusion model is the smallest **cross-modal** generator: the input is
# a symbol (a class label), the output an image. Asking for each digit:

# %%
per_class = genlab.fast_or(4, 8)
labels = torch.arange(10).repeat_interleave(per_class)
with torch.no_grad():
    by_label = ddpm.sample(len(labels), y=labels, generator=torch.Generator().manual_seed(4)).cpu()
plot.show_rows({f"label {k}": by_label[labels == k] for k in range(10)}, n=per_class,
               title="class-conditional diffusion: one row per requested label");

# %% [markdown]
# Text-to-image systems replace the 10-entry label embedding with a **text encoder**: a
# sentence becomes a sequence of vectors (from CLIP or a T5 language model) that the
# denoising U-Net (or transformer) attends to at every step. The other pieces are the ones
# above, scaled up:
#
# * **DALL-E** (2021) compressed images into discrete tokens with a VAE and generated them
#   after the text tokens with an autoregressive transformer; **DALL-E 2** (2022) mapped
#   text to a CLIP image embedding and *decoded* it with a diffusion model; **Imagen**
#   conditions diffusion on a T5 language model's encoding of the text, **Stable Diffusion**
#   runs diffusion in a VAE's latent space (so each step is cheap) conditioned on a CLIP text
#   encoder, and **DALL-E 3** was trained on detailed synthetic captions.
# * **Classifier-free guidance**: our model was trained with labels dropped 10% of the time,
#   so it knows both $\epsilon_\theta(x_t, y)$ and $\epsilon_\theta(x_t)$; sampling with
#   $(1+w)\,\epsilon_\theta(x_t, y) - w\,\epsilon_\theta(x_t)$ exaggerates what the condition
#   changes, trading variety for fidelity to the prompt. Text-to-image diffusion systems use it
#   widely (Imagen, DALL-E 2 and Stable Diffusion among them; Ho & Salimans, 2021).
# * Restoration is conditioning too: inpainting with a diffusion model conditions on the
#   known pixels, which is pix2pix's task with a diffusion model as the generator.
#
# ## 4. Ethics of generated and restored images
#
# * **Restoration invents detail.** The pix2pix filling above is a plausible digit, not the
#   one that was there. For a family photo that may be fine; for a medical scan, a
#   satellite image or evidence in court it is a fabrication that looks like a measurement.
#   Report what was restored (a mask, a caption), and never present a filled hole as observed.
# * **Provenance.** Generated images are indistinguishable from photographs for most viewers.
#   Content credentials (C2PA metadata) and invisible watermarks say where an image came
#   from; they help only when they are kept and checked, so keep them in your pipelines.
# * **Consent and likeness.** A model trained on people's photos can reproduce their faces,
#   and restoration or "enhancement" can be used to undress, de-blur or identify people who
#   did not agree to it. Ask whose images the training data holds and whether they agreed,
#   and do not build tools whose main use is harming someone.
# * **Bias of the data.** A generator samples its training distribution; what is rare there
#   (people, styles, places) is rarer or distorted in its outputs, and "restoration" pulls
#   unusual inputs towards the typical.
#
# ## What a GPU changes, and what to try next
#
# * On a GPU, `fit(..., amp=True, channels_last=True)` trains these models in seconds per
#   epoch; try `T=1000`, `width=64` and 100 epochs for clean diffusion samples.
# * Set `l1_weight=0` (adversarial only) and `l1_weight=1000` in pix2pix: what happens to
#   the fillings and the hole PSNR?
# * Add classifier-free guidance to `DDPM.p_sample_loop` (two network calls per step) and
#   sample each digit with $w = 0, 1, 3$.
# * Compare the samples with `genlab.metrics.classifier_frechet` against the test digits.

# %% [markdown]
# ## References
#
# * Isola, P., Zhu, J.-Y., Zhou, T. & Efros, A. A. (2017). Image-to-image translation with conditional adversarial networks. *CVPR*.
# * Ronneberger, O., Fischer, P. & Brox, T. (2015). U-Net: convolutional networks for biomedical image segmentation. *MICCAI*.
# * Sohl-Dickstein, J., Weiss, E., Maheswaranathan, N. & Ganguli, S. (2015). Deep unsupervised learning using nonequilibrium thermodynamics. *ICML*.
# * Ho, J., Jain, A. & Abbeel, P. (2020). Denoising diffusion probabilistic models. *NeurIPS*.
# * Nichol, A. & Dhariwal, P. (2021). Improved denoising diffusion probabilistic models. *ICML*.
# * Ho, J. & Salimans, T. (2021). Classifier-free diffusion guidance. *NeurIPS Workshop on Deep Generative Models*.
# * Ramesh, A. et al. (2021). Zero-shot text-to-image generation. *ICML* (DALL-E); Ramesh, A. et al. (2022). Hierarchical text-conditional image generation with CLIP latents. arXiv:2204.06125 (DALL-E 2).
# * Saharia, C. et al. (2022). Photorealistic text-to-image diffusion models with deep language understanding. *NeurIPS* (Imagen); Rombach, R. et al. (2022). High-resolution image synthesis with latent diffusion models. *CVPR* (Stable Diffusion).
