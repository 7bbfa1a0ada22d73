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


def test_unimplemented_is_reported():
    def todo(*a, **k):
        raise NotImplementedError
    for check in (check_discriminator_loss, check_generator_loss, check_optimal_discriminator):
        with pytest.raises(CheckFailed, match="not implemented yet"):
            check(todo)


def test_js_divergence_check_accepts_the_mixture_form_and_names_one_sided_kl(capsys):
    from genlab.checks import check_js_divergence

    def js_ok(p, q):
        m = 0.5 * (p + q)
        def kl_to_m(a):  # where a = 0 (and perhaps m = 0 too) the term is 0
            return torch.where(a > 0, a * (a / m).log(), torch.zeros_like(a)).sum(-1)
        return 0.5 * (kl_to_m(p) + kl_to_m(q))

    assert check_js_divergence(js_ok)
    assert "all checks passed" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="symmetric"):
        check_js_divergence(lambda p, q: torch.xlogy(p, 2 * p / (p + q)).sum(-1))
