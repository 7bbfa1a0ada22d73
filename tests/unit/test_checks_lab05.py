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


def test_stretch_loss_is_graded_by_properties(capsys):
    import torch

    from genlab.checks.lab05 import check_masked_l1_plus_edges
    from genlab.exercises.lab05 import masked_l1_plus_edges

    assert check_masked_l1_plus_edges(masked_l1_plus_edges)
    # another design that meets the contract passes too: it is not compared with a formula
    assert check_masked_l1_plus_edges(lambda xh, x, m: losses.masked_l1(xh, x, m) + losses.masked_mse(xh, x, m))
    assert capsys.readouterr().out.count("all checks passed") == 2
    with pytest.raises(CheckFailed, match="known pixels"):
        check_masked_l1_plus_edges(lambda xh, x, m: (xh - x).abs().mean())
    with pytest.raises(CheckFailed, match="empty hole"):
        check_masked_l1_plus_edges(lambda xh, x, m: (m * (xh - x)).abs().sum() / m.expand_as(x).sum())
    with pytest.raises(CheckFailed, match="a sum"):
        check_masked_l1_plus_edges(lambda xh, x, m: (m * (xh - x)).abs().sum() + torch.zeros(()))


def test_block_mask_corner_statistics_catch_an_exclusive_upper_end():
    import torch

    from genlab.exercises import load_lab
    from genlab.grading.grader import grade_functions

    def exclusive(batch, size, hole, generator=None):
        corner = torch.randint(0, max(1, size - hole), (2, batch), generator=generator)
        return masks._square_at(batch, size, hole, corner[0], corner[1])

    lab = load_lab("05")
    res = grade_functions(type(lab)(lab.lab, [lab.item("block_mask")]), {"block_mask": exclusive}, seed=4)
    assert res["block_mask"].points < 3
