"""The real lab specs: correct implementations get every point, classic mistakes lose only their item.

Graded in-process with the same drivers and judges as the sandbox
(:func:`genlab.grading.grader.grade_functions`), with independent
implementations written here (never genlab's, which the specs use as reference).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from genlab.grading.grader import grade_functions, self_check
from genlab.grading.notebook import find_lab
from genlab.grading.sandbox import Limits
from genlab.grading.specs import GRADED_LABS, load_spec

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
    return x + sigma * torch.randn_like(x)


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


@pytest.mark.parametrize("lab", GRADED_LABS)
def test_self_check_real_lab(lab):
    """Solution: full marks; untouched lab: zero (skipped until the lab's notebooks exist)."""
    spec = load_spec(lab)
    lab_nb, sol_nb = find_lab(lab, folder="labs"), find_lab(lab, folder="solutions")
    if lab_nb is None or sol_nb is None:
        pytest.skip(f"lab {spec.lab} does not exist yet (labs/ or solutions/ notebook missing)")
    ok, lines, _ = self_check(spec, lab_nb, sol_nb, seed=0, limits=Limits(timeout=120), workers=2)
    assert ok, "\n".join(lines)
