"""Lab 01 checks pass on the reference implementations and fail, with their message, on classic mistakes."""

import pytest
import torch
from torch import nn

from genlab.checks import CheckFailed, check_add_noise, check_ConvDecoder, check_ConvEncoder


# --------------------------------------------------------------------------- reference solutions
class Encoder(nn.Module):
    def __init__(self, latent_dim: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 8, 4, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 4, 2, 1), nn.ReLU(),
                                 nn.Flatten(), nn.Linear(16 * 4 * 4, latent_dim))

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, latent_dim: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, 16 * 4 * 4), nn.ReLU(), nn.Unflatten(1, (16, 4, 4)),
                                 nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(8, 1, 4, 2, 1))

    def forward(self, z):
        return self.net(z)


def add_noise(x, sigma):
    return (x + sigma * torch.randn_like(x)).clamp(0, 1)


def test_checks_pass_on_solutions(capsys):
    torch.manual_seed(0)
    assert check_ConvEncoder(Encoder)
    assert check_ConvDecoder(Decoder)
    assert check_add_noise(add_noise)
    assert capsys.readouterr().out.count("all checks passed") == 3


# --------------------------------------------------------------------------- wrong encoders
class EncoderNoLinear(Encoder):  # returns the feature map: (B, 16, 4, 4)
    def forward(self, x):
        return self.net[:4](x)


class EncoderFixedLatent(Encoder):  # ignores latent_dim
    def __init__(self, latent_dim: int = 16):
        super().__init__(16)


class EncoderMixesBatch(Encoder):  # flattens the whole batch into one vector
    def forward(self, x):
        h = self.net[:4](x)
        flat = h.reshape(1, -1).repeat(x.shape[0], 1)[:, : h[0].numel()]
        return self.net[5](flat)


class EncoderMLP(nn.Module):  # no convolution at all
    def __init__(self, latent_dim: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(256, latent_dim))

    def forward(self, x):
        return self.net(x)


class EncoderDetached(Encoder):
    def forward(self, x):
        return self.net(x).detach()


class EncoderNoArgs(Encoder):
    def __init__(self):
        super().__init__(16)


@pytest.mark.parametrize("wrong, words", [
    (EncoderNoLinear, r"expected: shape \(5, 16\)[\s\S]*got:      shape \(5, 16, 4, 4\)"),
    (EncoderFixedLatent, r"shape \(5, 3\)[\s\S]*latent_dim argument"),
    (EncoderMixesBatch, "mixes the batch"),
    (EncoderMLP, "no Conv2d"),
    (EncoderDetached, "no parameter got a gradient"),
    (EncoderNoArgs, "signature"),
    (lambda latent_dim=16: Encoder(latent_dim), "a class"),
])
def test_encoder_check_catches_mistakes(wrong, words):
    with pytest.raises(CheckFailed, match=words):
        check_ConvEncoder(wrong)


# --------------------------------------------------------------------------- wrong decoders
class DecoderSigmoid(Decoder):
    def forward(self, z):
        return torch.sigmoid(self.net(z))


class DecoderFlat(Decoder):  # forgets to reshape back to images
    def forward(self, z):
        return self.net(z).flatten(1)


class DecoderWrongSize(Decoder):  # one upsampling too few: 8x8 images
    def forward(self, z):
        return self.net[:4](z)[:, :1]


class DecoderIgnoresZ(Decoder):
    def forward(self, z):
        return self.net(torch.zeros_like(z))


class DecoderMLP(nn.Module):
    def __init__(self, latent_dim: int = 16):
        super().__init__()
        self.lin = nn.Linear(latent_dim, 256)

    def forward(self, z):
        return self.lin(z).view(-1, 1, 16, 16)


@pytest.mark.parametrize("wrong, words", [
    (DecoderSigmoid, "remove the final sigmoid"),
    (DecoderFlat, r"expected: shape \(6, 1, 16, 16\)[\s\S]*got:      shape \(6, 256\)"),
    (DecoderWrongSize, r"got:      shape \(6, 1, 8, 8\)"),
    (DecoderIgnoresZ, "depend on the code"),
    (DecoderMLP, "no conv layer"),
])
def test_decoder_check_catches_mistakes(wrong, words):
    with pytest.raises(CheckFailed, match=words):
        check_ConvDecoder(wrong)


# --------------------------------------------------------------------------- wrong add_noise
def noise_unclamped(x, sigma):
    return x + sigma * torch.randn_like(x)


def noise_variance_as_std(x, sigma):
    return (x + sigma**2 * torch.randn_like(x)).clamp(0, 1)


def noise_sqrt_sigma(x, sigma):
    return (x + sigma**0.5 * torch.randn_like(x)).clamp(0, 1)


def noise_uniform(x, sigma):
    return (x + sigma * torch.rand_like(x)).clamp(0, 1)


def noise_uniform_centred(x, sigma):  # right mean and std, wrong shape of distribution
    return (x + sigma * 3**0.5 * (2 * torch.rand_like(x) - 1)).clamp(0, 1)


def noise_shared(x, sigma):
    return (x + sigma * torch.randn_like(x[:1])).clamp(0, 1)


def noise_inplace(x, sigma):
    return x.add_(sigma * torch.randn_like(x)).clamp_(0, 1)


def noise_reseeded(x, sigma):
    g = torch.Generator().manual_seed(0)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def noise_clamp_first(x, sigma):
    return x.clamp(0, 1) + sigma * torch.randn_like(x)


@pytest.mark.parametrize("wrong, words", [
    (noise_unclamped, "clamped to"),
    (noise_clamp_first, "clamped to"),
    (noise_variance_as_std, "standard deviation"),
    (noise_sqrt_sigma, "standard deviation"),
    (noise_uniform, "zero-mean"),
    (noise_uniform_centred, "Gaussian"),
    (noise_shared, "independent noise"),
    (noise_inplace, "in place"),
    (noise_reseeded, "fresh noise"),
])
def test_add_noise_check_catches_mistakes(wrong, words):
    torch.manual_seed(1)
    with pytest.raises(CheckFailed, match=words):
        check_add_noise(wrong)


def test_unimplemented_class_is_reported_clearly():
    class Todo(nn.Module):
        def __init__(self, latent_dim: int = 16):
            super().__init__()
            raise NotImplementedError("write me")

    with pytest.raises(CheckFailed, match="not implemented yet"):
        check_ConvEncoder(Todo)
