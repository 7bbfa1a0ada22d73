"""Grading spec of lab 04 (GANs on images): Generator, Discriminator, gan_training_step, by behaviour.

The DCGAN blocks are graded on what they do (shapes, output range, use of the
code, convolutions, trainable), not on their exact layers. The training step
runs on tiny seeded networks with SGD (see :func:`genlab.grading.scenarios.gan_step`)
and must move both networks exactly as the reference step does: D with real
-> 1 and detached fakes -> 0, then G through the updated D with the
non-saturating loss.
"""

from __future__ import annotations

import torch

from ..scenarios import ref_gan_training_step
from ..spec import Call, Item, LabSpec, scenario_case, scenario_check

_FORBID_G = ("genlab.models.gan.DCGANGenerator", "genlab.models.gan._GeneratorBase")
_FORBID_D = ("genlab.models.gan.DCGANDiscriminator",)


def _common(out: dict, kind: str) -> str | None:
    if int(out.get("is_reference", torch.tensor(0))):
        return f"the {kind} is (or contains) genlab's DCGAN module: write your own layers"
    return None


def _check_generator(call: Call, out: dict, ref) -> str | None:  # noqa: ARG001
    _, batch, z_dim = call.args
    why = _common(out, "generator")
    if why:
        return why
    shape = tuple(out["shape"].tolist()) if "shape" in out else None
    if shape != (batch, 1, 16, 16):
        return f"Generator(z_dim={z_dim}) on z of shape ({batch}, {z_dim}) gave {shape}, expected ({batch}, 1, 16, 16)"
    lo, hi = out["range"].tolist()
    if lo < 0 or hi > 1:
        return f"images in [{lo:.3g}, {hi:.3g}], expected [0, 1]: end with torch.sigmoid (not tanh, not nothing)"
    if not int(out.get("depends_on_z", torch.tensor(0))):
        return "the images do not depend on z"
    if int(out.get("n_conv_transpose", torch.tensor(0))) < 1:
        return "no ConvTranspose2d layer: a DCGAN generator upsamples with transposed convolutions"
    losses = out.get("losses")
    if losses is None or not bool(torch.isfinite(losses).all()) or not bool(losses[-1] < losses[0]):
        return "a few Adam steps did not reduce a loss: the generator does not train"
    return None


def _check_discriminator(call: Call, out: dict, ref) -> str | None:  # noqa: ARG001
    _, batch = call.args
    why = _common(out, "discriminator")
    if why:
        return why
    shape = tuple(out["shape"].tolist()) if "shape" in out else None
    if shape != (batch,):
        return f"images ({batch}, 1, 16, 16) gave logits of shape {shape}, expected ({batch},): flatten with .view(-1)"
    if int(out.get("n_conv", torch.tensor(0))) < 1:
        return "no Conv2d layer: a DCGAN discriminator downsamples with strided convolutions"
    losses = out.get("losses")
    if losses is None or not bool(torch.isfinite(losses).all()) or not bool(losses[-1] < 0.9 * losses[0]):
        return "a few Adam steps did not reduce a loss: the discriminator does not train"
    lo, hi = out["range"].tolist()
    if lo >= 0 and hi <= 1:
        return "the outputs stay in [0, 1] even when trained towards large logits: return logits, no sigmoid"
    return None


_STEP_MESSAGES = {
    "d_step_leaks_into_G": "D's loss put gradients into G: detach the fakes for the D step, D(fake.detach())",
    "G_moved_by_D_step": "G's weights changed before or during the D step: update D first, with opt_d only",
    "one_D_step_then_one_G_step": "expected exactly one opt_d.step() then one opt_g.step() per call",
    "D_weights": "D's weights after the step differ from one SGD step on BCE(D(real), 1) + BCE(D(fake), 0) "
                 "(labels swapped? sum instead of mean?)",
    "G_weights": "G's weights after the step differ from one step on the non-saturating loss "
                 "-log D(G(z)) through the updated D (saturating loss? not updated? old D?)",
    "loss_d": "the returned loss_d is not D's loss before its step",
    "loss_g": "the returned loss_g is not G's non-saturating loss",
}

SPEC = LabSpec(
    lab="04_gans_on_images",
    title="GANs on images",
    items=[
        Item(
            name="Generator", points=3, also_forbidden=_FORBID_G,
            compare="custom", check=_check_generator,
            cases=[scenario_case("public-1", "dcgan_generator", [0, 6, 8]),
                   scenario_case("held-1", "dcgan_generator", [3, 5, 12], public=False)],
            expected="an nn.Module Generator(z_dim, width): z (B, z_dim) -> images (B, 1, 16, 16) in [0, 1], "
                     "with transposed convolutions, trainable.",
            hint="reshape z to (B, z_dim, 1, 1); ConvTranspose2d 1 -> 4 -> 8 -> 16; end with torch.sigmoid.",
        ),
        Item(
            name="Discriminator", points=3, also_forbidden=_FORBID_D,
            compare="custom", check=_check_discriminator,
            cases=[scenario_case("public-1", "dcgan_discriminator", [0, 6]),
                   scenario_case("held-1", "dcgan_discriminator", [4, 5], public=False)],
            expected="an nn.Module Discriminator(width): images (B, 1, 16, 16) -> logits (B,), with strided "
                     "convolutions, no sigmoid, trainable.",
            hint="Conv2d 16 -> 8 -> 4 -> 1 with LeakyReLU; flatten the (B, 1, 1, 1) output with .view(-1).",
        ),
        Item(
            name="gan_training_step", points=4,
            also_forbidden=("genlab.checks.lab04._variant_step",),
            compare="custom",
            check=scenario_check("gan_step", ref_gan_training_step, _STEP_MESSAGES, rtol=1e-4, atol=1e-5),
            cases=[scenario_case("public-1", "gan_step", [0, 8]),
                   scenario_case("held-1", "gan_step", [5, 6], public=False)],
            expected="one D step (real -> 1, detached fakes -> 0), then one G step through the updated D with "
                     "the non-saturating loss; returns {'loss_d': float, 'loss_g': float}.",
            hint="D(fake.detach()) in the D step; in the G step BCE(D(fake), ones); zero_grad before each backward.",
        ),
    ],
)
