"""Lab 09 checks: the solution's fixed functions pass; the lab's broken ones (and others) fail with a symptom."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from genlab.checks import CheckFailed
from genlab.checks import lab09 as c

ROOT = Path(__file__).resolve().parents[2]


def _namespace(tags=("support", "exercise")):
    """Execute the solution's support and exercise cells (what the autograder runs)."""
    src = (ROOT / "solutions" / "09_debugging.py").read_text()
    keep = [cell.split("\n", 1)[1] for cell in src.split("# %%")
            if any(cell.startswith(f' tags=["{t}"]') for t in tags)]
    ns: dict = {}
    exec(compile("\n".join(keep), "solutions/09_debugging.py", "exec"), ns)
    return ns


NS = _namespace()
ITEMS = ["generator_output", "discriminator_loss", "kl_divergence", "row_rnn", "bce_loss",
         "discriminator_update", "predict", "ema_copy"]


@pytest.mark.parametrize("item", ITEMS)
def test_fixed_passes_and_broken_fails_with_symptom(item, capsys):
    check = getattr(c, f"check_fixed_{item}")
    assert check(NS[f"fixed_{item}"])
    with pytest.raises(CheckFailed, match="symptom"):
        check(NS[f"broken_{item}"])
    assert c.show_symptom(check, NS[f"broken_{item}"]) is False
    assert "symptom" in capsys.readouterr().out


# A second wrong implementation per item.
OTHER_WRONG = {
    "generator_output": lambda flat, ch, s: flat.view(flat.shape[0], s, s, ch).permute(0, 3, 1, 2),
    "discriminator_loss": lambda r, f: F.binary_cross_entropy_with_logits(r, torch.zeros_like(r))
    + F.binary_cross_entropy_with_logits(f, torch.ones_like(f)),
    "kl_divergence": lambda mu, lv: 0.5 * (lv.exp() + mu ** 2 - 1 - lv).mean(1),
    "row_rnn": lambda rnn, f: rnn(f.reshape(f.shape[0] * f.shape[2], f.shape[3], f.shape[1]))[0]
    .reshape(f.shape[0], -1, f.shape[2], f.shape[3]),
    "bce_loss": lambda lg, t: F.binary_cross_entropy(torch.sigmoid(lg), t) * 2,
    "predict": lambda m, x: m.eval()(x).detach(),
    "ema_copy": lambda m: type(m)(),
}


def _grad_leak_update(gen, disc, opt_d, z, real):
    fake = gen(z)
    loss = F.softplus(-disc(real)).mean() + F.softplus(disc(fake)).mean()
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return loss.detach()


OTHER_WRONG["discriminator_update"] = _grad_leak_update


@pytest.mark.parametrize("item", ITEMS)
def test_second_wrong_version_fails(item):
    with pytest.raises(CheckFailed):
        getattr(c, f"check_fixed_{item}")(OTHER_WRONG[item])


def test_unimplemented_is_reported():
    def todo(*a, **k):
        raise NotImplementedError
    for item in ITEMS:
        with pytest.raises(CheckFailed, match="not implemented yet"):
            getattr(c, f"check_fixed_{item}")(todo)
