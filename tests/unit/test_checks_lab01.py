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


# --------------------------------------------------------------------------- wrong decoders


# --------------------------------------------------------------------------- wrong add_noise


def test_unimplemented_class_is_reported_clearly():
    class Todo(nn.Module):
        def __init__(self, latent_dim: int = 16):
            super().__init__()
            raise NotImplementedError("write me")

    with pytest.raises(CheckFailed, match="not implemented yet"):
        check_ConvEncoder(Todo)


def test_interpolate_codes_check_accepts_a_lerp_and_names_a_missing_end(capsys):
    from genlab.checks import check_interpolate_codes

    assert check_interpolate_codes(lambda a, b, n: torch.lerp(a, b, torch.linspace(0, 1, n, dtype=a.dtype, device=a.device)[:, None]))
    assert "all checks passed" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="both ends"):
        check_interpolate_codes(lambda a, b, n: a + (b - a) * (torch.arange(n, dtype=a.dtype)[:, None] / n))
