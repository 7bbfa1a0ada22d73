"""Lab 09 checks: the solution's fixed functions pass; the lab's broken ones (and others) fail with a symptom."""

from pathlib import Path

import pytest

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
         "discriminator_update", "predict", "ema_copy", "discriminator_batch", "training_batch", "gan_losses",
         "image_decoder", "log_prob_real"]


@pytest.mark.parametrize("item", ITEMS)
def test_fixed_passes_and_broken_fails_with_symptom(item, capsys):
    check = getattr(c, f"check_fixed_{item}")
    assert check(NS[f"fixed_{item}"])
    with pytest.raises(CheckFailed, match="symptom"):
        check(NS[f"broken_{item}"])
    assert c.show_symptom(check, NS[f"broken_{item}"]) is False
    assert "symptom" in capsys.readouterr().out


@pytest.mark.parametrize(("item", "words"), [
    ("log_prob_real", "-120"),          # log of the sigmoid: -inf for a confidently wrong score
    ("gan_losses", "inf"),              # the same, inside both losses
    ("image_decoder", "batch size changed"),
    ("training_batch", "static"),
])
def test_the_naive_fix_still_shows_a_symptom(item, words):
    import torch

    naive = {
        "log_prob_real": lambda s: torch.log(torch.sigmoid(s)),
        "gan_losses": lambda r, f: (-(torch.log(torch.sigmoid(r)).mean() + torch.log(1 - torch.sigmoid(f)).mean()),
                                    -torch.log(torch.sigmoid(f)).mean()),
        "image_decoder": lambda z, ch, h, w: torch.nn.Linear(z.shape[1], 784)(z).reshape(-1, ch, h, w),
        "training_batch": lambda im, b: torch.rand_like(im[:b]),
    }[item]
    with pytest.raises(CheckFailed, match=words):
        getattr(c, f"check_fixed_{item}")(naive)


def test_unimplemented_is_reported():
    def todo(*a, **k):
        raise NotImplementedError
    for item in ITEMS:
        with pytest.raises(CheckFailed, match="not implemented yet"):
            getattr(c, f"check_fixed_{item}")(todo)


def test_stretch_dead_units_passes_and_a_leaky_blind_detector_is_named(capsys):
    from torch import nn

    assert c.check_dead_units(NS["dead_units"])

    def relu_only(model, x):
        full = NS["dead_units"](model, x)
        return {k: v for k, v in full.items() if not isinstance(model.get_submodule(k), nn.LeakyReLU)}

    with pytest.raises(CheckFailed, match="no entry for"):
        c.check_dead_units(relu_only)
