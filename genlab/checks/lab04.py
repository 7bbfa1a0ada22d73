"""Checks for lab 04, built from the exercise entries of :mod:`genlab.exercises.lab04`."""

from __future__ import annotations

from ._core import check_for as _check_for

__all__ = ["check_Discriminator", "check_Generator", "check_gan_training_step", "check_hinge_discriminator_loss",
           "check_hinge_generator_loss"]

check_Generator = _check_for("04", "Generator")
check_Discriminator = _check_for("04", "Discriminator")
check_gan_training_step = _check_for("04", "gan_training_step")
check_hinge_discriminator_loss = _check_for("04", "hinge_discriminator_loss")
check_hinge_generator_loss = _check_for("04", "hinge_generator_loss")
