"""Lab 02 checks pass on the reference implementations and fail, with their message, on classic mistakes."""

import pytest
import torch
import torch.nn.functional as F

from genlab import losses
from genlab.checks import CheckFailed, check_elbo_loss, check_kl_divergence, check_reparameterize
from genlab.models.vae import reparameterize as reference_reparameterize


def kl_ok(mu, logvar):
    return 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(1)


def recon(x, x_logits):
    return F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").flatten(1).sum(1)


def elbo_ok(x, x_logits, mu, logvar):
    return (recon(x, x_logits) + kl_ok(mu, logvar)).mean()


def reparam_ok(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def test_checks_pass_on_solutions(capsys):
    assert check_reparameterize(reparam_ok)
    assert check_reparameterize(reference_reparameterize)
    assert check_reparameterize(lambda mu, lv: torch.distributions.Normal(mu, (0.5 * lv).exp()).rsample())
    assert check_kl_divergence(kl_ok)
    assert check_kl_divergence(losses.kl_divergence)
    assert check_elbo_loss(elbo_ok)
    assert check_elbo_loss(losses.elbo_loss)
    assert capsys.readouterr().out.count("all checks passed") == 7


def test_unimplemented_is_reported_clearly():
    def todo(*args):
        raise NotImplementedError
    for check in (check_reparameterize, check_kl_divergence, check_elbo_loss):
        with pytest.raises(CheckFailed, match="not implemented yet"):
            check(todo)


def iwae_ok(log_w):
    return torch.logsumexp(log_w, dim=1) - torch.log(torch.tensor(float(log_w.shape[1]), dtype=log_w.dtype))


def test_iwae_bound_check_accepts_correct_forms_and_names_the_naive_one(capsys):
    from genlab.checks import check_iwae_bound

    assert check_iwae_bound(iwae_ok)
    shifted = lambda lw: (lw.max(1, keepdim=True).values  # noqa: E731 - the by-hand stable form
                          + (lw - lw.max(1, keepdim=True).values).exp().mean(1, keepdim=True).log()).squeeze(1)
    assert check_iwae_bound(shifted)
    assert capsys.readouterr().out.count("all checks passed") == 2
    with pytest.raises(CheckFailed, match="finite"):
        check_iwae_bound(lambda lw: lw.exp().mean(1).log())


def test_a_failing_check_ends_with_the_pointer_to_a_hint_level():
    with pytest.raises(CheckFailed) as failed:
        check_kl_divergence(lambda mu, lv: (lv.exp() + mu.pow(2) - 1 - lv).sum(1))  # factor 1/2 missing
    last = str(failed.value).splitlines()[-1]
    assert 'genlab.hint("kl_divergence", 2)' in last
    with pytest.raises(CheckFailed) as failed:
        check_elbo_loss(lambda *args: (_ for _ in ()).throw(NotImplementedError))
    assert 'genlab.hint("elbo_loss", 1)' in str(failed.value).splitlines()[-1]
