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


@pytest.mark.parametrize("wrong, words", [
    (lambda mu, lv: mu + lv * torch.randn_like(mu), "logvar used as the standard deviation"),
    (lambda mu, lv: mu + lv.exp() * torch.randn_like(mu), "the variance, not the standard deviation"),
    (lambda mu, lv: torch.normal(mu, (0.5 * lv).exp()), "carries no gradient|torch.normal"),
    (lambda mu, lv: torch.distributions.Normal(mu, (0.5 * lv).exp()).sample(), "carries no gradient"),
    (lambda mu, lv: mu.detach() + (0.5 * lv).exp() * torch.randn_like(mu), "no gradient reached mu"),
    (lambda mu, lv: mu + (0.5 * lv).exp() * torch.rand_like(mu), "sample mean"),
    (lambda mu, lv: mu + (0.5 * lv).exp() * torch.randn(mu.shape[0], 1), "independent noise"),
    (lambda mu, lv: mu + (0.5 * lv).exp() * torch.randn(1, mu.shape[1]), "the same z in every row"),
    (lambda mu, lv: mu + (0.5 * lv).exp() * (mu - mu.detach() + torch.randn_like(mu)), "dz/dmu"),
    (lambda mu, lv: mu, "same z in every row"),
])
def test_reparameterize_check_catches_mistakes(wrong, words):
    torch.manual_seed(3)
    with pytest.raises(CheckFailed, match=words):
        check_reparameterize(wrong)


@pytest.mark.parametrize("wrong, words", [
    (lambda mu, lv: -kl_ok(mu, lv), "wrong sign"),
    (lambda mu, lv: kl_ok(mu, lv).sum(), "summed over the batch"),
    (lambda mu, lv: kl_ok(mu, lv).mean(), "averaged over the batch"),
    (lambda mu, lv: 0.5 * (lv.exp() + mu.pow(2) - 1 - lv), r"shape \(5, 4\), one value per latent unit"),
    (lambda mu, lv: 0.5 * (lv.exp() + mu.pow(2) - 1 - lv).mean(1), "averaged over the latent dimension"),
    (lambda mu, lv: (lv.exp() + mu.pow(2) - 1 - lv).sum(1), "factor 1/2"),
    (lambda mu, lv: 0.5 * (lv.pow(2) + mu.pow(2) - 1 - (lv.pow(2)).log()).sum(1), "logvar was used as the standard"),
    (lambda mu, lv: 0.5 * (lv.exp() + mu - 1 - lv).sum(1), "expected"),
])
def test_kl_check_catches_mistakes(wrong, words):
    with pytest.raises(CheckFailed, match=words):
        check_kl_divergence(wrong)


@pytest.mark.parametrize("wrong, words", [
    (lambda x, l, mu, lv: (recon(x, l) + kl_ok(mu, lv)).sum(), "summed over the batch"),
    (lambda x, l, mu, lv: -elbo_ok(x, l, mu, lv), "wrong sign: elbo_loss is the NEGATIVE"),
    (lambda x, l, mu, lv: (recon(x, l) - kl_ok(mu, lv)).mean(), "KL term has the wrong sign"),
    (lambda x, l, mu, lv: (recon(x, torch.sigmoid(l)) + kl_ok(mu, lv)).mean(), "sigmoid applied before"),
    (lambda x, l, mu, lv: F.binary_cross_entropy_with_logits(l, x) + kl_ok(mu, lv).mean(), "averaged over pixels"),
    (lambda x, l, mu, lv: recon(x, l) + kl_ok(mu, lv), r"shape \(6,\), one value per image"),
    (lambda x, l, mu, lv: recon(x, l).mean(), "KL term is missing"),
    (lambda x, l, mu, lv: elbo_ok(x, l, mu, lv).item(), "scalar tensor"),
])
def test_elbo_check_catches_mistakes(wrong, words):
    with pytest.raises(CheckFailed, match=words):
        check_elbo_loss(wrong)


def test_unimplemented_is_reported_clearly():
    def todo(*args):
        raise NotImplementedError
    for check in (check_reparameterize, check_kl_divergence, check_elbo_loss):
        with pytest.raises(CheckFailed, match="not implemented yet"):
            check(todo)
