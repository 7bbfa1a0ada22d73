"""Grading spec of lab 01 (autoencoders): add_noise, ConvEncoder, ConvDecoder (by behaviour).

The modules are graded on what they do, not on their exact layers: the
encoder maps ``(B, 1, 16, 16)`` images to ``(B, d)`` codes with convolutions,
the decoder maps codes back to ``(B, 1, 16, 16)`` logits, gradients reach the
parameters and a few optimiser steps reduce a loss.
"""

from __future__ import annotations

import math

import torch

from ..spec import Call, Case, Item, LabSpec, rand

IMAGE = (8, 1, 16, 16)
#: add_noise cases with at least this sigma test the clamp to [0, 1] (the others test the statistics).
CLAMP_SIGMA = 0.4


def _noise_case(sigma: float, level: float | None = 0.5):
    def make(g: torch.Generator) -> Call:
        x = torch.full((64, 1, 16, 16), level) if level is not None else rand(g, *IMAGE)
        return Call([x, sigma])
    return make


def _check_add_noise(call: Call, out: dict, ref) -> str | None:  # noqa: ARG001
    x, sigma = call.args
    y = out.get("out")
    if y is None:
        return "no tensor output"
    if tuple(y.shape) != tuple(x.shape):
        return f"shape {tuple(y.shape)}, expected the shape of x {tuple(x.shape)}"
    if sigma >= CLAMP_SIGMA:  # the clamp case: large noise on images in [0, 1]
        if y.min() < 0 or y.max() > 1:
            return f"values in [{float(y.min()):.3g}, {float(y.max()):.3g}]: clamp the noisy images to [0, 1]"
        if not (bool((y == 0).any()) and bool((y == 1).any())):
            return "no pixel is exactly 0 or 1 with this much noise: clamp (x + noise).clamp(0, 1), do not rescale"
        return None
    noise = (y.double() - x.double()).flatten()
    if sigma == 0:
        return None if noise.abs().max() < 1e-6 else "with sigma = 0 the images must come back unchanged"
    n = noise.numel()
    if abs(float(noise.mean())) > 6 * sigma / math.sqrt(n):
        return f"the noise has mean {float(noise.mean()):.3g}, expected 0 (zero-mean Gaussian noise)"
    if abs(float(noise.std()) / sigma - 1) > 0.1:
        return f"the noise has standard deviation {float(noise.std()):.3g}, expected sigma = {sigma}"
    again = out.get("out#1")
    if again is not None and torch.equal(again, y):
        return "two calls gave the same noise: draw it fresh (torch.randn_like(x))"
    return None


def _images(g: torch.Generator) -> Call:
    return Call([rand(g, *IMAGE)])


def _check_module(kind: str):
    def check(call: Call, out: dict, ref) -> str | None:  # noqa: ARG001
        x = call.args[0]
        y = out.get("out")
        if int(out.get("is_reference", torch.tensor(0))):
            return f"the {kind} is (or contains) genlab's reference module: write your own layers"
        if y is None:
            return "the forward pass returned no tensor"
        if kind == "encoder":
            if y.dim() != 2 or y.shape[0] != x.shape[0]:
                return f"codes of shape {tuple(y.shape)}, expected (B, latent_dim) with B = {x.shape[0]}"
        elif tuple(y.shape) != tuple(x.shape):
            return f"output of shape {tuple(y.shape)}, expected the image shape {tuple(x.shape)}"
        if not torch.isfinite(y).all():
            return "NaN or inf in the output"
        if int(out.get("n_conv", torch.tensor(0))) < 1:
            return f"no Conv2d/ConvTranspose2d layer: the {kind} must be convolutional"
        if int(out.get("n_params_grad", torch.tensor(0))) < 1:
            return "no parameter receives a gradient: is the output connected to the layers?"
        losses = out.get("losses")
        if losses is None or not bool(losses[-1] < 0.8 * losses[0]):
            return "a few Adam steps on a fixed batch did not reduce the loss: the module does not train"
        return None
    return check


SPEC = LabSpec(
    lab="01_autoencoders",
    title="Autoencoders",
    items=[
        Item(
            name="ConvEncoder", points=3,
            reference="genlab.models.autoencoder.ConvEncoder",
            compare="custom", check=_check_module("encoder"),
            cases=[Case("public-1", _images, driver="module", options={"steps": 30, "seed": 0})],
            expected="an nn.Module built from convolutions: (B, 1, 16, 16) images -> (B, latent_dim) codes, "
                     "trainable.",
            hint="stride-2 Conv2d layers halve the size; flatten and end with nn.Linear to latent_dim.",
        ),
        Item(
            name="ConvDecoder", points=3,
            reference="genlab.models.autoencoder.ConvDecoder",
            compare="custom", check=_check_module("decoder"),
            cases=[Case("public-1", _images, driver="module",
                        options={"steps": 30, "seed": 0, "latent": True})],
            expected="an nn.Module: (B, latent_dim) codes -> (B, 1, 16, 16) logits, with transposed "
                     "convolutions (or upsampling + conv), trainable.",
            hint="mirror the encoder: nn.Linear, nn.Unflatten, then ConvTranspose2d(k=4, s=2, p=1) layers.",
        ),
        Item(
            name="add_noise", points=2,
            reference="genlab.masks.gaussian_noise",
            compare="custom", check=_check_add_noise,
            cases=[
                Case("public-1", _noise_case(0.1), options={"seed": 7, "repeat": 2}),
                Case("public-zero", _noise_case(0.0, None), options={"seed": 3}),
                Case("public-clamp", _noise_case(0.5, None), options={"seed": 5}),
                Case("held-1", _noise_case(0.05, 0.4), public=False, options={"seed": 11, "repeat": 2}),
            ],
            expected="clamp(x + sigma * eps, 0, 1) with eps ~ N(0, I) drawn fresh, shaped like x.",
            hint="use (x + sigma * torch.randn_like(x)).clamp(0, 1); not uniform noise, not x times the noise.",
        ),
    ],
)
