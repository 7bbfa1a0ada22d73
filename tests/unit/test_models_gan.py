"""GANs: generator range and shapes, discriminator logits, conditioning, DCGAN init."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genlab.errors import ShapeError
from genlab.models import (
    DCGAN,
    MLPGAN,
    DCGANDiscriminator,
    DCGANGenerator,
    GANConfig,
    MLPDiscriminator,
    MLPGenerator,
)

SIZES = [16, 28, 32]


def _cfg(size: int, n_classes: int = 0, channels: int = 1) -> GANConfig:
    return GANConfig(image_size=size, channels=channels, z_dim=8, width=8, hidden=32,
                     n_classes=n_classes)


@pytest.mark.parametrize("G, D", [(MLPGenerator, MLPDiscriminator),
                                  (DCGANGenerator, DCGANDiscriminator)])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_and_discriminator_shapes(G, D, size: int, channels: int) -> None:
    torch.manual_seed(0)
    cfg = _cfg(size, channels=channels)
    g, d = G(cfg), D(cfg)
    z = torch.randn(5, 8) * 10          # large z: the sigmoid must still hold the range
    x = g(z)
    assert x.shape == (5, channels, size, size)
    assert x.min() >= 0 and x.max() <= 1
    logits = d(x)
    assert logits.shape == (5,)
    assert d(torch.rand(5, channels, size, size)).shape == (5,)


def test_discriminator_returns_logits_not_probabilities() -> None:
    torch.manual_seed(0)
    d = MLPDiscriminator(_cfg(16))
    with torch.no_grad():
        d.net[-1].bias.fill_(4.0)
    assert (d(torch.rand(3, 1, 16, 16)) > 1).all()


@pytest.mark.parametrize("G", [MLPGenerator, DCGANGenerator])
def test_sample_is_reproducible_and_on_range(G) -> None:
    torch.manual_seed(0)
    g = G(_cfg(28)).eval()
    a = g.sample(4, generator=torch.Generator().manual_seed(1))
    b = g.sample(4, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    assert a.shape == (4, 1, 28, 28) and 0 <= a.min() and a.max() <= 1
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, g(z))


@pytest.mark.parametrize("G, D", [(MLPGenerator, MLPDiscriminator),
                                  (DCGANGenerator, DCGANDiscriminator)])
def test_conditional_models_use_labels(G, D) -> None:
    torch.manual_seed(0)
    cfg = _cfg(16, n_classes=10)
    g, d = G(cfg).eval(), D(cfg).eval()
    z = torch.randn(4, 8).repeat(2, 1)                    # same z twice
    y = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7])
    x = g(z, y)
    assert x.shape == (8, 1, 16, 16)
    assert (x[:4] - x[4:]).abs().max() > 1e-4             # output changes with y alone
    torch.testing.assert_close(g(z[:1], y[:1]), x[:1])    # and is a function of (z, y)
    logits = d(x, y)
    assert logits.shape == (8,)
    assert (d(x, y) - d(x, (y + 1) % 10)).abs().max() > 1e-6
    with pytest.raises(ValueError, match="conditional"):
        g(z)
    with pytest.raises(ValueError, match="conditional"):
        d(x)
    with pytest.raises(ShapeError, match="integers"):
        g(z, y.float())
    # sample: None cycles the classes, an int repeats one
    s = g.sample(12, generator=torch.Generator().manual_seed(0))
    assert s.shape == (12, 1, 16, 16)
    z12 = torch.randn(12, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(s, g(z12, torch.arange(12) % 10))
    s3 = g.sample(3, generator=torch.Generator().manual_seed(0), y=7)
    z3 = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(s3, g(z3, torch.full((3,), 7)))


def test_unconditional_models_reject_labels() -> None:
    g = MLPGenerator(_cfg(16))
    with pytest.raises(ValueError, match="unconditional"):
        g(torch.randn(2, 8), torch.tensor([0, 1]))
    with pytest.raises(ShapeError, match=r"\(B, 8\)"):
        g(torch.randn(2, 9))


def test_dcgan_structure_and_init() -> None:
    torch.manual_seed(0)
    cfg = GANConfig(image_size=32, width=64)
    g, d = DCGANGenerator(cfg), DCGANDiscriminator(cfg)
    convs = [m for m in list(g.modules()) + list(d.modules())
             if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    w = torch.cat([m.weight.flatten() for m in convs])
    assert abs(w.mean().item()) < 2e-3
    assert abs(w.std().item() - 0.02) < 1e-3
    bns = [m for m in list(g.modules()) + list(d.modules()) if isinstance(m, nn.BatchNorm2d)]
    bn_w = torch.cat([m.weight for m in bns])
    assert abs(bn_w.mean().item() - 1) < 0.01 and abs(bn_w.std().item() - 0.02) < 0.01
    # G: transposed convs + BN + ReLU; D: LeakyReLU(0.2), no BN right after the first conv, no sigmoid
    assert any(isinstance(m, nn.ConvTranspose2d) for m in g.modules())
    assert any(isinstance(m, nn.ReLU) for m in g.modules())
    leaky = [m for m in d.modules() if isinstance(m, nn.LeakyReLU)]
    assert leaky and all(m.negative_slope == 0.2 for m in leaky)
    assert isinstance(d.features[1], nn.LeakyReLU)
    assert not any(isinstance(m, nn.Sigmoid) for m in d.modules())


@pytest.mark.parametrize("pair", [MLPGAN, DCGAN])
def test_gan_pair_holds_both_networks(pair) -> None:
    torch.manual_seed(0)
    model = pair(_cfg(16))
    keys = model.state_dict().keys()
    assert any(k.startswith("generator.") for k in keys)
    assert any(k.startswith("discriminator.") for k in keys)
    z = torch.randn(2, 8)
    torch.testing.assert_close(model(z), model.generator(z))
    assert model.sample(3).shape == (3, 1, 16, 16)
