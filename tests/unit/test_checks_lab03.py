"""Lab 03 checks pass on the solution and name the classic mistakes of each graded function."""

import pytest
import torch
import torch.nn.functional as F

from genlab import losses
from genlab.checks import (
    CheckFailed,
    check_discriminator_loss,
    check_generator_loss,
    check_optimal_discriminator,
)


def _bce(logits, target, reduction="mean"):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target), reduction=reduction)


def _solution_d(real, fake):
    return _bce(real, 1.0) + _bce(fake, 0.0)


def _solution_g(fake, non_saturating=True):
    return _bce(fake, 1.0) if non_saturating else -_bce(fake, 0.0)


def test_checks_pass_on_solutions_and_reference(capsys):
    assert check_discriminator_loss(_solution_d)
    assert check_discriminator_loss(losses.discriminator_loss)
    assert check_generator_loss(_solution_g)
    assert check_generator_loss(losses.generator_loss)
    assert check_optimal_discriminator(lambda p, q: p / (p + q))
    assert check_optimal_discriminator(losses.optimal_discriminator)
    assert capsys.readouterr().out.count("all checks passed") == 6


@pytest.mark.parametrize("wrong, words", [
    (lambda r, f: _bce(r, 0.0) + _bce(f, 1.0), "labels are swapped"),
    (lambda r, f: _bce(torch.sigmoid(r), 1.0) + _bce(torch.sigmoid(f), 0.0), "sigmoid"),
    (lambda r, f: _bce(r, 1.0, "sum") + _bce(f, 0.0, "sum"), "summed over the batch"),
    (lambda r, f: 0.5 * (_bce(r, 1.0) + _bce(f, 0.0)), "averaged the two terms"),
    (lambda r, f: -(_bce(r, 1.0) + _bce(f, 0.0)), "D maximises"),
    (lambda r, f: torch.stack([_bce(r, 1.0), _bce(f, 0.0)]), "scalar"),
    (lambda r, f: (_bce(r, 1.0) + _bce(f, 0.0)).item(), "Python float"),
    (lambda r, f: (_bce(r, 1.0) + _bce(f, 0.0)).detach(), "graph"),
])
def test_discriminator_loss_catches_mistakes(wrong, words):
    with pytest.raises(CheckFailed, match=words):
        check_discriminator_loss(wrong)


def _flipped_default(fake, non_saturating=False):
    return _solution_g(fake, non_saturating)


@pytest.mark.parametrize("wrong, words", [
    (_flipped_default, "the default must be the non-saturating"),
    (lambda f, non_saturating=True: _solution_g(f, not non_saturating), "saturating"),
    (lambda f, non_saturating=True: -_solution_g(f, non_saturating), "wrong sign"),
    (lambda f, non_saturating=True: _solution_g(torch.sigmoid(f), non_saturating), "sigmoid"),
    (lambda f, non_saturating=True: _bce(f, 1.0, "sum") if non_saturating else -_bce(f, 0.0, "sum"), "summed"),
    (lambda f, non_saturating=True: _bce(f, 0.0), "G's target is 1"),
    (lambda f, non_saturating=True: (-torch.log(torch.sigmoid(f)).mean() if non_saturating
                                     else torch.log(1 - torch.sigmoid(f)).mean()), "stabl"),
])
def test_generator_loss_catches_mistakes(wrong, words):
    with pytest.raises(CheckFailed, match=words):
        check_generator_loss(wrong)


@pytest.mark.parametrize("wrong, words", [
    (lambda p, q: q / (p + q), "probability that x is real"),
    (lambda p, q: p / q, "density ratio"),
    (lambda p, q: p / (p + q).sum(), "pointwise"),
    (lambda p, q: (p / (p + q)).mean(0), "shape"),
])
def test_optimal_discriminator_catches_mistakes(wrong, words):
    with pytest.raises(CheckFailed, match=words):
        check_optimal_discriminator(wrong)


def test_unimplemented_is_reported():
    def todo(*a, **k):
        raise NotImplementedError
    for check in (check_discriminator_loss, check_generator_loss, check_optimal_discriminator):
        with pytest.raises(CheckFailed, match="not implemented yet"):
            check(todo)
