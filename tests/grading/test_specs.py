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

from genlab.exercises import GRADED_LABS, UNGRADED_LABS, load_spec
from genlab.grading.grader import grade_functions, self_check
from genlab.grading.notebook import code_cells, find_lab, read_notebook, repo_root
from genlab.grading.sandbox import Limits

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
    m = mask.expand_as(x)
    return ((x_hat - x) ** 2 * m).sum() / m.sum().clamp(min=1)  # an empty hole gives 0, as the check asks


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


def _solution_definitions() -> dict:
    """Items this file writes no correct version of (the stretch exercises): the solution's own.

    Only the exercise cells run, after the imports they rely on, so the solution's data and
    training cells stay out of these tests.
    """
    ns: dict = {}
    exec("import math\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
         "from collections.abc import Iterable\nfrom pathlib import Path\n", ns)
    for nb in sorted((repo_root() / "solutions").glob("[0-9][0-9]_*.ipynb")):
        for cell in code_cells(read_notebook(nb)):
            if "exercise" in cell.tags:
                try:
                    exec(compile(cell.source, str(nb), "exec"), ns)
                except Exception:  # noqa: BLE001 - a cell that needs the notebook's state: not a stretch item
                    pass
    return ns


_SOLUTION = _solution_definitions()
for _lab in GRADED_LABS:
    for _item in load_spec(_lab).items:
        if _item.name not in CORRECT and _item.name in _SOLUTION:
            CORRECT[_item.name] = _SOLUTION[_item.name]

# --------------------------------------------------------------------------- classic mistakes, per item


@pytest.mark.parametrize("lab", GRADED_LABS)
def test_correct_implementations_get_full_marks(lab):
    torch.manual_seed(0)
    spec = load_spec(lab)
    res = grade_functions(spec, CORRECT, seed=11)
    assert {k: v.points for k, v in res.items()} == {it.name: it.points for it in spec.items}, \
        {k: v.messages for k, v in res.items() if not v.passed}


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
    assert not missing, (f"solutions/ has exercise cells for lab(s) {missing} but genlab/exercises/ has no "
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

    from genlab.exercises.lab07 import train_epoch as ref_train_epoch
    from genlab.exercises.scenarios import run_scenario

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
    """genlab.exercises.lab07 holds the one reference of each lab-07 function.

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
              "    m = importlib.import_module('genlab.exercises.' + 'lab07')\n"
              "    return getattr(m, 'save_' + 'checkpoint')(path, model, optimizer, scaler, epoch)\n")
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
    assert {k: v["points"] for k, v in book["honest"]["items"].items() if k in full} == full
    cheat = {k: v["points"] for k, v in book["cheat"]["items"].items() if k in full}
    assert cheat == dict(full, save_checkpoint=0), cheat
    assert "not available while grading" in " ".join(book["cheat"]["items"]["save_checkpoint"]["messages"])
