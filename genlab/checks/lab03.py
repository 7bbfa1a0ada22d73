"""Checks for lab 03, built from the exercise entries of :mod:`genlab.exercises.lab03`."""

from __future__ import annotations

from ._core import check_for as _check_for

__all__ = ["check_discriminator_loss", "check_generator_loss", "check_js_divergence", "check_optimal_discriminator"]

check_discriminator_loss = _check_for("03", "discriminator_loss")
check_generator_loss = _check_for("03", "generator_loss")
check_optimal_discriminator = _check_for("03", "optimal_discriminator")
check_js_divergence = _check_for("03", "js_divergence")
