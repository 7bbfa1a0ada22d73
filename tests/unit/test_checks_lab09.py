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
         "discriminator_update", "predict", "ema_copy"]


@pytest.mark.parametrize("item", ITEMS)
def test_fixed_passes_and_broken_fails_with_symptom(item, capsys):
    check = getattr(c, f"check_fixed_{item}")
    assert check(NS[f"fixed_{item}"])
    with pytest.raises(CheckFailed, match="symptom"):
        check(NS[f"broken_{item}"])
    assert c.show_symptom(check, NS[f"broken_{item}"]) is False
    assert "symptom" in capsys.readouterr().out






def test_unimplemented_is_reported():
    def todo(*a, **k):
        raise NotImplementedError
    for item in ITEMS:
        with pytest.raises(CheckFailed, match="not implemented yet"):
            getattr(c, f"check_fixed_{item}")(todo)
