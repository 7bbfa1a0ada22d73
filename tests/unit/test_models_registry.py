"""Registry, parameter counts, weight sizes, and the digits classifier."""

from __future__ import annotations

import dataclasses
import io

import pytest
import torch

from genlab.errors import GenlabError
from genlab.models import (
    MODELS,
    ClassifierConfig,
    ConvRepairer,
    CRNNRepairer,
    DigitsClassifier,
    GANPair,
    build,
    count_parameters,
)

TWO_MB = 2 * 1024 * 1024


def _state_bytes(model: torch.nn.Module) -> int:
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.tell()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_default_model_builds_and_fits_in_2mb(name: str) -> None:
    torch.manual_seed(0)
    model = build(name)
    cls, cfg_cls = MODELS[name]
    assert isinstance(model, cls)
    assert isinstance(model.config, cfg_cls)
    n = count_parameters(model)
    assert n == sum(p.numel() for p in model.parameters()) > 0
    # a pair (GANs, pix2pix) is two networks: each must fit
    nets = [model.generator, model.discriminator] if hasattr(model, "discriminator") else [model]
    assert all(_state_bytes(net) < TWO_MB for net in nets)
    # the saved weights load back with weights_only=True
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    fresh = build(name)
    fresh.load_state_dict(torch.load(buf, weights_only=True))


def test_gan_names_build_pairs() -> None:
    for name in ("gan", "dcgan", "cgan"):
        assert isinstance(build(name), GANPair)
    assert build("cgan").config.n_classes == 10
    assert build("dcgan").config.n_classes == 0


def test_build_passes_config_fields() -> None:
    model = build("conv_ae", image_size=28, latent_dim=3)
    assert model.config.image_size == 28 and model.latent_dim == 3
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 1, 28, 28)


def test_build_errors_teach() -> None:
    with pytest.raises(GenlabError, match="valid names: .*conv_repair.*crnn") as info:
        build("resnet")
    assert isinstance(info.value, ValueError)
    with pytest.raises(GenlabError, match="'latent'.*fields are: .*latent_dim"):
        build("vae", latent=4)


def test_repairers_have_the_capacity_the_course_promises() -> None:
    conv, crnn = build("conv_repair"), build("crnn")
    assert isinstance(conv, ConvRepairer) and isinstance(crnn, CRNNRepairer)
    n_conv, n_crnn = count_parameters(conv), count_parameters(crnn)
    assert 100_000 <= n_conv <= 500_000
    assert 0.5 <= n_crnn / n_conv <= 2.0


def test_count_parameters_trainable_only() -> None:
    model = build("classifier")
    total = count_parameters(model)
    for p in model.head.parameters():
        p.requires_grad_(False)
    frozen = sum(p.numel() for p in model.head.parameters())
    assert count_parameters(model, trainable_only=True) == total - frozen


def test_config_classes_are_dataclasses() -> None:
    for _, cfg_cls in MODELS.values():
        assert dataclasses.is_dataclass(cfg_cls)
        cfg_cls()  # defaults are valid


@pytest.mark.parametrize("size", [16, 28, 32])
def test_classifier_features_and_logits(size: int) -> None:
    torch.manual_seed(0)
    model = DigitsClassifier(ClassifierConfig(image_size=size, width=8, feature_dim=24)).eval()
    x = torch.rand(4, 1, size, size)
    f = model.features(x)
    assert f.shape == (4, 24) and (f >= 0).all()
    logits = model(x)
    assert logits.shape == (4, 10)
    torch.testing.assert_close(logits, model.head(f))


def test_classifier_can_fit_a_tiny_batch() -> None:
    # a sanity check that the network can learn: memorise 20 random images in a few steps
    torch.manual_seed(0)
    model = DigitsClassifier(ClassifierConfig(width=8, feature_dim=32, dropout=0.0))
    x, y = torch.rand(20, 1, 16, 16), torch.arange(20) % 10
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    assert (model(x).argmax(1) == y).float().mean() > 0.9
