"""Lab 05 checks: pass on the genlab references, fail with a teaching message on classic mistakes."""

import pytest

from genlab import losses, masks
from genlab.checks import CheckFailed
from genlab.checks.lab05 import (
    check_apply_mask,
    check_block_mask,
    check_composite,
    check_masked_mse,
)


def test_lab05_checks_pass_on_references(capsys):
    assert check_block_mask(masks.block_mask)
    assert check_apply_mask(masks.apply_mask)
    assert check_masked_mse(losses.masked_mse)
    assert check_composite(masks.composite)
    assert capsys.readouterr().out.count("all checks passed") == 4


def test_unimplemented_is_reported():
    def todo(*a, **k):
        raise NotImplementedError
    for check in (check_block_mask, check_apply_mask, check_masked_mse, check_composite):
        with pytest.raises(CheckFailed, match="not implemented yet"):
            check(todo)
