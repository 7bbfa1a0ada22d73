"""Autoencoders and VAEs: shapes at 16/28/32 px, logits vs images, reparameterisation."""

from __future__ import annotations

import pytest
import torch

from genlab.errors import ShapeError
from genlab.models import (
    MLPVAE,
    AEConfig,
    ConvAutoencoder,
    ConvDecoder,
    ConvEncoder,
    ConvVAE,
    MLPAutoencoder,
    VAEConfig,
    reparameterize,
)

SIZES = [16, 28, 32]


def _images(n: int, c: int, s: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, s, s, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_conv_encoder_decoder_shapes(size: int, channels: int) -> None:
    cfg = AEConfig(image_size=size, channels=channels, latent_dim=8, width=8)
    x = _images(3, channels, size)
    z = ConvEncoder(cfg)(x)
    assert z.shape == (3, 8)
    assert ConvDecoder(cfg)(z).shape == (3, channels, size, size)


@pytest.mark.parametrize("cls", [MLPAutoencoder, ConvAutoencoder])
@pytest.mark.parametrize("size", SIZES)
def test_autoencoders_return_logits_and_reconstruct_images(cls, size: int) -> None:
    torch.manual_seed(0)
    model = cls(AEConfig(image_size=size, latent_dim=4, hidden=32, width=8))
    x = _images(2, 1, size)
    logits = model(x)
    assert logits.shape == x.shape
    assert model.encode(x).shape == (2, 4)
    torch.testing.assert_close(model.reconstruct(x), torch.sigmoid(logits))
    # forward returns logits (no sigmoid inside): shift the last bias and they leave [0, 1]
    last = model.decoder.net[-1] if cls is ConvAutoencoder else model.decoder[-1]
    with torch.no_grad():
        last.bias += 5.0
    assert model(x).min() > 1.0
    assert model.reconstruct(x).max() <= 1.0


def test_autoencoder_rejects_bad_sizes() -> None:
    with pytest.raises(ShapeError, match="divisible by 4"):
        ConvEncoder(AEConfig(image_size=30))
    model = ConvAutoencoder(AEConfig(image_size=16, width=8))
    with pytest.raises(ShapeError, match="16x16"):
        model(torch.rand(2, 1, 28, 28))
    with pytest.raises(ShapeError, match="unsqueeze"):
        model(torch.rand(1, 16, 16))


def test_reparameterize_matches_formula_with_fixed_generator() -> None:
    mu = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    logvar = torch.randn(5, 3, generator=torch.Generator().manual_seed(2))
    z = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(7))
    eps = torch.randn(5, 3, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(z, mu + torch.exp(logvar / 2) * eps)
    assert z.dtype == mu.dtype and z.device == mu.device
    # float64 in, float64 out
    z64 = reparameterize(mu.double(), logvar.double(), generator=torch.Generator().manual_seed(7))
    assert z64.dtype == torch.float64


def test_reparameterize_statistics_and_gradients() -> None:
    n = 200_000
    mu = torch.tensor([1.5, -2.0]).expand(n, 2).clone().requires_grad_(True)
    logvar = torch.log(torch.tensor([0.25, 4.0])).expand(n, 2).clone().requires_grad_(True)
    z = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(z.mean(0), torch.tensor([1.5, -2.0]), atol=0.02, rtol=0)
    torch.testing.assert_close(z.var(0), torch.tensor([0.25, 4.0]), atol=0.0, rtol=0.02)
    z.sum().backward()
    # dz/dmu = 1 for every sample
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))
    # dz/dlogvar = 0.5 * (z - mu)
    torch.testing.assert_close(logvar.grad, 0.5 * (z - mu).detach())


def test_reparameterize_rejects_mismatched_shapes() -> None:
    with pytest.raises(ShapeError, match="same shape"):
        reparameterize(torch.zeros(2, 3), torch.zeros(2, 4))


@pytest.mark.parametrize("cls", [MLPVAE, ConvVAE])
@pytest.mark.parametrize("size", SIZES)
def test_vae_shapes_and_sampling(cls, size: int) -> None:
    torch.manual_seed(0)
    model = cls(VAEConfig(image_size=size, latent_dim=5, hidden=32, width=8))
    x = _images(4, 1, size)
    x_logits, mu, logvar = model(x, generator=torch.Generator().manual_seed(3))
    assert x_logits.shape == x.shape and mu.shape == (4, 5) and logvar.shape == (4, 5)
    assert model.latent_dim == 5
    # forward = decode(reparameterize(encode(x))) with the same noise
    mu2, logvar2 = model.encode(x)
    z = reparameterize(mu2, logvar2, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(x_logits, model.decode(z))
    s = model.sample(6, generator=torch.Generator().manual_seed(0))
    assert s.shape == (6, 1, size, size)
    assert s.min() >= 0 and s.max() <= 1
    s2 = model.sample(6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(s, s2)
    # the sample is sigmoid(decode(z)) with z drawn from the generator
    z = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(s, torch.sigmoid(model.decode(z)))


def test_vae_gradients_reach_encoder_through_sampling() -> None:
    torch.manual_seed(0)
    model = ConvVAE(VAEConfig(latent_dim=4, width=8))
    x_logits, mu, logvar = model(_images(2, 1, 16))
    x_logits.sum().backward()
    first = model.encoder.net[0].weight.grad
    assert first is not None and first.abs().sum() > 0
