"""Lab 04 checks pass on the solution and catch the classic DCGAN / training-step mistakes."""

import torch
from torch import nn

from genlab import losses
from genlab.checks import check_Discriminator, check_gan_training_step, check_Generator


class Gen(nn.Module):
    def __init__(self, z_dim=32, width=8, out="sigmoid", flat=False):
        super().__init__()
        self.z_dim, self.out, self.flat = z_dim, out, flat
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z_dim, 2 * width, 4, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, 2, 1))

    def forward(self, z):
        x = self.net(z[:, :, None, None])
        x = torch.sigmoid(x) if self.out == "sigmoid" else torch.tanh(x)
        return x.flatten(1) if self.flat else x


class Disc(nn.Module):
    def __init__(self, width=8, keep_dim=False, sigmoid=False):
        super().__init__()
        layers = [nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),
                  nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(2 * width, 1, 4)]
        if sigmoid:
            layers.append(nn.Sigmoid())
        self.net = nn.Sequential(*layers)
        self.keep_dim = keep_dim

    def forward(self, x):
        out = self.net(x).flatten(1)
        return out if self.keep_dim else out.squeeze(1)


def good_step(G, D, opt_g, opt_d, real, z, *, swap=False, detach=True, saturating=False, g_detached=False,
              no_zero=False):
    fake = G(z)
    d_in = fake.detach() if detach else fake
    loss_d = (losses.discriminator_loss(D(d_in), D(real)) if swap
              else losses.discriminator_loss(D(real), D(d_in)))
    if not no_zero:
        opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = losses.generator_loss(D(fake.detach() if g_detached else fake), non_saturating=not saturating)
    opt_g.zero_grad()
    if loss_g.requires_grad:
        loss_g.backward()
    opt_g.step()
    return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}


def test_checks_pass_on_solutions(capsys):
    assert check_Generator(Gen)
    assert check_Discriminator(Disc)
    assert check_gan_training_step(good_step)
    assert capsys.readouterr().out.count("all checks passed") == 3




def test_stretch_hinge_losses_pass_on_the_reference_and_name_extreme_mistakes(capsys):
    import pytest
    import torch.nn.functional as F

    from genlab.checks import (
        CheckFailed,
        check_hinge_discriminator_loss,
        check_hinge_generator_loss,
    )
    from genlab.exercises.lab04 import hinge_discriminator_loss, hinge_generator_loss

    assert check_hinge_discriminator_loss(hinge_discriminator_loss)
    assert check_hinge_generator_loss(hinge_generator_loss)
    assert capsys.readouterr().out.count("all checks passed") == 2
    with pytest.raises(CheckFailed, match="values differ"):  # no hinge: +30 on a real image costs -29
        check_hinge_discriminator_loss(lambda r, f: (1 - r).mean() + (1 + f).mean())
    with pytest.raises(CheckFailed):
        check_hinge_generator_loss(lambda f: F.relu(1 - f).mean())
