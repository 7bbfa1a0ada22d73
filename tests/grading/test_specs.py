"""The real lab specs: correct implementations get every point, classic mistakes lose only their item.

Graded in-process with the same drivers and judges as the sandbox
(:func:`genlab.grading.grader.grade_functions`), with independent
implementations written here (never genlab's, which the specs use as reference).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from genlab.grading.grader import grade_functions, self_check
from genlab.grading.notebook import code_cells, find_lab, read_notebook, repo_root
from genlab.grading.sandbox import Limits
from genlab.grading.specs import GRADED_LABS, UNGRADED_LABS, load_spec

# --------------------------------------------------------------------------- correct implementations


def reparameterize(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def kl_divergence(mu, logvar):
    return -0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp(), dim=1)


def elbo_loss(x, x_logits, mu, logvar):
    rec = F.binary_cross_entropy_with_logits(x_logits, x, reduction="sum") / x.shape[0]
    return rec + kl_divergence(mu, logvar).mean()


def discriminator_loss(d_real_logits, d_fake_logits):
    return (F.binary_cross_entropy_with_logits(d_real_logits, torch.ones_like(d_real_logits))
            + F.binary_cross_entropy_with_logits(d_fake_logits, torch.zeros_like(d_fake_logits)))


def generator_loss(d_fake_logits, non_saturating=True):
    if non_saturating:
        return F.binary_cross_entropy_with_logits(d_fake_logits, torch.ones_like(d_fake_logits))
    return -F.binary_cross_entropy_with_logits(d_fake_logits, torch.zeros_like(d_fake_logits))


def optimal_discriminator(p_data, p_g):
    return p_data / (p_data + p_g)


def block_mask(batch, size, hole, generator=None):
    mask = torch.zeros(batch, 1, size, size)
    top = torch.randint(0, size - hole + 1, (batch,), generator=generator)
    left = torch.randint(0, size - hole + 1, (batch,), generator=generator)
    for i in range(batch):
        mask[i, 0, top[i]:top[i] + hole, left[i]:left[i] + hole] = 1
    return mask


def apply_mask(x, mask, fill=0.0):
    return torch.where(mask.bool(), torch.full_like(x, fill), x)


def masked_mse(x_hat, x, mask):
    return ((x_hat - x) ** 2)[mask.expand_as(x).bool()].mean()


def composite(x_hat, x, mask):
    return torch.where(mask.bool(), x_hat, x)


def rows_to_sequences(feat):
    b, c, h, w = feat.shape
    return feat.permute(0, 2, 3, 1).reshape(b * h, w, c)


def sequences_to_rows(seq, batch, height):
    return seq.reshape(batch, height, seq.shape[1], seq.shape[2]).permute(0, 3, 1, 2)


def add_noise(x, sigma):
    return torch.clamp(x + sigma * torch.randn_like(x), min=0.0, max=1.0)


class ConvEncoder(nn.Module):
    def __init__(self, latent_dim: int = 8):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                                 nn.Linear(8 * 8 * 8, latent_dim))

    def forward(self, x):
        return self.net(x)


class ConvDecoder(nn.Module):
    def __init__(self, latent_dim: int = 8):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(nn.Linear(latent_dim, 8 * 8 * 8), nn.ReLU(), nn.Unflatten(1, (8, 8, 8)),
                                 nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1))

    def forward(self, z):
        return self.net(z)


# lab 04: DCGAN blocks and the training step


class Generator(nn.Module):
    def __init__(self, z_dim: int = 32, width: int = 32):
        super().__init__()
        self.z_dim = z_dim
        self.fc = nn.Linear(z_dim, width * 4 * 4)
        self.up = nn.Sequential(nn.ReLU(), nn.Upsample(scale_factor=2), nn.Conv2d(width, width, 3, padding=1),
                                nn.ReLU(), nn.ConvTranspose2d(width, 1, 4, 2, 1))
        self.width = width

    def forward(self, z):
        return torch.sigmoid(self.up(self.fc(z).reshape(len(z), self.width, 4, 4)))


class Discriminator(nn.Module):
    def __init__(self, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(width, width, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(),
                                 nn.Linear(width * 16, 1))

    def forward(self, x):
        return self.net(x).squeeze(-1)


def gan_training_step(G, D, opt_g, opt_d, real, z):
    opt_d.zero_grad()
    fake = G(z)
    loss_d = discriminator_loss(D(real), D(fake.detach()))
    loss_d.backward()
    opt_d.step()
    opt_g.zero_grad()
    loss_g = generator_loss(D(fake))
    loss_g.backward()
    opt_g.step()
    return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}


# lab 06: the CRNN forward pass (layers as in the lab)


class CRNN(nn.Module):
    def __init__(self, channels: int = 1, width: int = 32, hidden: int = 64):
        super().__init__()
        w = width
        self.encoder = nn.Sequential(nn.Conv2d(channels + 1, w, 3, padding=1), nn.ReLU(),
                                     nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.ReLU())
        self.row_rnn = nn.GRU(2 * w, hidden, batch_first=True, bidirectional=True)
        self.row_proj = nn.Linear(2 * hidden, 2 * w)
        self.col_rnn = nn.GRU(2 * w, hidden, batch_first=True, bidirectional=True)
        self.col_proj = nn.Linear(2 * hidden, 2 * w)
        self.decoder = nn.Sequential(nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.ReLU(),
                                     nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, channels, 1))

    def _sweep(self, feat, rnn, proj):
        b, c, h, w = feat.shape
        out, _ = rnn(rows_to_sequences(feat))
        return feat + sequences_to_rows(proj(out), b, h)

    def forward(self, x_masked, mask):
        feat = self.encoder(torch.cat([x_masked, mask], 1))
        feat = self._sweep(feat, self.row_rnn, self.row_proj)
        feat = self._sweep(feat.transpose(2, 3), self.col_rnn, self.col_proj).transpose(2, 3)
        return composite(torch.sigmoid(self.decoder(feat)), x_masked, mask)


# lab 07: device-agnostic AMP loop, checkpoints


def autocast_settings(device, bf16_supported=None):
    kind = device.type if isinstance(device, torch.device) else str(device).split(":")[0]
    if kind == "cuda":
        bf16 = torch.cuda.is_bf16_supported() if bf16_supported is None else bf16_supported
        return True, (torch.bfloat16 if bf16 else torch.float16), not bf16
    return True, (torch.bfloat16 if kind == "cpu" else torch.float16), False


def train_epoch(model, batches, optimizer, scaler, device, amp):
    device = torch.device(device)
    model.to(device).train()
    _, dtype, _ = autocast_settings(device)
    losses, sizes = [], []
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        with torch.autocast(device.type, dtype=dtype, enabled=bool(amp)):
            out = model(x)
        loss = F.cross_entropy(out.float(), y)
        optimizer.zero_grad()
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        losses.append(loss.item())
        sizes.append(len(y))
    return sum(a * n for a, n in zip(losses, sizes, strict=True)) / sum(sizes)


def save_checkpoint(path, model, optimizer, scaler, epoch):
    import os
    import tempfile
    from pathlib import Path

    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="ckpt-tmp-")
    os.close(fd)
    try:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scaler": None if scaler is None else scaler.state_dict(), "epoch": epoch,
                    "rng": {"torch": torch.get_rng_state()}}, tmp)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load_checkpoint(path, model, optimizer, scaler):
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng"]["torch"])
    return int(state["epoch"])


# lab 09: the fixed functions


def fixed_generator_output(flat, channels, size):
    return flat.unflatten(1, (channels, size, size))


def fixed_discriminator_loss(d_real, d_fake):
    return discriminator_loss(d_real, d_fake)


def fixed_kl_divergence(mu, logvar):
    return kl_divergence(mu, logvar)


def fixed_row_rnn(rnn, feat):
    b, c, h, w = feat.shape
    out, _ = rnn(rows_to_sequences(feat))
    return sequences_to_rows(out, b, h)


def fixed_bce_loss(logits, targets):
    return F.binary_cross_entropy_with_logits(logits, targets)


def fixed_discriminator_update(generator, discriminator, opt_d, z, real):
    with torch.no_grad():
        fake = generator(z)
    loss = discriminator_loss(discriminator(real), discriminator(fake))
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss.detach()


def fixed_predict(model, x):
    mode = model.training
    model.eval()
    with torch.inference_mode():
        out = model(x)
    model.train(mode)
    return out.clone()


def fixed_ema_copy(model):
    import copy

    ema = copy.deepcopy(model).requires_grad_(False)
    return ema


CORRECT = {name: obj for name, obj in globals().items() if callable(obj) and not name.startswith("_")}

# --------------------------------------------------------------------------- classic mistakes, per item


class _MLPEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(256, 8))

    def forward(self, x):
        return self.net(x)


class _SmallDecoder(ConvDecoder):  # 8x8 output instead of 16x16
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 8 * 4 * 4), nn.Unflatten(1, (8, 4, 4)),
                                 nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1))


def _fixed_block(batch, size, hole, generator=None):
    m = torch.zeros(batch, 1, size, size)
    m[:, :, :hole, :hole] = 1
    return m


def _block_ignores_generator(batch, size, hole, generator=None):
    return block_mask(batch, size, hole, None)


def _block_spills(batch, size, hole, generator=None):  # corner drawn in [0, size): holes cut at the border
    m = torch.zeros(batch, 1, size, size)
    t = torch.randint(0, size, (batch, 2), generator=generator)
    for i in range(batch):
        m[i, 0, t[i, 0]:t[i, 0] + hole, t[i, 1]:t[i, 1] + hole] = 1
    return m


class _TanhGenerator(Generator):
    def forward(self, z):
        return torch.tanh(self.up(self.fc(z).reshape(len(z), self.width, 4, 4)))


class _IgnoresZDim(Generator):  # always builds for z_dim = 32
    def __init__(self, z_dim: int = 32, width: int = 32):
        super().__init__(32, width)


class _MLPGenerator(nn.Module):
    def __init__(self, z_dim: int = 32, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z_dim, 256), nn.Sigmoid())

    def forward(self, z):
        return self.net(z).view(-1, 1, 16, 16)


class _SigmoidDiscriminator(Discriminator):
    def forward(self, x):
        return torch.sigmoid(super().forward(x))


class _KeepdimDiscriminator(Discriminator):  # (B, 1) instead of (B,)
    def forward(self, x):
        return self.net(x)


def _step(G, D, opt_g, opt_d, real, z, *, swap=False, detach=True, saturating=False, old_d=False,
          g_update=True, d_sum=False):
    fake = G(z)
    d_fake_for_g = D(fake) if old_d else None
    r, f = D(real), D(fake.detach() if detach else fake)
    loss_d = discriminator_loss(f, r) if swap else discriminator_loss(r, f)
    if d_sum:
        loss_d = F.softplus(-r).sum() + F.softplus(f).sum()
    opt_d.zero_grad()
    loss_d.backward(retain_graph=not detach)
    opt_d.step()
    out = D(fake) if d_fake_for_g is None else d_fake_for_g
    loss_g = generator_loss(out, non_saturating=not saturating)
    if g_update:
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}


class _CRNNNoColumns(CRNN):
    def forward(self, x_masked, mask):
        feat = self._sweep(self.encoder(torch.cat([x_masked, mask], 1)), self.row_rnn, self.row_proj)
        return composite(torch.sigmoid(self.decoder(feat)), x_masked, mask)


class _CRNNNoComposite(CRNN):
    def forward(self, x_masked, mask):
        feat = self._sweep(self.encoder(torch.cat([x_masked, mask], 1)), self.row_rnn, self.row_proj)
        feat = self._sweep(feat.transpose(2, 3), self.col_rnn, self.col_proj).transpose(2, 3)
        return torch.sigmoid(self.decoder(feat))


class _CRNNNoSigmoid(CRNN):
    def forward(self, x_masked, mask):
        feat = self._sweep(self.encoder(torch.cat([x_masked, mask], 1)), self.row_rnn, self.row_proj)
        feat = self._sweep(feat.transpose(2, 3), self.col_rnn, self.col_proj).transpose(2, 3)
        return composite(self.decoder(feat) * 3, x_masked, mask)


class _CRNNNoTransposeBack(CRNN):  # right on square images only
    def forward(self, x_masked, mask):
        feat = self._sweep(self.encoder(torch.cat([x_masked, mask], 1)), self.row_rnn, self.row_proj)
        feat = self._sweep(feat.transpose(2, 3), self.col_rnn, self.col_proj)
        return composite(torch.sigmoid(self.decoder(feat)), x_masked, mask)


def _autocast_scaler_with_bf16(device, bf16_supported=None):
    enabled, dtype, _ = autocast_settings(device, bf16_supported)
    return enabled, dtype, torch.device(device).type == "cuda"


def _autocast_fp16_everywhere(device, bf16_supported=None):
    return True, torch.float16, torch.device(device).type == "cuda"


def _autocast_strings_only(device, bf16_supported=None):
    if device == "cuda":
        return autocast_settings("cuda", bf16_supported)
    return autocast_settings("cpu" if device == "cpu" else "mps")


def _epoch(model, batches, optimizer, scaler, device, amp, *, mean_of_means=False, no_train=False,
           ignore_scaler=False, scaler_no_step=False, ignore_amp=False):
    if not no_train:
        model.train()
    losses, sizes = [], []
    for x, y in batches:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(amp) and not ignore_amp):
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad()
        if scaler is None or ignore_scaler:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            if scaler_no_step:
                optimizer.step()
            else:
                scaler.step(optimizer)
            scaler.update()
        losses.append(loss.item())
        sizes.append(len(y))
    if mean_of_means:
        return sum(losses) / len(losses)
    return sum(a * n for a, n in zip(losses, sizes, strict=True)) / sum(sizes)


def _save_direct(path, model, optimizer, scaler, epoch):  # not atomic: a crash truncates the old file
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scaler": None if scaler is None else scaler.state_dict(), "epoch": epoch,
                "rng": {"torch": torch.get_rng_state()}}, path)


def _save_tmp_left_behind(path, model, optimizer, scaler, epoch):
    import os

    tmp = str(path) + ".tmp"
    _save_direct(tmp, model, optimizer, scaler, epoch)
    os.replace(tmp, path)


def _save_no_rng(path, model, optimizer, scaler, epoch):
    import os

    tmp = str(path) + ".tmp"
    try:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scaler": None if scaler is None else scaler.state_dict(), "epoch": epoch, "rng": {}}, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _save_no_optimizer(path, model, optimizer, scaler, epoch):
    import os

    tmp = str(path) + ".tmp"
    try:
        torch.save({"model": model.state_dict(), "optimizer": {}, "epoch": epoch,
                    "scaler": None if scaler is None else scaler.state_dict(),
                    "rng": {"torch": torch.get_rng_state()}}, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _save_scaler_always_none(path, model, optimizer, scaler, epoch):
    save_checkpoint(path, model, optimizer, None, epoch)


def _load(path, model, optimizer, scaler, *, rng=True, opt=True, sc=True, epoch_off=0):
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    if opt:
        optimizer.load_state_dict(state["optimizer"])
    if sc and scaler is not None:
        scaler.load_state_dict(state["scaler"])
    if rng:
        torch.set_rng_state(state["rng"]["torch"])
    return int(state["epoch"]) + epoch_off


def _update_no_detach(generator, discriminator, opt_d, z, real):
    fake = generator(z)
    loss = discriminator_loss(discriminator(real), discriminator(fake))
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss.detach()


def _update_loss_after(generator, discriminator, opt_d, z, real):
    fixed_discriminator_update(generator, discriminator, opt_d, z, real)
    with torch.no_grad():
        return discriminator_loss(discriminator(real), discriminator(generator(z)))


def _predict_no_eval(model, x):
    with torch.no_grad():
        return model(x)


def _predict_stays_eval(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)


def _predict_forces_train(model, x):
    out = fixed_predict(model, x)
    model.train()
    return out


def _predict_with_graph(model, x):
    was = model.training
    model.eval()
    out = model(x)
    model.train(was)
    return out


def _ema_same_object(model):
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _ema_fresh(model):
    ema = type(model)()
    return ema.requires_grad_(False)


def _ema_not_frozen(model):
    import copy

    return copy.deepcopy(model)


def _ema_shares(model):
    import copy

    ema = copy.deepcopy(model)
    for (_, p), (_, q) in zip(ema.named_parameters(), model.named_parameters(), strict=True):
        p.data = q.data
    return ema.requires_grad_(False)


WRONG = {
    "reparameterize": {
        "std taken as logvar": lambda mu, lv: mu + lv * torch.randn_like(mu),
        "variance used as std": lambda mu, lv: mu + lv.exp() * torch.randn_like(mu),
        "no noise": lambda mu, lv: mu + 0 * lv,
        "eps not standard": lambda mu, lv: mu + torch.exp(0.5 * lv) * torch.rand_like(mu),
    },
    "kl_divergence": {
        "wrong sign": lambda mu, lv: 0.5 * torch.sum(1 + lv - mu**2 - lv.exp(), dim=1),
        "summed over the batch": lambda mu, lv: kl_divergence(mu, lv).sum(),
        "std taken as logvar": lambda mu, lv: 0.5 * torch.sum(lv**2 + mu**2 - 1 - torch.log(lv**2), dim=1),
        "mean over latent units": lambda mu, lv: kl_divergence(mu, lv) / mu.shape[1],
    },
    "elbo_loss": {
        "mean over pixels": lambda x, l, mu, lv: F.binary_cross_entropy_with_logits(l, x) + kl_divergence(mu, lv).mean(),
        "summed over the batch": lambda x, l, mu, lv: elbo_loss(x, l, mu, lv) * x.shape[0],
        "KL subtracted": lambda x, l, mu, lv: elbo_loss(x, l, mu, lv) - 2 * kl_divergence(mu, lv).mean(),
        "sigmoid before BCE-with-logits": lambda x, l, mu, lv: elbo_loss(x, torch.sigmoid(l), mu, lv),
    },
    "discriminator_loss": {
        "labels swapped": lambda r, f: discriminator_loss(f, r),
        "fakes labelled real": lambda r, f: discriminator_loss(r, -f),
        "only the real term": lambda r, f: F.softplus(-r).mean(),
    },
    "generator_loss": {
        "saturating by default": lambda f, non_saturating=True: generator_loss(f, not non_saturating),
        "ignores the flag": lambda f, non_saturating=True: generator_loss(f, True),
        "sign error": lambda f, non_saturating=True: -generator_loss(f, non_saturating),
    },
    "optimal_discriminator": {
        "inverted": lambda pd, pg: pg / (pd + pg),
        "ratio": lambda pd, pg: pd / pg,
    },
    "block_mask": {
        "same place for every image": _fixed_block,
        "ignores the generator": _block_ignores_generator,
        "hole cut at the border": _block_spills,
    },
    "apply_mask": {
        "mask inverted": lambda x, m, fill=0.0: apply_mask(x, 1 - m, fill),
        "fill ignored": lambda x, m, fill=0.0: x * (1 - m),
    },
    "masked_mse": {
        "mean over all pixels": lambda xh, x, m: ((xh - x) ** 2 * m).mean(),
        "known pixels": lambda xh, x, m: masked_mse(xh, x, 1 - m),
    },
    "composite": {
        "known pixels overwritten": lambda xh, x, m: xh,
        "mask inverted": lambda xh, x, m: composite(xh, x, 1 - m),
    },
    "rows_to_sequences": {
        "view instead of permute": lambda f: f.reshape(f.shape[0] * f.shape[2], f.shape[3], f.shape[1]),
        "H and W swapped": lambda f: f.permute(0, 3, 2, 1).reshape(-1, f.shape[2], f.shape[1]),
    },
    "sequences_to_rows": {
        "view instead of permute": lambda s, b, h: s.reshape(b, s.shape[2], h, s.shape[1]),
        "wrong permute": lambda s, b, h: s.reshape(b, h, s.shape[1], s.shape[2]).permute(0, 3, 2, 1),
    },
    "add_noise": {
        "uniform noise": lambda x, s: x + s * torch.rand_like(x),
        "multiplicative noise": lambda x, s: x * (1 + s * torch.randn_like(x)),
        "same noise every call": lambda x, s: x + s * torch.randn(x.shape, generator=torch.Generator().manual_seed(0)),
        "not clamped": lambda x, s: x + s * torch.randn_like(x),
        "squashed with a sigmoid": lambda x, s: torch.sigmoid(6 * (x + s * torch.randn_like(x) - 0.5)),
    },
    "Generator": {"tanh output": _TanhGenerator, "ignores z_dim": _IgnoresZDim, "no convolution": _MLPGenerator},
    "Discriminator": {"sigmoid output": _SigmoidDiscriminator, "(B, 1) logits": _KeepdimDiscriminator},
    "gan_training_step": {
        "labels swapped": lambda *a: _step(*a, swap=True),
        "fakes not detached for D": lambda *a: _step(*a, detach=False),
        "saturating G loss": lambda *a: _step(*a, saturating=True),
        "G through the old D": lambda *a: _step(*a, old_d=True),
        "G not updated": lambda *a: _step(*a, g_update=False),
        "sum instead of mean": lambda *a: _step(*a, d_sum=True),
    },
    "CRNN": {"no column pass": _CRNNNoColumns, "no composite": _CRNNNoComposite, "no sigmoid": _CRNNNoSigmoid,
             "column features not transposed back": _CRNNNoTransposeBack},
    "autocast_settings": {"scaler with bf16": _autocast_scaler_with_bf16, "fp16 everywhere": _autocast_fp16_everywhere,
                          "strings only": _autocast_strings_only},
    "train_epoch": {
        "mean of batch means": lambda *a: _epoch(*a, mean_of_means=True),
        "no model.train()": lambda *a: _epoch(*a, no_train=True),
        "scaler ignored": lambda *a: _epoch(*a, ignore_scaler=True),
        "optimizer.step with a scaler": lambda *a: _epoch(*a, scaler_no_step=True),
        "amp ignored": lambda *a: _epoch(*a, ignore_amp=True),
    },
    "save_checkpoint": {
        "not atomic": _save_direct,
        "temporary file left behind": _save_tmp_left_behind,
        "no RNG state": _save_no_rng,
        "no optimizer state": _save_no_optimizer,
        "scaler never saved": _save_scaler_always_none,
    },
    "load_checkpoint": {
        "RNG not restored": lambda *a: _load(*a, rng=False),
        "optimizer not restored": lambda *a: _load(*a, opt=False),
        "scaler not restored": lambda *a: _load(*a, sc=False),
        "epoch off by one": lambda *a: _load(*a, epoch_off=1),
    },
    "fixed_generator_output": {
        "the broken original": lambda f, c, s: f.view(-1, 1, s, s),
        "channels last": lambda f, c, s: f.view(f.shape[0], s, s, c).permute(0, 3, 1, 2),
    },
    "fixed_discriminator_loss": {
        "the broken original": lambda r, f: (F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
                                             + F.binary_cross_entropy_with_logits(f, torch.ones_like(f))),
        "labels swapped": lambda r, f: discriminator_loss(f, r),
    },
    "fixed_kl_divergence": {
        "the broken original": lambda mu, lv: -kl_divergence(mu, lv),
        "mean over latent units": lambda mu, lv: 0.5 * (lv.exp() + mu**2 - 1 - lv).mean(1),
    },
    "fixed_row_rnn": {
        "view instead of permute": lambda rnn, f: rnn(f.reshape(f.shape[0] * f.shape[2], f.shape[3], f.shape[1]))[0]
        .reshape(f.shape[0], -1, f.shape[2], f.shape[3]),
        "columns instead of rows": lambda rnn, f: fixed_row_rnn(rnn, f.transpose(2, 3)).transpose(2, 3),
    },
    "fixed_bce_loss": {
        "the broken original": lambda lo, t: F.binary_cross_entropy_with_logits(torch.sigmoid(lo), t),
        "summed": lambda lo, t: F.binary_cross_entropy_with_logits(lo, t, reduction="sum"),
    },
    "fixed_discriminator_update": {
        "the broken original (no detach)": _update_no_detach,
        "loss after the step": _update_loss_after,
    },
    "fixed_predict": {
        "the broken original (no eval)": _predict_no_eval,
        "model left in eval mode": _predict_stays_eval,
        "model forced into training mode": _predict_forces_train,
        "outputs keep their graph": _predict_with_graph,
    },
    "fixed_ema_copy": {
        "the broken original (same object)": _ema_same_object,
        "a fresh network": _ema_fresh,
        "not frozen": _ema_not_frozen,
        "shared storage": _ema_shares,
    },
    "ConvEncoder": {"no convolution": _MLPEncoder},
    "ConvDecoder": {"wrong output size": _SmallDecoder},
}


@pytest.mark.parametrize("lab", GRADED_LABS)
def test_correct_implementations_get_full_marks(lab):
    torch.manual_seed(0)
    spec = load_spec(lab)
    res = grade_functions(spec, CORRECT, seed=11)
    assert {k: v.points for k, v in res.items()} == {it.name: it.points for it in spec.items}, \
        {k: v.messages for k, v in res.items() if not v.passed}


CASES = [(lab, item.name, label) for lab in GRADED_LABS for item in load_spec(lab).items
         for label in WRONG.get(item.name, {})]


@pytest.mark.parametrize(("lab", "item", "mistake"), CASES, ids=[f"{i}-{m}" for _, i, m in CASES])
def test_a_classic_mistake_loses_only_its_item(lab, item, mistake):
    torch.manual_seed(0)
    spec = load_spec(lab)
    res = grade_functions(spec, dict(CORRECT, **{item: WRONG[item][mistake]}), seed=11)
    assert res[item].points == 0 and res[item].messages
    for name, r in res.items():
        if name != item:
            assert r.passed, (name, r.messages)


def test_every_graded_item_has_plausible_mistakes():
    for lab in GRADED_LABS:
        for item in load_spec(lab).items:
            assert WRONG.get(item.name), item.name
            assert any(not c.public for c in item.cases) or item.compare == "custom", item.name


@pytest.mark.parametrize("lab", ["02", "03", "05", "06"])
def test_closed_form_fallbacks_agree_with_genlab(lab):
    g = torch.Generator().manual_seed(0)
    for item in load_spec(lab).items:
        ref, origin = item.resolve_reference()
        if item.fallback is None or origin != "genlab":
            continue
        for case in item.cases:
            call = case.make(g)
            torch.testing.assert_close(item.fallback(*call.args, **call.kwargs), ref(*call.args, **call.kwargs))


def _solution_labs_with_exercises() -> dict[str, Path]:
    """``{NN: solutions/NN_name.ipynb}`` for every solution notebook that has an ``exercise`` cell."""
    out = {}
    for nb in sorted((repo_root() / "solutions").glob("[0-9][0-9]_*.ipynb")):
        if any("exercise" in c.tags for c in code_cells(read_notebook(nb))):
            out[nb.name[:2]] = nb
    return out


SOLUTION_LABS = _solution_labs_with_exercises()
#: Every lab that must pass its self-check: the specs, and every solution lab with exercises.
SELF_CHECK_LABS = sorted((set(GRADED_LABS) | set(SOLUTION_LABS)) - set(UNGRADED_LABS))


def test_every_solution_lab_with_exercises_has_a_spec():
    """A lab that lands in solutions/ with exercise cells must get a spec (or be declared ungraded)."""
    missing = [nn for nn in SOLUTION_LABS if nn not in GRADED_LABS and nn not in UNGRADED_LABS]
    assert not missing, (f"solutions/ has exercise cells for lab(s) {missing} but genlab/grading/specs/ has no "
                         "labNN.py for them: write the spec (or list the lab in UNGRADED_LABS with a reason)")


@pytest.mark.parametrize("lab", sorted(set(GRADED_LABS) & set(SOLUTION_LABS)))
def test_spec_items_are_the_notebook_exercises(lab):
    """Every graded item is defined by an exercise cell of the solution, and every exercise defines an item."""
    cells = [c for c in code_cells(read_notebook(SOLUTION_LABS[lab])) if "exercise" in c.tags]
    defined = set().union(*(c.defines for c in cells))
    items = {it.name for it in load_spec(lab).items}
    assert items <= defined, f"spec items not defined by the notebook's exercise cells: {sorted(items - defined)}"
    for c in cells:
        assert c.defines & items, f"exercise cell {c.index} defines {sorted(c.defines)}, none of them graded"


@pytest.mark.parametrize("lab", SELF_CHECK_LABS)
def test_self_check_real_lab(lab):
    """Solution: full marks; untouched lab: zero.

    Skipped only for a spec written ahead of its lab (no solution notebook yet);
    a solution lab without a spec fails here and in the test above.
    """
    if lab not in GRADED_LABS:
        pytest.fail(f"lab {lab} has exercise cells in {SOLUTION_LABS[lab].name} but no grading spec")
    spec = load_spec(lab)
    sol_nb = find_lab(lab, folder="solutions")
    if sol_nb is None:
        pytest.skip(f"lab {spec.lab}: spec written, solutions/{spec.lab}.ipynb not there yet")
    lab_nb = find_lab(lab, folder="labs")
    assert lab_nb is not None, f"solutions/{sol_nb.name} exists but labs/{sol_nb.name} does not: run `genlab build`"
    ok, lines, _ = self_check(spec, lab_nb, sol_nb, seed=0, limits=Limits(timeout=120), workers=2)
    assert ok, "\n".join(lines)


def test_reference_scenarios_are_thread_safe():
    """The parent judges submissions from several threads; scenarios seed the global RNG (dropout)."""
    from concurrent.futures import ThreadPoolExecutor

    from genlab.grading.scenarios import ref_train_epoch, run_scenario

    def run(_):
        return run_scenario("train_epoch", ref_train_epoch, [0, False, False], None)["weights"]

    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(run, range(8)))
    assert all(torch.equal(o, outs[0]) for o in outs)


@pytest.mark.parametrize("lab", ["04", "06", "07", "09"])
def test_held_back_scenarios_pass_correct_code_for_any_seed(lab):
    """Held-back scenario setups are drawn from --seed: correct code must pass whatever the seed.

    Seeds 0, 6 and 16 once hid a correct CRNN's long-range dependency behind dead ReLUs.
    """
    spec = load_spec(lab)
    for seed in (0, 6, 16, 12345):
        res = grade_functions(spec, CORRECT, seed=seed)
        assert all(r.passed for r in res.values()), (seed, {k: v.messages for k, v in res.items() if not v.passed})


def test_lab07_calling_the_check_reference_scores_zero_while_the_grader_may(tmp_path):
    """genlab.checks.lab07 re-exports the grader's own references (genlab.grading.scenarios).

    The grader's scenarios call them; a submission that calls them through the check module,
    even with no name to see in its source, must still score zero for that item only.
    """
    import json as _json

    from gradekit import read_book

    from genlab.grading.grader import grade

    spec = load_spec("07")
    sol = find_lab("07", folder="solutions")
    nb = _json.loads(Path(sol).read_text())
    hidden = ("import importlib\n\n"
              "def save_checkpoint(path, model, optimizer, scaler, epoch):\n"
              "    m = importlib.import_module('genlab.checks.' + 'lab07')\n"
              "    return getattr(m, '_ref_' + 'save')(path, model, optimizer, scaler, epoch)\n")
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and "def save_checkpoint(" in src:
            cell["source"] = hidden
    subs = tmp_path / "subs"
    for name, book in (("cheat", nb), ("honest", _json.loads(Path(sol).read_text()))):
        (subs / name).mkdir(parents=True)
        (subs / name / f"{spec.lab}.ipynb").write_text(_json.dumps(book))
    out = tmp_path / "out"
    grade(spec, find_lab("07", folder="labs"), subs, out, seed=0, limits=Limits(timeout=120), workers=2,
          progress=False)
    book = read_book(out)
    full = {it.name: it.points for it in spec.items}
    assert {k: v["points"] for k, v in book["honest"]["items"].items()} == full
    cheat = {k: v["points"] for k, v in book["cheat"]["items"].items()}
    assert cheat == dict(full, save_checkpoint=0), cheat
    assert "while being graded" in " ".join(book["cheat"]["items"]["save_checkpoint"]["messages"])
